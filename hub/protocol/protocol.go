package protocol

import (
	"bytes"
	"errors"
	"strings"
)

// RecordSeparator ends every JSON record and the handshake.
const RecordSeparator = 0x1E

// DefaultMaxMessageSize is the default bound on one received record, as in the .NET server (32 KB).
const DefaultMaxMessageSize = 32 * 1024

var (
	// ErrIncomplete means the data ends inside a record; the caller should wait for more bytes.
	ErrIncomplete = errors.New("protocol: incomplete record")
	// ErrMessageTooLarge means one record is larger than the configured maximum.
	ErrMessageTooLarge = errors.New("protocol: message exceeds the maximum size")
)

// Error is a malformed-input error. Its text is safe to send to the peer.
type Error struct {
	Msg string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// HubProtocol encodes and decodes hub messages for one wire format. Implementations are safe for
// concurrent use.
type HubProtocol interface {
	// Name is the name used in the handshake: "json" or "messagepack".
	Name() string
	// Version is the protocol version this implementation speaks.
	Version() int
	// Binary reports whether records are binary (WebSocket binary frames; no SSE).
	Binary() bool
	// ParseMessages parses the complete records at the start of data and appends them to dst.
	// It returns the messages and the number of bytes consumed. A trailing incomplete record is left
	// unconsumed (no error). A record larger than maxSize (when maxSize > 0) yields ErrMessageTooLarge
	// without allocating for it. Malformed input yields an *Error. Unknown message types are skipped.
	// RawValues in the result alias data only if the implementation says so; the JSON and MessagePack
	// implementations copy, so data may be reused after the call.
	ParseMessages(data []byte, maxSize int, dst []Message) ([]Message, int, error)
	// AppendMessage appends the framed encoding of m (including separator or length prefix) to dst.
	AppendMessage(dst []byte, m Message) ([]byte, error)
	// Unmarshal decodes a RawValue produced by this protocol's parser into v (a pointer).
	Unmarshal(raw RawValue, v any) error
}

// HandshakeRequest is the client's first record.
type HandshakeRequest struct {
	Protocol string `json:"protocol"`
	Version  int    `json:"version"`
}

// ByName returns the built-in protocol with that handshake name (case-insensitive), or nil.
func ByName(name string) HubProtocol {
	switch strings.ToLower(name) {
	case "json":
		return JSON()
	case "messagepack":
		return MessagePack()
	}
	return nil
}

// RecordLength is the length of the first complete record of data in p's framing (separator or
// length prefix included), or 0 when data does not start with a complete, well-framed record. It
// does not parse the record.
func RecordLength(p HubProtocol, data []byte) int {
	if !p.Binary() {
		return bytes.IndexByte(data, RecordSeparator) + 1
	}
	length, n, err := mpReadLengthPrefix(data)
	if err != nil || n == 0 || length > uint64(len(data)-n) {
		return 0
	}
	return n + int(length)
}
