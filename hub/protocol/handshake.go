package protocol

import (
	"bytes"
	"strconv"

	"github.com/heraldhq/herald/internal/jsonx"
)

// The handshake is the first record each way, always JSON text ended by 0x1E, whatever hub protocol
// the client asks for. More records may follow it in the same buffer.

// ParseHandshakeRequest parses the client's handshake record at the start of data. It returns the
// request and the bytes it took (separator included). ErrIncomplete means no separator yet;
// ErrMessageTooLarge means none within maxSize+1 bytes (when maxSize > 0). Malformed JSON, a missing
// protocol or a missing version give an *Error.
func ParseHandshakeRequest(data []byte, maxSize int) (HandshakeRequest, int, error) {
	window := data
	if maxSize > 0 && len(window)-1 > maxSize { // not maxSize+1, which may overflow
		window = window[:maxSize+1] // fits: maxSize < len(window)
	}
	end := bytes.IndexByte(window, RecordSeparator)
	if end < 0 {
		if maxSize > 0 && len(data) > maxSize {
			return HandshakeRequest{}, 0, ErrMessageTooLarge
		}
		return HandshakeRequest{}, 0, ErrIncomplete
	}
	obj, err := jsonObject(data[:end])
	if err != nil {
		return HandshakeRequest{}, 0, err
	}
	var protocol, version []byte
	_ = jsonWalkObject(obj, func(key, val []byte) error {
		switch jsonKey(key) {
		case "protocol":
			protocol = val
		case "version":
			version = val
		}
		return nil
	})
	var req HandshakeRequest
	if req.Protocol, err = jsonString(protocol, "protocol"); err != nil {
		return HandshakeRequest{}, 0, err
	}
	v, err := jsonInt(version, "version")
	if err != nil {
		return HandshakeRequest{}, 0, err
	}
	if v < 0 || v > 1<<31-1 {
		return HandshakeRequest{}, 0, &Error{Msg: "Property 'version' is out of range."}
	}
	req.Version = int(v)
	return req, end + 1, nil
}

// AppendHandshakeRequest appends the client's handshake record for req.
func AppendHandshakeRequest(dst []byte, req HandshakeRequest) []byte {
	dst = append(dst, `{"protocol":`...)
	dst = jsonx.AppendString(dst, req.Protocol)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(req.Version), 10)
	return append(dst, '}', RecordSeparator)
}

// AppendHandshakeResponse appends the server's handshake record: `{}` when errMsg is empty, else
// `{"error":errMsg}`.
func AppendHandshakeResponse(dst []byte, errMsg string) []byte {
	if errMsg == "" {
		return append(dst, '{', '}', RecordSeparator)
	}
	dst = append(dst, `{"error":`...)
	dst = jsonx.AppendString(dst, errMsg)
	return append(dst, '}', RecordSeparator)
}

// ParseHandshakeResponse parses the server's handshake record at the start of data, for clients. It
// returns the server's error message (empty on success) and the bytes the record took; more records
// may follow. ErrIncomplete means no separator yet. A record that is not a JSON object, or that has a
// "type" property (a hub message, not a handshake response), gives an *Error.
func ParseHandshakeResponse(data []byte) (errMsg string, consumed int, err error) {
	end := bytes.IndexByte(data, RecordSeparator)
	if end < 0 {
		return "", 0, ErrIncomplete
	}
	obj, err := jsonObject(data[:end])
	if err != nil {
		return "", 0, err
	}
	var errText []byte
	hasType := false
	_ = jsonWalkObject(obj, func(key, val []byte) error {
		switch jsonKey(key) {
		case "error":
			errText = val
		case "type":
			hasType = true
		}
		return nil
	})
	if hasType {
		return "", 0, &Error{Msg: "Expected a handshake response from the server."}
	}
	if errMsg, err = jsonOptString(errText, "error"); err != nil {
		return "", 0, err
	}
	return errMsg, end + 1, nil
}
