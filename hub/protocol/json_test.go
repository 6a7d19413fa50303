package protocol

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/jsonx"
)

const rs = "\x1e"

// The records the .NET server writes (JsonHubProtocolTestsBase.cs in dotnet/aspnetcore, plus the
// examples of HubProtocol.md); our writer produces the same bytes.
func TestJSONGoldenWrite(t *testing.T) {
	t.Parallel()
	headers := map[string]string{"Foo": "Bar", "KeyWith\nNew\r\nLines": "Still Works", "ValueWithNewLines": "Also\nWorks\r\nFine"}
	serializedHeaders := `"headers":{"Foo":"Bar","KeyWith\nNew\r\nLines":"Still Works","ValueWithNewLines":"Also\nWorks\r\nFine"}`
	cases := []struct {
		msg  Message
		want string
	}{
		{&Invocation{InvocationID: "123", Target: "Target", Arguments: []any{1, "Foo"}}, `{"type":1,"invocationId":"123","target":"Target","arguments":[1,"Foo"]}`},
		{&Invocation{Target: "Target", Arguments: []any{true}}, `{"type":1,"target":"Target","arguments":[true]}`},
		{&Invocation{Target: "Target", Arguments: []any{nil}}, `{"type":1,"target":"Target","arguments":[null]}`},
		{&Invocation{Target: "Target", Arguments: nil, StreamIDs: []string{"__test_id__"}}, `{"type":1,"target":"Target","arguments":[],"streamIds":["__test_id__"]}`},
		{&Invocation{Target: "Target", Arguments: []any{42}, StreamIDs: []string{"__test_id__", "__test_id2__"}}, `{"type":1,"target":"Target","arguments":[42],"streamIds":["__test_id__","__test_id2__"]}`},
		{&StreamItem{InvocationID: "123", Item: 1}, `{"type":2,"invocationId":"123","item":1}`},
		{&StreamItem{InvocationID: "123", Item: "Foo"}, `{"type":2,"invocationId":"123","item":"Foo"}`},
		{&StreamItem{InvocationID: "123", Item: nil}, `{"type":2,"invocationId":"123","item":null}`},
		{&Completion{InvocationID: "123", HasResult: true, Result: 1}, `{"type":3,"invocationId":"123","result":1}`},
		{&Completion{InvocationID: "123", HasResult: true, Result: true}, `{"type":3,"invocationId":"123","result":true}`},
		{&Completion{InvocationID: "123", HasResult: true, Result: nil}, `{"type":3,"invocationId":"123","result":null}`},
		{&Completion{InvocationID: "123"}, `{"type":3,"invocationId":"123"}`},
		{&Completion{InvocationID: "123", Error: "Whoops!"}, `{"type":3,"invocationId":"123","error":"Whoops!"}`},
		{&Completion{Headers: headers, InvocationID: "123", Error: "Whoops!"}, `{"type":3,` + serializedHeaders + `,"invocationId":"123","error":"Whoops!"}`},
		{&StreamInvocation{InvocationID: "123", Target: "Target", Arguments: []any{1, "Foo"}}, `{"type":4,"invocationId":"123","target":"Target","arguments":[1,"Foo"]}`},
		{&StreamInvocation{InvocationID: "123", Target: "Target", Arguments: []any{}, StreamIDs: []string{"__test_id__"}}, `{"type":4,"invocationId":"123","target":"Target","arguments":[],"streamIds":["__test_id__"]}`},
		{&CancelInvocation{InvocationID: "123"}, `{"type":5,"invocationId":"123"}`},
		{&CancelInvocation{Headers: headers, InvocationID: "123"}, `{"type":5,` + serializedHeaders + `,"invocationId":"123"}`},
		{&Ping{}, `{"type":6}`},
		{&Close{}, `{"type":7}`},
		{&Close{Error: "Error!"}, `{"type":7,"error":"Error!"}`},
		{&Close{Error: "Connection closed because of an error!", AllowReconnect: true}, `{"type":7,"error":"Connection closed because of an error!","allowReconnect":true}`},
		{&Ack{SequenceID: 1394}, `{"type":8,"sequenceId":1394}`},
		{&Sequence{SequenceID: 1234}, `{"type":9,"sequenceId":1234}`},
		// Go structs use their json tags; HTML characters are not escaped.
		{&StreamItem{InvocationID: "1", Item: point{X: 1, Y: 2, Label: "<a&b>"}}, `{"type":2,"invocationId":"1","item":{"x":1,"y":2,"label":"<a&b>"}}`},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want+rs, string(encode(t, JSON(), tc.msg)))
	}
}

