package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// jsonHubProtocol is the JSON hub protocol: one JSON object per record, each record ended by 0x1E.
type jsonHubProtocol struct{}

var _ HubProtocol = (*jsonHubProtocol)(nil)

var jsonProtocol = &jsonHubProtocol{}

// JSON returns the JSON hub protocol ("json", version 1, text). It is a stateless singleton, safe for
// concurrent use.
func JSON() HubProtocol { return jsonProtocol }

// Name implements HubProtocol.
func (*jsonHubProtocol) Name() string { return "json" }

// Version implements HubProtocol.
func (*jsonHubProtocol) Version() int { return 1 }

// Binary implements HubProtocol.
func (*jsonHubProtocol) Binary() bool { return false }

// ParseMessages implements HubProtocol. On error it returns the messages of the records before the
// bad one and the bytes those records took.
func (*jsonHubProtocol) ParseMessages(data []byte, maxSize int, dst []Message) ([]Message, int, error) {
	off := 0
	for off < len(data) {
		rest := data[off:]
		window := rest
		if maxSize > 0 && len(window)-1 > maxSize { // not maxSize+1, which may overflow
			window = window[:maxSize+1] // fits: maxSize < len(window)
		}
		end := bytes.IndexByte(window, RecordSeparator)
		if end < 0 {
			if maxSize > 0 && len(rest) > maxSize {
				return dst, off, ErrMessageTooLarge
			}
			break // a partial record: wait for more bytes
		}
		m, err := parseJSONRecord(rest[:end])
		if err != nil {
			return dst, off, err
		}
		off += end + 1
		if m != nil {
			dst = append(dst, m)
		}
	}
	return dst, off, nil
}

// jsonFields holds the raw values of the properties a hub message may have; nil means absent.
type jsonFields struct {
	typ, headers, invocationID, target, arguments, streamIDs []byte
	item, result, errorText, allowReconnect, sequenceID      []byte
}

func (f *jsonFields) set(key, val []byte) {
	name := key[1 : len(key)-1]
	if bytes.IndexByte(name, '\\') >= 0 {
		name = []byte(jsonKey(key))
	}
	switch string(name) { // property names are case-sensitive
	case "type":
		f.typ = val
	case "headers":
		f.headers = val
	case "invocationId":
		f.invocationID = val
	case "target":
		f.target = val
	case "arguments":
		f.arguments = val
	case "streamIds":
		f.streamIDs = val
	case "item":
		f.item = val
	case "result":
		f.result = val
	case "error":
		f.errorText = val
	case "allowReconnect":
		f.allowReconnect = val
	case "sequenceId":
		f.sequenceID = val
	}
}

// parseJSONRecord parses one record (without its separator). Unknown message types give nil, nil.
func parseJSONRecord(rec []byte) (Message, error) {
	obj, err := jsonObject(rec)
	if err != nil {
		return nil, err
	}
	var f jsonFields
	_ = jsonWalkObject(obj, func(key, val []byte) error {
		f.set(key, val)
		return nil
	})
	t, err := jsonInt(f.typ, "type")
	if err != nil {
		return nil, err
	}
	switch MessageType(t) {
	case TypeInvocation:
		return jsonInvocation(&f)
	case TypeStreamInvocation:
		return jsonStreamInvocation(&f)
	case TypeStreamItem:
		return jsonStreamItem(&f)
	case TypeCompletion:
		return jsonCompletion(&f)
	case TypeCancelInvocation:
		return jsonCancelInvocation(&f)
	case TypePing:
		return &Ping{}, nil
	case TypeClose:
		return jsonClose(&f)
	case TypeAck:
		n, err := jsonInt(f.sequenceID, "sequenceId")
		if err != nil {
			return nil, err
		}
		return &Ack{SequenceID: n}, nil
	case TypeSequence:
		n, err := jsonInt(f.sequenceID, "sequenceId")
		if err != nil {
			return nil, err
		}
		return &Sequence{SequenceID: n}, nil
	}
	return nil, nil // a newer message type: skipped, as the official clients do
}

func jsonInvocation(f *jsonFields) (Message, error) {
	var m Invocation
	err := jsonInvocationFields(f, jsonOptString, &m.Headers, &m.InvocationID, &m.Target, &m.Arguments, &m.StreamIDs)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func jsonStreamInvocation(f *jsonFields) (Message, error) {
	var m StreamInvocation
	err := jsonInvocationFields(f, jsonNonEmptyString, &m.Headers, &m.InvocationID, &m.Target, &m.Arguments, &m.StreamIDs)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// jsonInvocationFields reads the fields Invocation and StreamInvocation share; they differ only in
// whether the invocation id may be absent (fire-and-forget).
func jsonInvocationFields(f *jsonFields, readID func([]byte, string) (string, error), headers *map[string]string, id, target *string, args *[]any, streamIDs *[]string) error {
	var err error
	if *headers, err = jsonHeaders(f.headers); err != nil {
		return err
	}
	if *id, err = readID(f.invocationID, "invocationId"); err != nil {
		return err
	}
	if *target, err = jsonString(f.target, "target"); err != nil {
		return err
	}
	if *args, err = jsonArguments(f.arguments); err != nil {
		return err
	}
	*streamIDs, err = jsonStreamIDs(f.streamIDs)
	return err
}

func jsonStreamItem(f *jsonFields) (Message, error) {
	var m StreamItem
	var err error
	if m.Headers, err = jsonHeaders(f.headers); err != nil {
		return nil, err
	}
	if m.InvocationID, err = jsonNonEmptyString(f.invocationID, "invocationId"); err != nil {
		return nil, err
	}
	if f.item == nil {
		return nil, errMissing("item")
	}
	m.Item = jsonRaw(f.item)
	return &m, nil
}

func jsonCompletion(f *jsonFields) (Message, error) {
	var m Completion
	var err error
	if m.Headers, err = jsonHeaders(f.headers); err != nil {
		return nil, err
	}
	if m.InvocationID, err = jsonNonEmptyString(f.invocationID, "invocationId"); err != nil {
		return nil, err
	}
	if m.Error, err = jsonOptString(f.errorText, "error"); err != nil {
		return nil, err
	}
	// The error wins over a result, as in the .NET server; dropping the result keeps the message
	// the same after a round trip.
	if m.Error == "" && f.result != nil {
		m.HasResult = true
		m.Result = jsonRaw(f.result)
	}
	return &m, nil
}

func jsonCancelInvocation(f *jsonFields) (Message, error) {
	var m CancelInvocation
	var err error
	if m.Headers, err = jsonHeaders(f.headers); err != nil {
		return nil, err
	}
	if m.InvocationID, err = jsonNonEmptyString(f.invocationID, "invocationId"); err != nil {
		return nil, err
	}
	return &m, nil
}

func jsonClose(f *jsonFields) (Message, error) {
	var m Close
	var err error
	if m.Error, err = jsonOptString(f.errorText, "error"); err != nil {
		return nil, err
	}
	if m.AllowReconnect, err = jsonOptBool(f.allowReconnect, "allowReconnect"); err != nil {
		return nil, err
	}
	return &m, nil
}

// Unmarshal implements HubProtocol with encoding/json; numbers in `any` targets become float64.
// A *RawValue target receives a copy of raw.
func (*jsonHubProtocol) Unmarshal(raw RawValue, v any) error {
	if p, ok := v.(*RawValue); ok {
		*p = bytes.Clone(raw)
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("protocol: decode JSON value: %w", err)
	}
	return nil
}
