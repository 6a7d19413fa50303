package protocol

import (
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/jsonx"
)

// Each fuzz target checks, for any input: no panic; errors are *Error or ErrMessageTooLarge; the
// parse allocates at most a small multiple of the input; and every parsed message, written again and
// parsed again, is the same message.

// maxAllocPerInputByte bounds what parsing may allocate per input byte (plus a constant). A 1-byte
// MessagePack argument costs its copy, its slot in []any and the boxed RawValue header: about 41
// bytes.
const maxAllocPerInputByte = 64

func FuzzJSONParse(f *testing.F) {
	for _, tc := range roundTripMessages {
		f.Add(encode(f, JSON(), tc.msg))
	}
	for _, s := range []string{
		`{"target":"Add","arguments":[40,2],"invocationId":"0","type":1}` + rs + `{"type":6}` + rs,
		`{"type":3, "invocationId": "abc", "result": null, "headers": {}, "extraParameter":"value"}` + rs,
		`{"type":2, "invocationId": "abc", "headers": {"t": "u"}, "item": 8}` + rs,
		`{"typ\u0065":1,"target":"\u00e9","arguments":[{"a":[1,{"b":null}]}],"streamIds":["1"]}` + rs,
		`{"type":3,"invocationId":"1","result":2,"error":"e"}` + rs,
		`{"type":7,"error":null,"allowReconnect":true}` + rs,
		`{"type":8,"sequenceId":1e3}` + rs,
		`{"type":1,"target":"a"` + rs,
		`{"type":99}` + rs + `{"type":6}`,
		"garbage\x1e",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := checkParse(t, JSON(), data)
		checkUnmarshal(t, JSON(), msgs, len(data))
	})
}

func FuzzMessagePackParse(f *testing.F) {
	for _, tc := range roundTripMessages {
		f.Add(encode(f, MessagePack(), tc.msg))
	}
	for _, s := range []string{
		"0c 95 01 80 a1 30 a3 416464 92 28 02  02 91 06",
		"16 95 01 80 c0 a4 53656e64 92 a2 6869 82 a1 61 01 a1 62 92 c3 c0",
		"11 96 01 80 a3 78797a a6 6d6574686f64 91 2a 90",
		"0e 95 03 80 a3 616263 03 d6 ff 5a4a1a50",
		"0c 94 02 81 a1 74 a1 75 a3 616263 08",
		"0e 94 02 80 a1 31 d7 ff df ffffffff 000000",
		"0c 94 02 80 a1 31 c7 05 01 df ffffffff",
		"0a 95 01 80 c0 a1 41 dd 7fffffff",
		"0a 95 01 80 c0 a1 41 91 dd 7fffffff",
		"04 93 63 01 02  02 91 06",
		"ff ff ff ff 0f 95",
		"ff ff ff ff ff",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := checkParse(t, MessagePack(), data)
		checkUnmarshal(t, MessagePack(), msgs, len(data))
	})
}

func FuzzHandshake(f *testing.F) {
	for _, s := range []string{
		`{"protocol":"json","version":1}` + rs,
		`{"protocol":"messagepack","version":1}` + rs + "\x02\x91\x06",
		`{}` + rs,
		`{"error":"Requested protocol 'xml' is not available."}` + rs + `{"type":6}` + rs,
		`{"protocol":"j\u0073on","version":2.0,"x":[{}]}` + rs,
		`{"type":6}` + rs,
		`{"protocol":"json"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, n, err := ParseHandshakeRequest(data, DefaultMaxMessageSize)
		checkErr(t, err, ErrIncomplete, ErrMessageTooLarge)
		if err == nil {
			require.Positive(t, n)
			require.LessOrEqual(t, n, len(data))
			again, m, err := ParseHandshakeRequest(AppendHandshakeRequest(nil, req), 0)
			require.NoError(t, err)
			require.Equal(t, req, again)
			require.Positive(t, m)
		}
		errMsg, n, err := ParseHandshakeResponse(data)
		checkErr(t, err, ErrIncomplete)
		if err == nil {
			require.Positive(t, n)
			require.LessOrEqual(t, n, len(data))
			again, _, err := ParseHandshakeResponse(AppendHandshakeResponse(nil, errMsg))
			require.NoError(t, err)
			require.Equal(t, errMsg, again)
		}
	})
}

// FuzzJSONString checks the hand-written string escaper against encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>\"\\\u2028\x00\xff", "é💡"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, stdJSON(t, s), string(jsonx.AppendString(nil, s)))
	})
}

// checkParse runs the properties common to both protocols and returns the parsed messages.
func checkParse(t *testing.T, p HubProtocol, data []byte) []Message {
	t.Helper()
	allocated, msgs, n, err := measure(func() ([]Message, int, error) {
		return p.ParseMessages(data, DefaultMaxMessageSize, nil)
	})
	if limit := uint64(maxAllocPerInputByte*len(data) + 16<<10); allocated > limit {
		t.Fatalf("parsing %d bytes allocated %d bytes (limit %d)", len(data), allocated, limit)
	}
	checkErr(t, err, ErrMessageTooLarge)
	require.GreaterOrEqual(t, n, 0)
	require.LessOrEqual(t, n, len(data))

	// Writing the messages again and parsing the result gives the same messages.
	var out []byte
	for _, m := range msgs {
		out, err = p.AppendMessage(out, m)
		require.NoError(t, err)
	}
	again, used, err := p.ParseMessages(out, 0, nil)
	require.NoError(t, err)
	require.Equal(t, len(out), used)
	require.Equal(t, msgs, again)

	// The consumed prefix alone parses to the same messages.
	prefix, used, err := p.ParseMessages(data[:n], DefaultMaxMessageSize, nil)
	require.NoError(t, err)
	require.Equal(t, n, used)
	require.Equal(t, msgs, prefix)
	return msgs
}

// checkUnmarshal decodes every user value into a few kinds of target, within the allocation bound.
func checkUnmarshal(t *testing.T, p HubProtocol, msgs []Message, inputLen int) {
	t.Helper()
	var values []any
	for _, m := range msgs {
		vals, _ := splitValues(m)
		values = append(values, vals...)
	}
	allocated, _, _, _ := measure(func() ([]Message, int, error) {
		for _, v := range values {
			raw := v.(RawValue)
			var a any
			_ = p.Unmarshal(raw, &a)
			var m map[string]any
			_ = p.Unmarshal(raw, &m)
			var ms map[string]string
			_ = p.Unmarshal(raw, &ms)
			var s []point
			_ = p.Unmarshal(raw, &s)
			var mu map[any]any
			_ = p.Unmarshal(raw, &mu)
		}
		return nil, 0, nil
	})
	// Five decodes of every value.
	if limit := uint64(5*maxAllocPerInputByte*inputLen + 64<<10); allocated > limit {
		t.Fatalf("decoding the values of %d bytes allocated %d bytes (limit %d)", inputLen, allocated, limit)
	}
}

// measure returns how many bytes fn allocated. The fuzz targets run alone (after all tests, one
// input at a time), so the counter sees only fn.
func measure(fn func() ([]Message, int, error)) (uint64, []Message, int, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	msgs, n, err := fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, msgs, n, err
}

// checkErr accepts nil, an *Error, or one of the sentinel errors.
func checkErr(t *testing.T, err error, sentinels ...error) {
	t.Helper()
	if err == nil {
		return
	}
	var perr *Error
	if errors.As(err, &perr) {
		require.NotEmpty(t, perr.Msg)
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("unexpected error %T: %v", err, err)
}
