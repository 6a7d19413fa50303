package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// messagePackProtocol is the MessagePack hub protocol: one MessagePack array per record, each record
// prefixed with its length as a varint.
type messagePackProtocol struct{}

var _ HubProtocol = (*messagePackProtocol)(nil)

var messagePackHubProtocol = &messagePackProtocol{}

// MessagePack returns the MessagePack hub protocol ("messagepack", version 1, binary). It is a
// stateless singleton, safe for concurrent use.
func MessagePack() HubProtocol { return messagePackHubProtocol }

// Name implements HubProtocol.
func (*messagePackProtocol) Name() string { return "messagepack" }

// Version implements HubProtocol.
func (*messagePackProtocol) Version() int { return 1 }

// Binary implements HubProtocol.
func (*messagePackProtocol) Binary() bool { return true }

// ParseMessages implements HubProtocol. On error it returns the messages of the records before the
// bad one and the bytes those records took.
func (*messagePackProtocol) ParseMessages(data []byte, maxSize int, dst []Message) ([]Message, int, error) {
	off := 0
	for off < len(data) {
		length, n, err := mpReadLengthPrefix(data[off:])
		if err != nil {
			return dst, off, err
		}
		if n == 0 {
			break // the prefix itself is incomplete
		}
		if maxSize > 0 && length > uint64(maxSize) {
			return dst, off, ErrMessageTooLarge
		}
		if length > uint64(len(data)-off-n) {
			break // a partial record: wait for more bytes
		}
		body := data[off+n : off+n+int(length)]
		m, err := parseMsgpackRecord(body)
		if err != nil {
			return dst, off, err
		}
		off += n + int(length)
		if m != nil {
			dst = append(dst, m)
		}
	}
	return dst, off, nil
}

// mpReadLengthPrefix reads the varint length prefix of a record: 7 bits a byte, low group first, high
// bit set when more bytes follow, at most 5 bytes and 32 bits. n is 0 when b ends inside the prefix.
func mpReadLengthPrefix(b []byte) (length uint64, n int, err error) {
	for i := range 5 {
		if i >= len(b) {
			return 0, 0, nil
		}
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, 0, mpErrf("Invalid MessagePack length prefix: more than 5 bytes or more than 32 bits.")
		}
		length |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return length, i + 1, nil
		}
	}
	panic("unreachable") // the fifth byte either ends the prefix or fails the check above
}

// parseMsgpackRecord parses one record body. Unknown message types give nil, nil.
func parseMsgpackRecord(body []byte) (Message, error) {
	if len(body) == 0 {
		return nil, mpErrf("Invalid payload: empty MessagePack record.")
	}
	r := mpReader{b: body}
	n, err := r.containerLen("message", false, false)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, mpErrf("Invalid payload: empty message array.")
	}
	t, err := r.integer("messageType")
	if err != nil {
		return nil, err
	}
	var m Message
	used := 1
	switch MessageType(t) {
	case TypeInvocation, TypeStreamInvocation:
		m, used, err = mpCall(&r, MessageType(t), n)
	case TypeStreamItem:
		m, used, err = mpStreamItem(&r, n)
	case TypeCompletion:
		m, used, err = mpCompletion(&r, n)
	case TypeCancelInvocation:
		m, used, err = mpCancelInvocation(&r, n)
	case TypePing:
		m = &Ping{}
	case TypeClose:
		m, used, err = mpClose(&r, n)
	case TypeAck, TypeSequence:
		m, used, err = mpSequenceID(&r, MessageType(t), n)
	default:
		return nil, nil // a newer message type: skipped, as the official clients do
	}
	if err != nil {
		return nil, err
	}
	// Newer protocol versions may add elements at the end: skip them.
	if err := r.skipElems(n-used, 0); err != nil {
		return nil, err
	}
	if r.off != len(body) {
		return nil, mpErrf("Invalid payload: %d unexpected bytes after the message.", len(body)-r.off)
	}
	return m, nil
}

func errTooShort(t MessageType, want, got int) error {
	return mpErrf("Invalid payload for %s message: expected at least %d elements, got %d.", t, want, got)
}

