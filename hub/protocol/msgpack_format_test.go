package protocol

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// newTestEncoder is configured like the protocol's pooled encoder.
func newTestEncoder(buf *bytes.Buffer) *msgpack.Encoder {
	enc := msgpack.NewEncoder(buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	return enc
}

// The hand-written writers produce the bytes the encoder would, at every format boundary, and the
// reader reads them back.
func TestMessagePackFormatsMatchEncoder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc := newTestEncoder(&buf)

	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, v := range ints {
		buf.Reset()
		require.NoError(t, enc.EncodeInt(v))
		got := mpAppendInt(nil, v)
		require.Equal(t, buf.Bytes(), got, "%d", v)
		r := mpReader{b: got}
		back, err := r.integer("n")
		require.NoError(t, err)
		require.Equal(t, v, back)
		require.Equal(t, got, mustAppendValue(t, v), "%d as a value", v)
	}

	for _, n := range []int{0, 15, 16, 31, 32, 255, 256, 65535, 65536} {
		buf.Reset()
		require.NoError(t, enc.EncodeArrayLen(n))
		require.Equal(t, buf.Bytes(), mpAppendArrayHeader(nil, n), "array %d", n)
		buf.Reset()
		require.NoError(t, enc.EncodeMapLen(n))
		require.Equal(t, buf.Bytes(), mpAppendMapHeader(nil, n), "map %d", n)
		s := strings.Repeat("s", n)
		buf.Reset()
		require.NoError(t, enc.EncodeString(s))
		require.Equal(t, buf.Bytes(), mpAppendString(nil, s), "string %d", n)
		r := mpReader{b: buf.Bytes()}
		back, _, err := r.str("s", false)
		require.NoError(t, err)
		require.Equal(t, s, back)
	}

	for _, v := range []any{true, false, nil, 1.5, math.Inf(-1), "x"} {
		buf.Reset()
		require.NoError(t, enc.Encode(v))
		require.Equal(t, buf.Bytes(), mustAppendValue(t, v), "%v", v)
	}

	// Many headers and stream ids need the 16-bit formats.
	headers := map[string]string{}
	var ids []string
	for i := range 20 {
		headers[strings.Repeat("k", i+1)] = "v"
		ids = append(ids, strings.Repeat("i", i+1))
	}
	m := &Invocation{Headers: headers, Target: "T", Arguments: make([]any, 17), StreamIDs: ids}
	got := parseOne(t, MessagePack(), encode(t, MessagePack(), m)).(*Invocation)
	require.Equal(t, headers, got.Headers)
	require.Equal(t, ids, got.StreamIDs)
	require.Len(t, got.Arguments, 17)
}

func mustAppendValue(t *testing.T, v any) []byte {
	t.Helper()
	b, err := mpAppendValue(nil, v)
	require.NoError(t, err)
	return b
}

