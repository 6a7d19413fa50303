package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/heraldhq/herald/internal/jsonx"
)

// AppendMessage implements HubProtocol. The envelope is written by hand, in the property order of the
// .NET server; user values are written as described in the package doc. On error dst is returned
// unchanged.
func (*jsonHubProtocol) AppendMessage(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	var err error
	switch m := m.(type) {
	case *Invocation:
		if m == nil {
			return dst, errNilMessage
		}
		dst = jsonAppendHead(dst, TypeInvocation, m.Headers)
		dst, err = jsonAppendCall(dst, m.InvocationID, m.InvocationID != "", m.Target, m.Arguments, m.StreamIDs)
	case *StreamInvocation:
		if m == nil {
			return dst, errNilMessage
		}
		dst = jsonAppendHead(dst, TypeStreamInvocation, m.Headers)
		dst, err = jsonAppendCall(dst, m.InvocationID, true, m.Target, m.Arguments, m.StreamIDs)
	case *StreamItem:
		if m == nil {
			return dst, errNilMessage
		}
		dst = jsonAppendHead(dst, TypeStreamItem, m.Headers)
		dst = jsonAppendInvocationID(dst, m.InvocationID)
		dst = append(dst, `,"item":`...)
		dst, err = jsonAppendValue(dst, m.Item)
	case *Completion:
		if m == nil {
			return dst, errNilMessage
		}
		dst = jsonAppendHead(dst, TypeCompletion, m.Headers)
		dst = jsonAppendInvocationID(dst, m.InvocationID)
		switch {
		case m.Error != "":
			dst = append(dst, `,"error":`...)
			dst = jsonx.AppendString(dst, m.Error)
		case m.HasResult:
			dst = append(dst, `,"result":`...)
			dst, err = jsonAppendValue(dst, m.Result)
		}
	case *CancelInvocation:
		if m == nil {
			return dst, errNilMessage
		}
		dst = jsonAppendHead(dst, TypeCancelInvocation, m.Headers)
		dst = jsonAppendInvocationID(dst, m.InvocationID)
	case *Ping:
		dst = append(dst, `{"type":6`...)
	case *Close:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, `{"type":7`...)
		if m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = jsonx.AppendString(dst, m.Error)
		}
		if m.AllowReconnect {
			dst = append(dst, `,"allowReconnect":true`...)
		}
	case *Ack:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, `{"type":8,"sequenceId":`...)
		dst = strconv.AppendInt(dst, m.SequenceID, 10)
	case *Sequence:
		if m == nil {
			return dst, errNilMessage
		}
		dst = append(dst, `{"type":9,"sequenceId":`...)
		dst = strconv.AppendInt(dst, m.SequenceID, 10)
	default:
		return dst, fmt.Errorf("protocol: cannot encode message of type %T", m)
	}
	if err != nil {
		return dst[:start], err
	}
	return append(dst, '}', RecordSeparator), nil
}

var errNilMessage = errors.New("protocol: cannot encode a nil message")

// jsonAppendHead writes `{"type":N` and the headers, if any.
func jsonAppendHead(dst []byte, t MessageType, headers map[string]string) []byte {
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendInt(dst, int64(t), 10)
	if len(headers) == 0 {
		return dst
	}
	dst = append(dst, `,"headers":{`...)
	for i, k := range sortedKeys(headers) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, k)
		dst = append(dst, ':')
		dst = jsonx.AppendString(dst, headers[k])
	}
	return append(dst, '}')
}

// sortedKeys returns the keys of h in order, so that the same message always encodes to the same
// bytes. Headers are rare and small.
func sortedKeys(h map[string]string) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func jsonAppendInvocationID(dst []byte, id string) []byte {
	dst = append(dst, `,"invocationId":`...)
	return jsonx.AppendString(dst, id)
}

// jsonAppendCall writes the body of an Invocation or StreamInvocation after the headers.
func jsonAppendCall(dst []byte, id string, writeID bool, target string, args []any, streamIDs []string) ([]byte, error) {
	if writeID {
		dst = jsonAppendInvocationID(dst, id)
	}
	dst = append(dst, `,"target":`...)
	dst = jsonx.AppendString(dst, target)
	dst = append(dst, `,"arguments":[`...)
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = jsonAppendValue(dst, a); err != nil {
			return dst, fmt.Errorf("protocol: encode argument %d: %w", i, err)
		}
	}
	dst = append(dst, ']')
	if len(streamIDs) > 0 {
		dst = append(dst, `,"streamIds":[`...)
		for i, s := range streamIDs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, s)
		}
		dst = append(dst, ']')
	}
	return dst, nil
}

// jsonAppendValue writes one user value. RawValues are written verbatim (an empty one as null);
// common scalar types are written directly; anything else goes through encoding/json without HTML
// escaping.
func jsonAppendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case RawValue:
		if len(v) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, v...), nil
	case string:
		return jsonx.AppendString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case float64:
		return jsonAppendFloat(dst, v)
	}
	e := jsonEncoderPool.Get().(*jsonValueEncoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	dst = e.w.b
	e.w.b = nil
	jsonEncoderPool.Put(e)
	if err != nil {
		return dst, err
	}
	// Encode ends every value with a newline.
	if n := len(dst); n > 0 && dst[n-1] == '\n' {
		dst = dst[:n-1]
	}
	return dst, nil
}

// appendWriter is an io.Writer (and io.ByteWriter) that appends to a byte slice, so that pooled
// encoders write straight into the caller's buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

type jsonValueEncoder struct {
	w   appendWriter
	enc *json.Encoder
}

var jsonEncoderPool = sync.Pool{New: func() any {
	e := &jsonValueEncoder{}
	e.enc = json.NewEncoder(&e.w)
	e.enc.SetEscapeHTML(false)
	return e
}}

// jsonAppendFloat writes f exactly as encoding/json does.
func jsonAppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Shorten e-09 to e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}
