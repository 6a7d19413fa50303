package protocol

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

type point struct {
	X     int    `json:"x"`
	Y     int    `json:"y"`
	Label string `json:"label,omitempty"`
}

// roundTripMessages has every message type, with and without the optional parts.
var roundTripMessages = []struct {
	name string
	msg  Message
}{
	{"Invocation", &Invocation{InvocationID: "1", Target: "Send", Arguments: []any{"hi", 42, true, 1.5}}},
	{"InvocationNonBlocking", &Invocation{Target: "Send", Arguments: []any{"x"}}},
	{"InvocationNoArguments", &Invocation{InvocationID: "2", Target: "Ping", Arguments: []any{}}},
	{"InvocationNilArgument", &Invocation{Target: "Send", Arguments: []any{nil, "after"}}},
	{"InvocationStreamIDs", &Invocation{InvocationID: "3", Target: "Upload", Arguments: []any{7}, StreamIDs: []string{"4", "5"}}},
	{"InvocationHeaders", &Invocation{Headers: map[string]string{"a": "b", "k\n": "v\"\u2028"}, InvocationID: "6", Target: "M", Arguments: []any{}}},
	{"InvocationStruct", &Invocation{Target: "Move", Arguments: []any{point{X: 1, Y: -2, Label: "p"}, []int{1, 2, 3}, map[string]int{"n": 1}}}},
	{"InvocationUnicode", &Invocation{Target: "Méthode✓", Arguments: []any{"<script>&\x01\t💡"}}},
	{"StreamInvocation", &StreamInvocation{InvocationID: "7", Target: "Counter", Arguments: []any{10, 500}}},
	{"StreamInvocationStreamIDs", &StreamInvocation{Headers: map[string]string{"h": "v"}, InvocationID: "8", Target: "Echo", Arguments: []any{}, StreamIDs: []string{"9"}}},
	{"StreamItem", &StreamItem{InvocationID: "7", Item: "x"}},
	{"StreamItemNull", &StreamItem{InvocationID: "7", Item: nil}},
	{"StreamItemStruct", &StreamItem{Headers: map[string]string{"h": "v"}, InvocationID: "7", Item: point{X: 3}}},
	{"CompletionVoid", &Completion{InvocationID: "1"}},
	{"CompletionResult", &Completion{InvocationID: "1", HasResult: true, Result: int64(-300)}},
	{"CompletionNullResult", &Completion{InvocationID: "1", HasResult: true, Result: nil}},
	{"CompletionFalseResult", &Completion{InvocationID: "1", HasResult: true, Result: false}},
	{"CompletionError", &Completion{InvocationID: "1", Error: "It didn't work!"}},
	{"CompletionHeaders", &Completion{Headers: map[string]string{"x": "y"}, InvocationID: "1", HasResult: true, Result: "ok"}},
	{"CancelInvocation", &CancelInvocation{InvocationID: "7"}},
	{"CancelInvocationHeaders", &CancelInvocation{Headers: map[string]string{"x": "y"}, InvocationID: "7"}},
	{"Ping", &Ping{}},
	{"Close", &Close{}},
	{"CloseError", &Close{Error: "Connection closed because of an error!"}},
	{"CloseReconnect", &Close{Error: "bye", AllowReconnect: true}},
	{"CloseReconnectNoError", &Close{AllowReconnect: true}},
	{"Ack", &Ack{SequenceID: 1394}},
	{"AckLarge", &Ack{SequenceID: 1 << 40}},
	{"Sequence", &Sequence{SequenceID: 19}},
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		for _, tc := range roundTripMessages {
			t.Run(p.Name()+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				data := encode(t, p, tc.msg)
				got := parseOne(t, p, data)
				requireSameMessage(t, p, tc.msg, got)

				// Writing the parsed message (RawValues verbatim) gives the same bytes again.
				again := encode(t, p, got)
				require.Equal(t, data, again)
			})
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			prefix := []byte("prefix")
			dst, err := p.AppendMessage(bytes.Clone(prefix), &Ping{})
			require.NoError(t, err)
			require.Equal(t, prefix, dst[:len(prefix)])
			require.Equal(t, []Message{&Ping{}}, parseAll(t, p, dst[len(prefix):]))
		})
	}
}

