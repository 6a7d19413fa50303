package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// AppendMessage implements HubProtocol. The record is written by hand straight into dst; user values
// are written as described in the package doc. On error dst is returned unchanged.
func (*messagePackProtocol) AppendMessage(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	// Reserve one byte for the length prefix, enough for a body under 128 bytes; longer bodies are
	// moved up once the length is known.
	dst = append(dst, 0)
	body := len(dst)
	dst, err := mpAppendBody(dst, m)
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - body
	if n > math.MaxInt32 {
		return dst[:start], errors.New("protocol: MessagePack records are limited to 2 GB")
	}
	if n < 0x80 {
		dst[start] = byte(n)
		return dst, nil
	}
	k := 1
	for v := n >> 7; v > 0; v >>= 7 {
		k++
	}
	dst = append(dst, make([]byte, k-1)...)
	copy(dst[body+k-1:], dst[body:body+n])
	for i := range k {
		c := byte(n & 0x7f)
		n >>= 7
		if i < k-1 {
			c |= 0x80
		}
		dst[start+i] = c
	}
	return dst, nil
}

func mpAppendBody(dst []byte, m Message) ([]byte, error) {
	var err error
	switch m := m.(type) {
	case *Invocation:
		if m == nil {
			return dst, errNilMessage
		}
		dst, err = mpAppendCall(dst, TypeInvocation, m.Headers, m.InvocationID, m.Target, m.Arguments, m.StreamIDs)
	case *StreamInvocation:
		if m == nil {
			return dst, errNilMessage
		}
		dst, err = mpAppendCall(dst, TypeStreamInvocation, m.Headers, m.InvocationID, m.Target, m.Arguments, m.StreamIDs)
	case *StreamItem:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, 0x94, byte(TypeStreamItem))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
		dst, err = mpAppendValue(dst, m.Item)
	case *Completion:
		if m == nil {
			return dst, errNilMessage
		}
		switch {
		case m.Error != "":
			dst = mpAppendCompletionHead(dst, 0x95, m.Headers, m.InvocationID, mpResultError)
			dst = mpAppendString(dst, m.Error)
		case m.HasResult:
			dst = mpAppendCompletionHead(dst, 0x95, m.Headers, m.InvocationID, mpResultNonVoid)
			dst, err = mpAppendValue(dst, m.Result)
		default:
			dst = mpAppendCompletionHead(dst, 0x94, m.Headers, m.InvocationID, mpResultVoid)
		}
	case *CancelInvocation:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, 0x93, byte(TypeCancelInvocation))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
	case *Ping:
		dst = append(dst, 0x91, byte(TypePing))
	case *Close:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, 0x93, byte(TypeClose))
		if m.Error != "" {
			dst = mpAppendString(dst, m.Error)
		} else {
			dst = append(dst, 0xc0)
		}
		dst = mpAppendBool(dst, m.AllowReconnect)
	case *Ack:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, 0x92, byte(TypeAck))
		dst = mpAppendInt(dst, m.SequenceID)
	case *Sequence:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, 0x92, byte(TypeSequence))
		dst = mpAppendInt(dst, m.SequenceID)
	default:
		return dst, fmt.Errorf("protocol: cannot encode message of type %T", m)
	}
	return dst, err
}

func mpAppendCompletionHead(dst []byte, arrayHeader byte, headers map[string]string, id string, kind byte) []byte {
	dst = append(dst, arrayHeader, byte(TypeCompletion))
	dst = mpAppendHeaders(dst, headers)
	dst = mpAppendString(dst, id)
	return append(dst, kind)
}

// mpAppendCall writes an Invocation or StreamInvocation: 5 elements without stream ids, as the
// official JavaScript client writes them, 6 with.
func mpAppendCall(dst []byte, t MessageType, headers map[string]string, id, target string, args []any, streamIDs []string) ([]byte, error) {
	if len(streamIDs) > 0 {
		dst = append(dst, 0x96, byte(t))
	} else {
		dst = append(dst, 0x95, byte(t))
	}
	dst = mpAppendHeaders(dst, headers)
	if id == "" && t == TypeInvocation {
		dst = append(dst, 0xc0)
	} else {
		dst = mpAppendString(dst, id)
	}
	dst = mpAppendString(dst, target)
	dst = mpAppendArrayHeader(dst, len(args))
	for i, a := range args {
		var err error
		if dst, err = mpAppendValue(dst, a); err != nil {
			return dst, fmt.Errorf("protocol: encode argument %d: %w", i, err)
		}
	}
	if len(streamIDs) > 0 {
		dst = mpAppendArrayHeader(dst, len(streamIDs))
		for _, s := range streamIDs {
			dst = mpAppendString(dst, s)
		}
	}
	return dst, nil
}

// mpAppendHeaders writes the headers map, in key order; no headers is an empty map (0x80).
func mpAppendHeaders(dst []byte, h map[string]string) []byte {
	if len(h) == 0 {
		return append(dst, 0x80)
	}
	dst = mpAppendMapHeader(dst, len(h))
	for _, k := range sortedKeys(h) {
		dst = mpAppendString(dst, k)
		dst = mpAppendString(dst, h[k])
	}
	return dst
}

// mpAppendValue writes one user value. RawValues are written verbatim (an empty one as nil); common
// scalar types are written directly, the same bytes the encoder would write; anything else goes
// through a pooled vmihailenco encoder that reads json struct tags and writes compact integers.
func mpAppendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, 0xc0), nil
	case RawValue:
		if len(v) == 0 {
			return append(dst, 0xc0), nil
		}
		return append(dst, v...), nil
	case string:
		return mpAppendString(dst, v), nil
	case bool:
		return mpAppendBool(dst, v), nil
	case int:
		return mpAppendInt(dst, int64(v)), nil
	case int64:
		return mpAppendInt(dst, v), nil
	case float64:
		dst = append(dst, 0xcb)
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
	}
	e := mpEncoderPool.Get().(*mpValueEncoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	dst = e.w.b
	e.w.b = nil
	mpEncoderPool.Put(e)
	return dst, err
}

type mpValueEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var mpEncoderPool = sync.Pool{New: func() any {
	e := &mpValueEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	return e
}}

func mpAppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

// mpAppendInt writes v in the smallest format: unsigned formats for non-negative values, signed
// ones for negative values, as the official clients and vmihailenco's compact mode do.
func mpAppendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= math.MaxInt8:
		return append(dst, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

func mpAppendString(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

func mpAppendArrayHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

func mpAppendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}