// A value using every MessagePack format passes through the parser intact and decodes.
func TestMessagePackEveryFormat(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("b", 70000)
	manyInts := make([]int, 70000)
	manyKeys := map[string]int{}
	for i := range 20 {
		manyKeys[strings.Repeat("k", i+1)] = i
	}
	value := []any{
		nil, true, false, int8(-5), int8(-100), int16(-1000), int32(-100000), int64(math.MinInt64),
		uint8(200), uint16(60000), uint32(4000000000), uint64(math.MaxUint64), float32(1.5), 2.5,
		"", strings.Repeat("s", 40), strings.Repeat("s", 300), big,
		[]byte{}, []byte{1, 2}, bytes.Repeat([]byte{3}, 300), bytes.Repeat([]byte{4}, 70000),
		make([]int, 20), manyInts, map[string]int{"a": 1}, manyKeys,
		time.Unix(1, 0), time.Unix(1<<33, 5), time.Unix(-1, 0), // fixext4, fixext8, ext8 timestamps
	}
	otherExts := []msgpack.RawMessage{
		{0xd4, 0x05, 0x01}, {0xd5, 0x05, 0x01, 0x02}, {0xd8, 0x05, 15: 0, 16: 0, 17: 0},
		append([]byte{0xc8, 0x01, 0x00, 0x05}, make([]byte, 256)...),
		append([]byte{0xc9, 0x00, 0x00, 0x00, 0x03, 0x05}, 1, 2, 3),
	}
	parseItem := func(v any) RawValue {
		raw, err := MessagePack().AppendMessage(nil, &StreamItem{InvocationID: "1", Item: v})
		require.NoError(t, err)
		msgs, n, err := MessagePack().ParseMessages(raw, 0, nil)
		require.NoError(t, err)
		require.Equal(t, len(raw), n)
		return msgs[0].(*StreamItem).Item.(RawValue)
	}
	// Extensions other than the timestamp pass through the parser intact, but are refused when
	// decoded: the decoder would read their data as a value and trust any length it claims.
	for _, ext := range otherExts {
		require.Equal(t, RawValue(ext), parseItem(ext))
		var a any
		require.ErrorContains(t, MessagePack().Unmarshal(RawValue(ext), &a), "Unsupported MessagePack extension type 5")
	}
	item := parseItem(value)

	var elems []msgpack.RawMessage
	require.NoError(t, MessagePack().Unmarshal(item, &elems))
	require.Len(t, elems, len(value))
	back := make([]any, 28)
	for i := 1; i < len(back); i++ { // the decoder gives nil an empty RawMessage
		require.NoError(t, MessagePack().Unmarshal(RawValue(elems[i]), &back[i]), "element %d", i)
	}
	require.Equal(t, big, back[17])
	require.Equal(t, uint64(math.MaxUint64), back[11])
	require.True(t, time.Unix(1<<33, 5).Equal(back[27].(time.Time)))
	var a any
	// A timestamp whose nanoseconds are out of range is not a time.
	require.ErrorContains(t, MessagePack().Unmarshal(RawValue(append([]byte{0xc7, 12, 0xff, 0xc6, 0, 0, 0}, make([]byte, 8)...)), &a), "Invalid MessagePack timestamp")

	// Maps with keys that are not strings become map[string]any.
	var buf bytes.Buffer
	enc := newTestEncoder(&buf)
	require.NoError(t, enc.EncodeMapLen(6))
	for _, kv := range [][2]any{{1, "i"}, {int8(-2), "n"}, {uint64(1 << 40), "u"}, {true, "b"}, {1.5, "f"}, {[]byte("k"), "bin"}} {
		require.NoError(t, enc.Encode(kv[0]))
		require.NoError(t, enc.Encode(kv[1]))
	}
	require.NoError(t, MessagePack().Unmarshal(buf.Bytes(), &a))
	require.Equal(t, map[string]any{"1": "i", "-2": "n", "1099511627776": "u", "true": "b", "1.5": "f", "k": "bin"}, a)
	// A key the decoder cannot hash: an error for `any` targets, and no panic for map[any]any ones.
	nested := unhex(t, "81 a1 6d 81 91 01 02") // {"m": {[1]: 2}}
	require.Error(t, MessagePack().Unmarshal(nested, &a))
	var untyped map[any]any
	require.Error(t, MessagePack().Unmarshal(unhex(t, "81 91 01 02"), &untyped))
}

func TestMessageTypeNames(t *testing.T) {
	t.Parallel()
	msgs := []Message{&Invocation{}, &StreamItem{}, &Completion{}, &StreamInvocation{}, &CancelInvocation{}, &Ping{}, &Close{}, &Ack{}, &Sequence{}}
	names := []string{"Invocation", "StreamItem", "Completion", "StreamInvocation", "CancelInvocation", "Ping", "Close", "Ack", "Sequence"}
	for i, m := range msgs {
		require.Equal(t, MessageType(i+1), m.Type())
		require.Equal(t, names[i], m.Type().String())
	}
	require.Equal(t, "Unknown", MessageType(42).String())
}