// Records exactly as the official TypeScript client (@microsoft/signalr 10.0.11) writes them,
// produced with its JsonHubProtocol.writeMessage and HubConnection's message shapes.
func TestJSONGoldenReadFromClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Message
	}{
		{`{"target":"Add","arguments":[40,2],"invocationId":"0","type":1}`,
			&Invocation{InvocationID: "0", Target: "Add", Arguments: []any{RawValue("40"), RawValue("2")}}},
		{`{"target":"Send","arguments":["hi",{"a":1,"b":[true,null]}],"type":1}`,
			&Invocation{Target: "Send", Arguments: []any{RawValue(`"hi"`), RawValue(`{"a":1,"b":[true,null]}`)}}},
		{`{"target":"Upload","arguments":[],"invocationId":"1","streamIds":["2"],"type":1}`,
			&Invocation{InvocationID: "1", Target: "Upload", Arguments: []any{}, StreamIDs: []string{"2"}}},
		{`{"target":"Counter","arguments":[5,0.5],"invocationId":"3","type":4}`,
			&StreamInvocation{InvocationID: "3", Target: "Counter", Arguments: []any{RawValue("5"), RawValue("0.5")}}},
		{`{"invocationId":"3","type":5}`, &CancelInvocation{InvocationID: "3"}},
		{`{"invocationId":"2","item":"x","type":2}`, &StreamItem{InvocationID: "2", Item: RawValue(`"x"`)}},
		{`{"invocationId":"2","type":3}`, &Completion{InvocationID: "2"}},
		{`{"invocationId":"s1","result":42,"type":3}`, &Completion{InvocationID: "s1", HasResult: true, Result: RawValue("42")}},
		{`{"invocationId":"s1","result":null,"type":3}`, &Completion{InvocationID: "s1", HasResult: true, Result: RawValue("null")}},
		{`{"error":"Client didn't provide a result.","invocationId":"s1","type":3}`, &Completion{InvocationID: "s1", Error: "Client didn't provide a result."}},
		{`{"type":6}`, &Ping{}},
		{`{"type":7}`, &Close{}},
		{`{"sequenceId":1394,"type":8}`, &Ack{SequenceID: 1394}},
		{`{"sequenceId":19,"type":9}`, &Sequence{SequenceID: 19}},
		// From the client's and the server's own tests: unknown fields, any property order, headers.
		{`{"type":3, "invocationId": "abc", "result": null, "headers": {}, "extraParameter":"value"}`,
			&Completion{InvocationID: "abc", HasResult: true, Result: RawValue("null")}},
		{`{"type":2, "invocationId": "abc", "headers": {"t": "u"}, "item": 8}`,
			&StreamItem{Headers: map[string]string{"t": "u"}, InvocationID: "abc", Item: RawValue("8")}},
		{`{ "arguments": [1,2], "type":1, "target": "Method" }`,
			&Invocation{Target: "Method", Arguments: []any{RawValue("1"), RawValue("2")}}},
		{`{ "type":3, "result": 10, "invocationId": "15" }`, &Completion{InvocationID: "15", HasResult: true, Result: RawValue("10")}},
		{`{ "item": "foo", "invocationId": "1a", "type":2 }`, &StreamItem{InvocationID: "1a", Item: RawValue(`"foo"`)}},
		{`{"type":1,"invocationId":"42","target":"foo","arguments":[],"extraParameter":"1"}`,
			&Invocation{InvocationID: "42", Target: "foo", Arguments: []any{}}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, parseOne(t, JSON(), []byte(tc.in+rs)), tc.in)
	}
}

