package hub_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// FuzzReceive feeds arbitrary bytes to a long-polling connection's POST, as its handshake or after
// a valid JSON or MessagePack handshake. The server must not panic (a handler panic would fail the
// request), and a healthy WebSocket connection on the same hub must still answer afterwards.
func FuzzReceive(f *testing.F) {
	fx := setup(f, hub.Options{
		MaxMessageSize:    4096,
		LongPollTimeout:   5 * time.Millisecond,
		DisconnectTimeout: time.Second,
	})
	healthy := fx.connect(f, "json", "")

	jsonHS := protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})
	mpHS := protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "messagepack", Version: 1})
	const (
		asHandshake = iota
		afterJSON
		afterMessagePack
	)
	seed := func(mode int, p protocol.HubProtocol, msgs ...protocol.Message) {
		var b []byte
		for _, m := range msgs {
			var err error
			b, err = p.AppendMessage(b, m)
			require.NoError(f, err)
		}
		f.Add(uint8(mode), b)
	}
	f.Add(uint8(asHandshake), jsonHS)
	f.Add(uint8(asHandshake), mpHS)
	f.Add(uint8(asHandshake), []byte(`{"protocol":"json","version":1}`))
	f.Add(uint8(asHandshake), []byte(`{"protocol":"xml","version":1}`+"\x1e"))
	f.Add(uint8(asHandshake), []byte(`{"protocol":"json","version":99}`+"\x1e"+`{"type":6}`+"\x1e"))
	f.Add(uint8(asHandshake), []byte("\x1e\x1e\x1e"))
	f.Add(uint8(afterJSON), []byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["x"]}`+"\x1e"))
	f.Add(uint8(afterJSON), []byte(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,"x"]}`+"\x1e{\"type\":6}\x1e"))
	f.Add(uint8(afterJSON), []byte(`{"type":4,"invocationId":"1","target":"Echo","arguments":[],"streamIds":["a","a"]}`+"\x1e"))
	f.Add(uint8(afterJSON), []byte(`{"type":2,"invocationId":"a","item":{"x":[1,2,{}]}}`+"\x1e"+`{"type":3,"invocationId":"a"}`+"\x1e"))
	f.Add(uint8(afterJSON), []byte(`{"type":7,"error":"bye"}`+"\x1e"+`{"type":1,"target":"Void","arguments":[]}`+"\x1e"))
	f.Add(uint8(afterJSON), []byte(`{"type":99}`+"\x1e"+`not json`+"\x1e"))
	f.Add(uint8(afterMessagePack), []byte("\x80\x80\x80\x80\x08"))
	f.Add(uint8(afterMessagePack), []byte("\x03\x92\x63\x80"))
	seed(afterMessagePack, protocol.MessagePack(),
		&protocol.Invocation{InvocationID: "1", Target: "Add", Arguments: []any{1, 2}},
		&protocol.StreamInvocation{InvocationID: "2", Target: "Echo", Arguments: []any{"a"}},
		&protocol.Invocation{Target: "Echo", Arguments: []any{"a"}, StreamIDs: []string{"s"}},
		&protocol.StreamItem{InvocationID: "s", Item: 1},
		&protocol.Completion{InvocationID: "s", Error: "x"},
		&protocol.CancelInvocation{InvocationID: "2"},
		&protocol.Ping{}, &protocol.Ack{SequenceID: 1}, &protocol.Sequence{SequenceID: 1},
		&protocol.Close{Error: "x", AllowReconnect: true})
	seed(afterJSON, protocol.JSON(),
		&protocol.Invocation{InvocationID: "1", Target: "echo", Arguments: []any{"a\x1eb"}},
		&protocol.Completion{InvocationID: "s1", HasResult: true, Result: map[string]any{"a": []any{1.5, nil, true}}})

	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		var body []byte
		switch mode % 3 {
		case afterJSON:
			body = append(append(body, jsonHS...), data...)
		case afterMessagePack:
			body = append(append(body, mpHS...), data...)
		default:
			body = data
		}
		lp := &lpClient{f: fx}
		n := fx.negotiate(t, "")
		lp.id, lp.token = n.ConnectionID, n.ConnectionToken
		code, _ := lp.poll(t)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, http.StatusOK, lp.post(t, body))
		code, _ = lp.poll(t)
		require.Contains(t, []int{http.StatusOK, http.StatusNoContent, http.StatusNotFound}, code)
		require.Contains(t, []int{http.StatusAccepted, http.StatusNotFound}, lp.del(t))
		healthy.echo(t)
	})
}