// mpCall reads [type, headers, id, target, arguments, streamIds?]. The official JavaScript client
// leaves streamIds out when there are none.
func mpCall(r *mpReader, t MessageType, n int) (Message, int, error) {
	if n < 5 {
		return nil, 0, errTooShort(t, 5, n)
	}
	headers, err := r.headers()
	if err != nil {
		return nil, 0, err
	}
	var id string
	if t == TypeInvocation {
		id, _, err = r.str("invocationId", true) // nil means fire-and-forget
	} else {
		id, err = r.invocationID()
	}
	if err != nil {
		return nil, 0, err
	}
	target, _, err := r.str("target", false)
	if err != nil {
		return nil, 0, err
	}
	args, err := r.arguments()
	if err != nil {
		return nil, 0, err
	}
	used := 5
	var streamIDs []string
	if n >= 6 {
		used = 6
		if streamIDs, err = r.streamIDs(); err != nil {
			return nil, 0, err
		}
	}
	if t == TypeInvocation {
		return &Invocation{Headers: headers, InvocationID: id, Target: target, Arguments: args, StreamIDs: streamIDs}, used, nil
	}
	return &StreamInvocation{Headers: headers, InvocationID: id, Target: target, Arguments: args, StreamIDs: streamIDs}, used, nil
}

func mpStreamItem(r *mpReader, n int) (Message, int, error) {
	if n < 4 {
		return nil, 0, errTooShort(TypeStreamItem, 4, n)
	}
	var m StreamItem
	var err error
	if m.Headers, err = r.headers(); err != nil {
		return nil, 0, err
	}
	if m.InvocationID, err = r.invocationID(); err != nil {
		return nil, 0, err
	}
	item, err := r.raw("item")
	if err != nil {
		return nil, 0, err
	}
	m.Item = item
	return &m, 4, nil
}

// The result kinds of a MessagePack Completion.
const (
	mpResultError   = 1
	mpResultVoid    = 2
	mpResultNonVoid = 3
)

func mpCompletion(r *mpReader, n int) (Message, int, error) {
	if n < 4 {
		return nil, 0, errTooShort(TypeCompletion, 4, n)
	}
	var m Completion
	var err error
	if m.Headers, err = r.headers(); err != nil {
		return nil, 0, err
	}
	if m.InvocationID, err = r.invocationID(); err != nil {
		return nil, 0, err
	}
	kind, err := r.integer("resultKind")
	if err != nil {
		return nil, 0, err
	}
	switch kind {
	case mpResultVoid:
		return &m, 4, nil
	case mpResultError, mpResultNonVoid:
		if n < 5 {
			return nil, 0, errTooShort(TypeCompletion, 5, n)
		}
	default:
		return nil, 0, mpErrf("Invalid payload for Completion message: unknown result kind %d.", kind)
	}
	if kind == mpResultError {
		m.Error, _, err = r.str("error", false)
		return &m, 5, err
	}
	result, err := r.raw("result")
	if err != nil {
		return nil, 0, err
	}
	m.HasResult, m.Result = true, result
	return &m, 5, nil
}

func mpCancelInvocation(r *mpReader, n int) (Message, int, error) {
	if n < 3 {
		return nil, 0, errTooShort(TypeCancelInvocation, 3, n)
	}
	var m CancelInvocation
	var err error
	if m.Headers, err = r.headers(); err != nil {
		return nil, 0, err
	}
	if m.InvocationID, err = r.invocationID(); err != nil {
		return nil, 0, err
	}
	return &m, 3, nil
}

// mpClose reads [7, error or nil, allowReconnect?]; the JavaScript client writes [7, nil].
func mpClose(r *mpReader, n int) (Message, int, error) {
	if n < 2 {
		return nil, 0, errTooShort(TypeClose, 2, n)
	}
	var m Close
	var err error
	if m.Error, _, err = r.str("error", true); err != nil {
		return nil, 0, err
	}
	if n < 3 {
		return &m, 2, nil
	}
	if m.AllowReconnect, err = r.optBool("allowReconnect"); err != nil {
		return nil, 0, err
	}
	return &m, 3, nil
}

func mpSequenceID(r *mpReader, t MessageType, n int) (Message, int, error) {
	if n < 2 {
		return nil, 0, errTooShort(t, 2, n)
	}
	id, err := r.integer("sequenceId")
	if err != nil {
		return nil, 0, err
	}
	if t == TypeAck {
		return &Ack{SequenceID: id}, 2, nil
	}
	return &Sequence{SequenceID: id}, 2, nil
}

// Unmarshal implements HubProtocol with vmihailenco/msgpack, reading json struct tags. Maps in `any`
// targets decode as map[string]any so that they re-encode as JSON. A *RawValue target receives a
// copy of raw. The value is checked first, so that no length it claims makes the decoder allocate
// beyond the input's size.
func (*messagePackProtocol) Unmarshal(raw RawValue, v any) error {
	if p, ok := v.(*RawValue); ok {
		*p = bytes.Clone(raw)
		return nil
	}
	data, err := mpCheckValue(raw)
	if err == nil {
		err = mpDecode(data, v)
	}
	if err != nil {
		return fmt.Errorf("protocol: decode MessagePack value: %w", err)
	}
	return nil
}

