package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseHandshakeRequest(t *testing.T) {
	t.Parallel()
	// Exactly what the official JavaScript client writes, followed by a ping in the same frame.
	data := []byte(`{"protocol":"messagepack","version":1}` + rs + "\x02\x91\x06")
	req, n, err := ParseHandshakeRequest(data, DefaultMaxMessageSize)
	require.NoError(t, err)
	require.Equal(t, HandshakeRequest{Protocol: "messagepack", Version: 1}, req)
	require.Equal(t, len(data)-3, n)

	req, n, err = ParseHandshakeRequest([]byte(" { \"version\" : 2, \"extra\": [1], \"protocol\" : \"json\" } "+rs), 0)
	require.NoError(t, err)
	require.Equal(t, HandshakeRequest{Protocol: "json", Version: 2}, req)
	require.Positive(t, n)
}

func TestParseHandshakeRequestIncompleteAndTooLarge(t *testing.T) {
	t.Parallel()
	_, _, err := ParseHandshakeRequest(nil, DefaultMaxMessageSize)
	require.ErrorIs(t, err, ErrIncomplete)
	_, _, err = ParseHandshakeRequest([]byte(`{"protocol":"json","vers`), DefaultMaxMessageSize)
	require.ErrorIs(t, err, ErrIncomplete)
	_, _, err = ParseHandshakeRequest([]byte(`{"protocol":"json","version":1}`), 10)
	require.ErrorIs(t, err, ErrMessageTooLarge)
	_, _, err = ParseHandshakeRequest([]byte(`{"protocol":"json","version":1}`+rs), 10)
	require.ErrorIs(t, err, ErrMessageTooLarge)
	rec := `{"protocol":"json","version":1}`
	_, _, err = ParseHandshakeRequest([]byte(rec+rs), len(rec))
	require.NoError(t, err)
}

func TestParseHandshakeRequestMalformed(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, msg string }{
		{``, "Error reading JSON"},
		{`{"protocol":"json"`, "Error reading JSON"},
		{`[]`, "Expected a JSON object"},
		{`{}`, "Missing required property 'protocol'."},
		{`{"version":1}`, "Missing required property 'protocol'."},
		{`{"protocol":"json"}`, "Missing required property 'version'."},
		{`{"protocol":1,"version":1}`, "Expected 'protocol' to be of type String."},
		{`{"protocol":"json","version":"1"}`, "Expected 'version' to be of type Integer."},
		{`{"protocol":"json","version":1.5}`, "Expected 'version' to be of type Integer."},
		{`{"protocol":"json","version":-1}`, "out of range"},
		{`{"protocol":"json","version":99999999999}`, "out of range"},
	}
	for _, tc := range cases {
		_, n, err := ParseHandshakeRequest([]byte(tc.in+rs), DefaultMaxMessageSize)
		var perr *Error
		require.ErrorAs(t, err, &perr, tc.in)
		require.Contains(t, perr.Msg, tc.msg, tc.in)
		require.Zero(t, n)
	}
}

func TestHandshakeResponse(t *testing.T) {
	t.Parallel()
	require.Equal(t, "{}"+rs, string(AppendHandshakeResponse(nil, "")))
	require.Equal(t, `{"error":"Requested protocol 'xml' is not available."}`+rs,
		string(AppendHandshakeResponse(nil, "Requested protocol 'xml' is not available.")))
	require.Equal(t, `x{"error":"a\"b\n"}`+rs, string(AppendHandshakeResponse([]byte("x"), "a\"b\n")))

	// The response may be followed by the first hub messages.
	data := append(AppendHandshakeResponse(nil, ""), `{"type":6}`+rs...)
	errMsg, n, err := ParseHandshakeResponse(data)
	require.NoError(t, err)
	require.Empty(t, errMsg)
	require.Equal(t, 3, n)

	errMsg, n, err = ParseHandshakeResponse(AppendHandshakeResponse(nil, "nope"))
	require.NoError(t, err)
	require.Equal(t, "nope", errMsg)
	require.Positive(t, n)

	_, _, err = ParseHandshakeResponse([]byte("{}"))
	require.ErrorIs(t, err, ErrIncomplete)
	for _, bad := range []string{`{"type":6}`, `nope`, `{"error":1}`, `[]`} {
		_, _, err = ParseHandshakeResponse([]byte(bad + rs))
		var perr *Error
		require.ErrorAs(t, err, &perr, bad)
	}
}

func TestHandshakeRequestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, req := range []HandshakeRequest{{"json", 1}, {"messagepack", 2}, {"we\"ird\u2028", 0}} {
		data := AppendHandshakeRequest(nil, req)
		require.True(t, strings.HasSuffix(string(data), rs))
		got, n, err := ParseHandshakeRequest(data, DefaultMaxMessageSize)
		require.NoError(t, err)
		require.Equal(t, req, got)
		require.Equal(t, len(data), n)
	}
	require.Equal(t, `{"protocol":"json","version":1}`+rs, string(AppendHandshakeRequest(nil, HandshakeRequest{"json", 1})))
}