func TestAppendErrorLeavesDstUnchanged(t *testing.T) {
	t.Parallel()
	bad := []Message{
		&Invocation{Target: "T", Arguments: []any{"ok", make(chan int)}},
		&StreamItem{InvocationID: "1", Item: func() {}},
		(*Invocation)(nil),
		nil,
	}
	for _, p := range protocols {
		for _, m := range bad {
			dst := []byte("keep")
			out, err := p.AppendMessage(dst, m)
			require.Error(t, err, "%s %T", p.Name(), m)
			require.Equal(t, "keep", string(out))
		}
	}
	// NaN is not JSON.
	_, err := JSON().AppendMessage(nil, &Completion{InvocationID: "1", HasResult: true, Result: nan()})
	require.Error(t, err)
}

func TestSeveralRecordsInOneBuffer(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			var data []byte
			for _, tc := range roundTripMessages {
				var err error
				data, err = p.AppendMessage(data, tc.msg)
				require.NoError(t, err)
			}
			msgs := parseAll(t, p, data)
			require.Len(t, msgs, len(roundTripMessages))
			for i, tc := range roundTripMessages {
				requireSameMessage(t, p, tc.msg, msgs[i])
			}
		})
	}
}

func TestPartialRecordIsLeft(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			first := encode(t, p, &Invocation{Target: "A", Arguments: []any{1}})
			second := encode(t, p, &Invocation{Target: "B", Arguments: []any{string(make([]byte, 300))}})
			data := append(bytes.Clone(first), second...)
			// Cut the second record everywhere, including inside a multi-byte length prefix.
			for cut := len(first); cut < len(data); cut++ {
				msgs, n, err := p.ParseMessages(data[:cut], DefaultMaxMessageSize, nil)
				require.NoError(t, err, "cut %d", cut)
				require.Equal(t, len(first), n, "cut %d", cut)
				require.Len(t, msgs, 1, "cut %d", cut)
			}
			// Feeding the rest completes it.
			msgs, n, err := p.ParseMessages(data[len(first):], DefaultMaxMessageSize, nil)
			require.NoError(t, err)
			require.Equal(t, len(second), n)
			require.Equal(t, "B", msgs[0].(*Invocation).Target)
		})
	}
}

func TestParseAppendsToDst(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		dst := []Message{&Ping{}}
		msgs, _, err := p.ParseMessages(encode(t, p, &Ack{SequenceID: 1}), 0, dst)
		require.NoError(t, err)
		require.Equal(t, []Message{&Ping{}, &Ack{SequenceID: 1}}, msgs)
	}
}

func TestErrorAfterGoodRecordsKeepsThem(t *testing.T) {
	t.Parallel()
	good := map[string][]byte{
		"json":        encode(t, JSON(), &Ping{}),
		"messagepack": encode(t, MessagePack(), &Ping{}),
	}
	bad := map[string][]byte{
		"json":        []byte("{]\x1e"),
		"messagepack": {0x01, 0xc1},
	}
	for _, p := range protocols {
		data := append(bytes.Clone(good[p.Name()]), bad[p.Name()]...)
		msgs, n, err := p.ParseMessages(data, 0, nil)
		var perr *Error
		require.ErrorAs(t, err, &perr, p.Name())
		require.Equal(t, len(good[p.Name()]), n)
		require.Equal(t, []Message{&Ping{}}, msgs)
	}
}

func TestRawValuePassthrough(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			// Parse a value, then forward it in a new message: the bytes travel unchanged.
			in := encode(t, p, &StreamItem{InvocationID: "1", Item: map[string]any{"k": []any{1, "two"}}})
			item := parseOne(t, p, in).(*StreamItem).Item.(RawValue)
			out := encode(t, p, &Invocation{Target: "Fwd", Arguments: []any{item, item}})
			inv := parseOne(t, p, out).(*Invocation)
			require.Equal(t, []any{item, item}, inv.Arguments)

			var v map[string]any
			require.NoError(t, p.Unmarshal(item, &v))
			require.Len(t, v["k"], 2)

			var copied RawValue
			require.NoError(t, p.Unmarshal(item, &copied))
			require.Equal(t, item, copied)

			// Parsed values are copies: reusing the read buffer does not change them.
			before := RawValue(bytes.Clone(item))
			clear(in)
			require.Equal(t, before, item)

			// An empty RawValue is written as null.
			c := parseOne(t, p, encode(t, p, &Completion{InvocationID: "1", HasResult: true, Result: RawValue(nil)})).(*Completion)
			var r any = "x"
			require.NoError(t, p.Unmarshal(c.Result.(RawValue), &r))
			require.Nil(t, r)
		})
	}
}