// mpCheckValue checks that raw is exactly one well-formed value within the nesting bound, and
// returns it ready for the decoder (see mpDefuseExtMaps).
func mpCheckValue(raw []byte) ([]byte, error) {
	r := mpReader{b: raw, trackExtMaps: true}
	if err := r.skip(0); err != nil {
		return nil, err
	}
	if r.off != len(raw) {
		return nil, mpErrf("%d unexpected bytes after the value.", len(raw)-r.off)
	}
	if len(r.extMaps) > 0 {
		return mpDefuseExtMaps(raw, r.extMaps)
	}
	return raw, nil
}

// mpDecode decodes a checked value into v with a pooled decoder.
func mpDecode(data []byte, v any) (err error) {
	d := mpDecoderPool.Get().(*mpValueDecoder)
	defer func() {
		// The decoder panics on some inputs for some targets (a map key that cannot be hashed, into
		// a map[any]any); the input comes from the peer, so that is an error, not a crash. The
		// decoder is then dropped rather than pooled, its state unknown.
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	d.dec.SetCustomStructTag("json")
	d.dec.SetMapDecoder(mpDecodeMap)
	if p, ok := v.(*any); ok {
		// Replace whatever the target held, as encoding/json does; Decode would decode into it.
		var x any
		if x, err = d.dec.DecodeInterface(); err == nil {
			*p = x
		}
	} else {
		err = d.dec.Decode(v)
	}
	d.r.Reset(nil)
	mpDecoderPool.Put(d)
	return err
}

type mpValueDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var mpDecoderPool = sync.Pool{New: func() any {
	return &mpValueDecoder{dec: msgpack.NewDecoder(nil)}
}}

// mpDecodeMap decodes a map in an `any` target as map[string]any. Keys that are not strings (a .NET
// Dictionary<int, T>, say) are formatted as JSON would format them.
func mpDecodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	// The length was checked against the input, except where an extension wraps the map; a small
	// initial size keeps that case cheap too.
	m := make(map[string]any, min(n, 64))
	for range n {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		key, err := mpMapKey(k)
		if err != nil {
			return nil, err
		}
		if m[key], err = d.DecodeInterface(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func mpMapKey(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case []byte:
		return string(k), nil
	case bool:
		return strconv.FormatBool(k), nil
	case int8:
		return strconv.FormatInt(int64(k), 10), nil
	case int16:
		return strconv.FormatInt(int64(k), 10), nil
	case int32:
		return strconv.FormatInt(int64(k), 10), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case uint8:
		return strconv.FormatUint(uint64(k), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(k), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(k), 10), nil
	case uint64:
		return strconv.FormatUint(k, 10), nil
	case float32:
		return strconv.FormatFloat(float64(k), 'g', -1, 32), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("unsupported map key of type %T", k)
}

// mpDefuseExtMaps rewrites the extension values at the given offsets whose data starts like a large
// map. The MessagePack decoder reads the data of an extension as a map when the target is a map, and
// sizes the map from the length the data claims before reading it: a 10-byte value could ask for
// billions of entries. Timestamps (type -1) are rewritten to their 12-byte form, whose data cannot
// start like a map; other such extensions are refused.
func mpDefuseExtMaps(raw []byte, offsets []int) ([]byte, error) {
	out := make([]byte, 0, len(raw)+8*len(offsets))
	prev := 0
	for _, off := range offsets {
		out = append(out, raw[prev:off]...)
		var sec int64
		var nsec uint32
		switch {
		case raw[off] == 0xd6 && raw[off+1] == 0xff: // fixext4 timestamp: seconds
			sec = int64(binary.BigEndian.Uint32(raw[off+2:]))
			prev = off + 6
		case raw[off] == 0xd7 && raw[off+1] == 0xff: // fixext8 timestamp: 30 bits of ns, 34 of seconds
			v := binary.BigEndian.Uint64(raw[off+2:])
			nsec, sec = uint32(v>>34), int64(v&(1<<34-1))
			prev = off + 10
		case raw[off] == 0xc7 && raw[off+1] == 12 && raw[off+2] == 0xff: // ext8 timestamp: ns, then seconds
			nsec, sec = binary.BigEndian.Uint32(raw[off+3:]), int64(binary.BigEndian.Uint64(raw[off+7:]))
			prev = off + 15
		default:
			return nil, mpErrf("Unsupported MessagePack extension value.")
		}
		if nsec >= 1e9 {
			// Not a time; and its first byte could be read as a length by the decoder.
			return nil, mpErrf("Invalid MessagePack timestamp.")
		}
		out = append(out, 0xc7, 12, 0xff)
		out = binary.BigEndian.AppendUint32(out, nsec)
		out = binary.BigEndian.AppendUint64(out, uint64(sec))
	}
	return append(out, raw[prev:]...), nil
}