func TestJSONParseDetails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want Message
	}{
		// Whitespace around the object and inside values is kept exactly in RawValues.
		{"\n {\"type\":1,\"target\":\"T\",\"arguments\":[ { \"a\" : [1, 2] } ,\"x\" ]} \n",
			&Invocation{Target: "T", Arguments: []any{RawValue(`{ "a" : [1, 2] }`), RawValue(`"x"`)}}},
		// Escapes in strings and keys.
		{`{"type":1,"target":"\u00e9\n\"","arguments":[],"invocationId":"\ud83d\udca1"}`,
			&Invocation{InvocationID: "💡", Target: "é\n\"", Arguments: []any{}}},
		{`{"typ\u0065":6}`, &Ping{}},
		// Property names are case-sensitive: "Target" is an unknown property.
		{`{"type":1,"target":"a","Target":"b","arguments":[]}`, &Invocation{Target: "a", Arguments: []any{}}},
		// The last duplicate wins, as in encoding/json.
		{`{"type":1,"target":"a","target":"b","arguments":[]}`, &Invocation{Target: "b", Arguments: []any{}}},
		// A null or empty invocationId on an Invocation means fire-and-forget.
		{`{"type":1,"invocationId":null,"target":"a","arguments":[]}`, &Invocation{Target: "a", Arguments: []any{}}},
		{`{"type":1,"invocationId":"","target":"a","arguments":[]}`, &Invocation{Target: "a", Arguments: []any{}}},
		// Integral numbers in other spellings.
		{`{"type":6.0}`, &Ping{}},
		{`{"type":8,"sequenceId":1e3}`, &Ack{SequenceID: 1000}},
		{`{"type":9,"sequenceId":-5}`, &Sequence{SequenceID: -5}},
		// Optional values that are null.
		{`{"type":7,"error":null,"allowReconnect":null}`, &Close{}},
		{`{"type":7,"allowReconnect":true}`, &Close{AllowReconnect: true}},
		{`{"type":3,"invocationId":"1","error":null,"result":2}`, &Completion{InvocationID: "1", HasResult: true, Result: RawValue("2")}},
		{`{"type":1,"target":"a","arguments":[],"streamIds":null,"headers":null}`, &Invocation{Target: "a", Arguments: []any{}}},
		{`{"type":1,"target":"a","arguments":[],"streamIds":[],"headers":{}}`, &Invocation{Target: "a", Arguments: []any{}}},
		// Both error and result: the error wins.
		{`{"type":3,"invocationId":"1","result":2,"error":"e"}`, &Completion{InvocationID: "1", Error: "e"}},
		// Invalid UTF-8 is replaced, as encoding/json does.
		{"{\"type\":1,\"target\":\"a\xff\",\"arguments\":[]}", &Invocation{Target: "a\ufffd", Arguments: []any{}}},
		// Also in keys (found by FuzzJSONParse: the key must read the same after a round trip).
		{"{\"type\":1,\"headers\":{\"\x9a\":\"\"},\"target\":\"\",\"arguments\":[]}", &Invocation{Headers: map[string]string{"\ufffd": ""}, Arguments: []any{}}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, parseOne(t, JSON(), []byte(tc.in+rs)), tc.in)
	}
}

func TestJSONMalformed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, msg string
	}{
		{``, "Error reading JSON"},
		{`   `, "Error reading JSON"},
		{`garbage`, "Error reading JSON"},
		{`{"type":1`, "Error reading JSON"},
		{`{"type":1}}`, "Error reading JSON"},
		{`{"type":6} {"type":6}`, "Error reading JSON"},
		{`null`, "Expected a JSON object"},
		{`"foo"`, "Expected a JSON object"},
		{`[42]`, "Expected a JSON object"},
		{`{}`, "Missing required property 'type'."},
		{`{"type":"1"}`, "Expected 'type' to be of type Integer."},
		{`{"type":1.5}`, "Expected 'type' to be of type Integer."},
		{`{"type":1e40}`, "Expected 'type' to be of type Integer."},
		{`{"type":null}`, "Expected 'type' to be of type Integer."},
		{`{"type":1,"headers":{"Foo": 42},"target":"test","arguments":[]}`, `Expected header "Foo" to be of type String.`},
		{`{"type":1,"headers":{"Foo": null},"target":"test","arguments":[]}`, `Expected header "Foo" to be of type String.`},
		{`{"type":1,"headers":[],"target":"test","arguments":[]}`, "Expected 'headers' to be of type Object."},
		{`{"type":1}`, "Missing required property 'target'."},
		{`{"type":1,"invocationId":42}`, "Expected 'invocationId' to be of type String."},
		{`{"type":1,"invocationId":"42"}`, "Missing required property 'target'."},
		{`{"type":1,"invocationId":"42","target":42}`, "Expected 'target' to be of type String."},
		{`{"type":1,"invocationId":"42","target":"foo"}`, "Missing required property 'arguments'."},
		{`{"type":1,"invocationId":"42","target":"foo","arguments":{}}`, "Expected 'arguments' to be of type Array."},
		{`{"type":1,"target":"foo","arguments":null}`, "Expected 'arguments' to be of type Array."},
		{`{"type":1,"target":"foo","arguments":[],"streamIds":"1"}`, "Expected 'streamIds' to be of type Array."},
		{`{"type":1,"target":"foo","arguments":[],"streamIds":[1]}`, "Expected 'streamIds' to be of type Array of String."},
		{`{"type":2}`, "Missing required property 'invocationId'."},
		{`{"type":2,"invocationId":42}`, "Expected 'invocationId' to be of type String."},
		{`{"type":2,"invocationId":""}`, "Property 'invocationId' must not be empty."},
		{`{"type":2,"invocationId":"42"}`, "Missing required property 'item'."},
		{`{"type":3}`, "Missing required property 'invocationId'."},
		{`{"type":3,"invocationId":null}`, "Missing required property 'invocationId'."},
		{`{"type":3,"invocationId":42}`, "Expected 'invocationId' to be of type String."},
		{`{"type":3,"invocationId":"42","error":[]}`, "Expected 'error' to be of type String."},
		{`{"type":4}`, "Missing required property 'invocationId'."},
		{`{"type":4,"invocationId":42}`, "Expected 'invocationId' to be of type String."},
		{`{"type":4,"invocationId":"42","target":42}`, "Expected 'target' to be of type String."},
		{`{"type":4,"invocationId":"42","target":"foo"}`, "Missing required property 'arguments'."},
		{`{"type":4,"invocationId":"42","target":"foo","arguments":{}}`, "Expected 'arguments' to be of type Array."},
		{`{"type":5}`, "Missing required property 'invocationId'."},
		{`{"type":7,"error":1}`, "Expected 'error' to be of type String."},
		{`{"type":7,"allowReconnect":"yes"}`, "Expected 'allowReconnect' to be of type Boolean."},
		{`{"type":8}`, "Missing required property 'sequenceId'."},
		{`{"type":9,"sequenceId":"1"}`, "Expected 'sequenceId' to be of type Integer."},
		{`{"type":8,"sequenceId":99999999999999999999}`, "Expected 'sequenceId' to be of type Integer."},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "Error reading JSON"},
	}
	for _, tc := range cases {
		msgs, n, err := JSON().ParseMessages([]byte(tc.in+rs), DefaultMaxMessageSize, nil)
		name := tc.in[:min(len(tc.in), 80)]
		var perr *Error
		require.ErrorAs(t, err, &perr, name)
		require.Contains(t, perr.Msg, tc.msg, name)
		require.Zero(t, n)
		require.Empty(t, msgs)
	}
}

func TestJSONStringEscapingMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"", "plain", `quote " backslash \ slash /`, "<>&", "\u2028\u2029", "\x00\x01\x1f\x7f",
		"\b\f\n\r\t", "é💡✓", "bad \xff\xfe utf8 \xc3", "\xed\xa0\x80 surrogate", strings.Repeat("a\"", 100),
	}
	for b := range 256 {
		inputs = append(inputs, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	for _, s := range inputs {
		require.Equal(t, stdJSON(t, s), string(jsonx.AppendString(nil, s)), "%q", s)
	}
}

func TestJSONFloatMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1.5e-7, 1e-6, 123456789, 1e20, 1e21, 1.7976931348623157e308, 5e-324, -2.5e-9, 0.1 + 0.2} {
		got, err := jsonAppendFloat(nil, f)
		require.NoError(t, err)
		require.Equal(t, stdJSON(t, f), string(got), "%v", f)
	}
	for _, f := range []float64{math.Inf(1), math.Inf(-1), nan()} {
		_, err := jsonAppendFloat(nil, f)
		require.Error(t, err)
	}
}

// stdJSON encodes v with encoding/json, HTML escaping off.
func stdJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestJSONUnmarshal(t *testing.T) {
	t.Parallel()
	inv := parseOne(t, JSON(), []byte(`{"type":1,"target":"T","arguments":[42,"s",{"x":1,"y":2},[1,2],null]}`+rs)).(*Invocation)
	var n int
	require.NoError(t, JSON().Unmarshal(inv.Arguments[0].(RawValue), &n))
	require.Equal(t, 42, n)
	var s string
	require.NoError(t, JSON().Unmarshal(inv.Arguments[1].(RawValue), &s))
	require.Equal(t, "s", s)
	var p point
	require.NoError(t, JSON().Unmarshal(inv.Arguments[2].(RawValue), &p))
	require.Equal(t, point{X: 1, Y: 2}, p)
	var a any
	require.NoError(t, JSON().Unmarshal(inv.Arguments[3].(RawValue), &a))
	require.Equal(t, []any{1.0, 2.0}, a)
	var ptr *point
	require.NoError(t, JSON().Unmarshal(inv.Arguments[4].(RawValue), &ptr))
	require.Nil(t, ptr)
	require.Error(t, JSON().Unmarshal(inv.Arguments[1].(RawValue), &n))
}