func TestCompletionNullVersusVoid(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		void := parseOne(t, p, encode(t, p, &Completion{InvocationID: "1"})).(*Completion)
		require.False(t, void.HasResult)
		require.Nil(t, void.Result)

		null := parseOne(t, p, encode(t, p, &Completion{InvocationID: "1", HasResult: true})).(*Completion)
		require.True(t, null.HasResult)
		require.NotNil(t, null.Result)

		// The error wins over a result.
		e := parseOne(t, p, encode(t, p, &Completion{InvocationID: "1", Error: "boom", HasResult: true, Result: 1})).(*Completion)
		require.Equal(t, &Completion{InvocationID: "1", Error: "boom"}, e)
	}
}

func TestOversizedRecord(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p.Name(), func(t *testing.T) {
			t.Parallel()
			small := encode(t, p, &Ping{})
			big := encode(t, p, &Invocation{Target: "T", Arguments: []any{string(bytes.Repeat([]byte("a"), 100))}})
			data := append(bytes.Clone(small), big...)

			msgs, n, err := p.ParseMessages(data, 64, nil)
			require.ErrorIs(t, err, ErrMessageTooLarge)
			require.Equal(t, len(small), n)
			require.Len(t, msgs, 1)

			// Even a prefix of the big record is refused: there is no point waiting for the rest.
			_, _, err = p.ParseMessages(big[:70], 64, nil)
			require.ErrorIs(t, err, ErrMessageTooLarge)

			// Without a limit it parses.
			msgs, _, err = p.ParseMessages(data, 0, nil)
			require.NoError(t, err)
			require.Len(t, msgs, 2)
		})
	}
}

func TestMaxSizeBoundary(t *testing.T) {
	t.Parallel()
	// JSON: a record of exactly maxSize bytes (separator not counted) is accepted.
	rec := []byte(`{"type":6}` + "\x1e")
	msgs, _, err := JSON().ParseMessages(rec, len(rec)-1, nil)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	_, _, err = JSON().ParseMessages(rec, len(rec)-2, nil)
	require.ErrorIs(t, err, ErrMessageTooLarge)

	// MessagePack: a body of exactly maxSize bytes is accepted.
	mp := encode(t, MessagePack(), &Ping{})
	msgs, _, err = MessagePack().ParseMessages(mp, 2, nil)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	_, _, err = MessagePack().ParseMessages(mp, 1, nil)
	require.ErrorIs(t, err, ErrMessageTooLarge)

	// The largest limit does not overflow.
	for _, p := range protocols {
		msgs, _, err = p.ParseMessages(encode(t, p, &Ping{}), math.MaxInt, nil)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
	}
	_, _, err = ParseHandshakeRequest([]byte(`{"protocol":"json","version":1}`+"\x1e"), math.MaxInt)
	require.NoError(t, err)
}

// Not parallel: testing.AllocsPerRun refuses to run in parallel tests.
func TestOversizedDoesNotAllocate(t *testing.T) {
	jsonData := bytes.Repeat([]byte("x"), DefaultMaxMessageSize+10)
	mpData := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x95}
	dst := make([]Message, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		_, _, err := JSON().ParseMessages(jsonData, DefaultMaxMessageSize, dst)
		if !errors.Is(err, ErrMessageTooLarge) {
			panic(err)
		}
		_, _, err = MessagePack().ParseMessages(mpData, DefaultMaxMessageSize, dst)
		if !errors.Is(err, ErrMessageTooLarge) {
			panic(err)
		}
	})
	require.Zero(t, allocs)
}

func TestUnknownMessageTypeIsSkipped(t *testing.T) {
	t.Parallel()
	jsonData := []byte(`{"type":99,"whatever":[1,2]}` + "\x1e" + `{"type":6}` + "\x1e")
	require.Equal(t, []Message{&Ping{}}, parseAll(t, JSON(), jsonData))
	mpData := unhex(t, "04 93 63 01 02  02 91 06")
	require.Equal(t, []Message{&Ping{}}, parseAll(t, MessagePack(), mpData))
}

func TestProtocolIdentity(t *testing.T) {
	t.Parallel()
	require.Same(t, JSON(), JSON())
	require.Same(t, MessagePack(), MessagePack())
	require.Equal(t, "json", JSON().Name())
	require.Equal(t, 1, JSON().Version())
	require.False(t, JSON().Binary())
	require.Equal(t, "messagepack", MessagePack().Name())
	require.Equal(t, 1, MessagePack().Version())
	require.True(t, MessagePack().Binary())
	require.Same(t, JSON(), ByName("JSON"))
	require.Same(t, MessagePack(), ByName("messagepack"))
	require.Nil(t, ByName("xml"))
}
