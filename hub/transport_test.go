package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})

	t.Run("version 1", func(t *testing.T) {
		t.Parallel()
		resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var n negotiation
		require.NoError(t, json.Unmarshal(body, &n))
		require.Equal(t, 1, n.NegotiateVersion)
		require.NotEqual(t, n.ConnectionID, n.ConnectionToken, "the token is a secret, the id is public")
		require.Len(t, n.ConnectionID, 22, "16 bytes, base64url")
		var names []string
		for _, tr := range n.AvailableTransports {
			names = append(names, tr.Transport)
		}
		require.Equal(t, []string{"WebSockets", "ServerSentEvents", "LongPolling"}, names)
		require.Equal(t, []string{"Text", "Binary"}, n.AvailableTransports[0].TransferFormats)
		require.Equal(t, []string{"Text"}, n.AvailableTransports[1].TransferFormats)
		require.Equal(t, []string{"Text", "Binary"}, n.AvailableTransports[2].TransferFormats)
	})

	t.Run("version 0", func(t *testing.T) {
		t.Parallel()
		resp, body := f.request(t, http.MethodPost, "/negotiate", "", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var raw map[string]any
		require.NoError(t, json.Unmarshal(body, &raw))
		require.NotContains(t, raw, "connectionToken")
		// The id doubles as the token.
		id := raw["connectionId"].(string)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		ws, _, err := f.dialWebSocket(ctx, id, "")
		require.NoError(t, err)
		defer ws.CloseNow()
	})

	t.Run("GET is refused", func(t *testing.T) {
		t.Parallel()
		resp, _ := f.request(t, http.MethodGet, "/negotiate?negotiateVersion=1", "", nil, nil)
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Equal(t, "POST", resp.Header.Get("Allow"))
	})

	t.Run("bad version", func(t *testing.T) {
		t.Parallel()
		resp, _ := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=x", "", nil, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})

	for _, tok := range []string{"expired", "forged", "bad-signature"} {
		t.Run("token "+tok, func(t *testing.T) {
			t.Parallel()
			resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", tok, nil, nil)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Equal(t, `Bearer error="invalid_token"`, resp.Header.Get("WWW-Authenticate"))
			require.Empty(t, body, "as .NET: the official clients show a body to users as the error")
			// The same in the query string, as browsers send it.
			resp, body = f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1&access_token="+tok, "", nil, nil)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Empty(t, body)
		})
	}
}

func TestRequireAuth(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{RequireAuth: true})
	resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"), "no credentials: no error code (RFC 6750)")
	require.Empty(t, body)
	// A WebSocket without negotiation is refused too.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, resp, err := f.dialWebSocket(ctx, "", "")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	c := f.connect(t, "json", "alice")
	c.echo(t)
}

// An application answers refused credentials its own way with Options.Challenge.
func TestCustomChallenge(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{RequireAuth: true, Challenge: func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		w.WriteHeader(http.StatusUnauthorized)
		if err != nil {
			_, _ = w.Write([]byte("refused"))
		}
	}})
	resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="herald"`, resp.Header.Get("WWW-Authenticate"))
	require.Empty(t, body)
	_, body = f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "forged", nil, nil)
	require.Equal(t, "refused", string(body))
}

func TestTransportRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	status := func(t *testing.T, method, query, user string, hdr http.Header) int {
		t.Helper()
		resp, _ := f.request(t, method, query, user, hdr, nil)
		return resp.StatusCode
	}
	sse := http.Header{"Accept": {"text/event-stream"}}

	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, http.StatusNotFound, status(t, http.MethodGet, "?id=nope", "", nil))
		require.Equal(t, http.StatusNotFound, status(t, http.MethodPost, "?id=nope", "", nil))
		require.Equal(t, http.StatusNotFound, status(t, http.MethodDelete, "?id=nope", "", nil))
		require.Equal(t, http.StatusNotFound, status(t, http.MethodGet, "?id=nope", "", sse))
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, resp, err := f.dialWebSocket(ctx, "nope", "")
		require.Error(t, err)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("missing id", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, http.StatusBadRequest, status(t, http.MethodGet, "", "", nil))
		require.Equal(t, http.StatusBadRequest, status(t, http.MethodPost, "", "", nil))
		require.Equal(t, http.StatusBadRequest, status(t, http.MethodDelete, "", "", nil))
	})

	t.Run("other method", func(t *testing.T) {
		t.Parallel()
		n := f.negotiate(t, "")
		require.Equal(t, http.StatusMethodNotAllowed, status(t, http.MethodPut, "?id="+n.ConnectionToken, "", nil))
	})

	t.Run("connection id is not the token", func(t *testing.T) {
		t.Parallel()
		n := f.negotiate(t, "")
		require.Equal(t, http.StatusNotFound, status(t, http.MethodGet, "?id="+n.ConnectionID, "", nil))
	})

	t.Run("second WebSocket", func(t *testing.T) {
		t.Parallel()
		c := f.connect(t, "json", "")
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, resp, err := f.dialWebSocket(ctx, c.token, "")
		require.Error(t, err)
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		// Nor may another transport take it over.
		require.Equal(t, http.StatusConflict, status(t, http.MethodGet, "?id="+c.token, "", nil))
		require.Equal(t, http.StatusConflict, status(t, http.MethodGet, "?id="+c.token, "", sse))
		c.echo(t)
	})

	t.Run("POST to a WebSocket connection", func(t *testing.T) {
		t.Parallel()
		c := f.connect(t, "json", "")
		resp, body := f.request(t, http.MethodPost, "?id="+c.token, "", nil, c.encode(t, &protocol.Invocation{InvocationID: "x", Target: "Echo", Arguments: []any{"a"}}))
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Contains(t, string(body), "POST requests are not allowed for WebSocket connections.")
		c.echo(t) // the POSTed invocation was not run: Echo's answer is the next message
	})

	t.Run("POST before a transport", func(t *testing.T) {
		t.Parallel()
		n := f.negotiate(t, "")
		hs := protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})
		resp, _ := f.request(t, http.MethodPost, "?id="+n.ConnectionToken, "", nil, hs)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		// The connection can still start.
		lp := &lpClient{f: f, id: n.ConnectionID, token: n.ConnectionToken}
		t.Cleanup(func() { lp.del(t) })
		code, _ := lp.poll(t)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, http.StatusOK, lp.post(t, hs))
		code, body := lp.poll(t)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "{}\x1e", string(body))
	})

	t.Run("another user", func(t *testing.T) {
		t.Parallel()
		n := f.negotiate(t, "alice")
		q := "?id=" + n.ConnectionToken
		require.Equal(t, http.StatusForbidden, status(t, http.MethodGet, q, "bob", nil))
		require.Equal(t, http.StatusForbidden, status(t, http.MethodGet, q, "bob", sse))
		require.Equal(t, http.StatusForbidden, status(t, http.MethodPost, q, "bob", nil))
		require.Equal(t, http.StatusForbidden, status(t, http.MethodDelete, q, "bob", nil))
		require.Equal(t, http.StatusUnauthorized, status(t, http.MethodGet, q, "", nil), "anonymous")
		require.Equal(t, http.StatusUnauthorized, status(t, http.MethodGet, q, "expired", nil), "bad token")
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, resp, err := f.dialWebSocket(ctx, n.ConnectionToken, "bob")
		require.Error(t, err)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		// Alice still can, with the token in the query string as browsers send it.
		ws, _, err := websocket.Dial(ctx, f.wsURL(n.ConnectionToken)+"&access_token=alice", &websocket.DialOptions{HTTPClient: f.srv.Client()})
		require.NoError(t, err)
		ws.CloseNow()
	})

	t.Run("transport not enabled", func(t *testing.T) {
		t.Parallel()
		g := setup(t, hub.Options{Transports: []hub.Transport{hub.LongPolling}})
		n := g.negotiate(t, "")
		require.Len(t, n.AvailableTransports, 1)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, resp, err := g.dialWebSocket(ctx, n.ConnectionToken, "")
		require.Error(t, err)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		_, resp, err = g.dialWebSocket(ctx, "", "")
		require.Error(t, err)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = g.request(t, http.MethodGet, "?id="+n.ConnectionToken, "", sse, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

// A WebSocket without negotiation gets a connection of its own.
func TestSkipNegotiation(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := f.dialWebSocket(ctx, "", "")
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(ctx, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
	_, b, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "{}\x1e", string(b))
	inv, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Echo", Arguments: []any{"x"}})
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, inv))
	_, b, err = ws.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"type":3,"invocationId":"1","result":"x"}`+"\x1e", string(b))
}

func TestWebSocketFrameTypes(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	for _, protoName := range []string{"json", "messagepack"} {
		c := f.dialWS(t, protoName, "")
		// The handshake is accepted in a binary frame as well as in a text frame.
		c.sendRaw(t, websocket.MessageBinary, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: protoName, Version: 2}))
		require.Empty(t, c.handshakeResponse(t))
		c.echo(t)
	}
	// The server answers JSON in text frames and MessagePack in binary frames.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, tc := range []struct {
		proto string
		want  websocket.MessageType
	}{{"json", websocket.MessageText}, {"messagepack", websocket.MessageBinary}} {
		n := f.negotiate(t, "")
		ws, _, err := f.dialWebSocket(ctx, n.ConnectionToken, "")
		require.NoError(t, err)
		require.NoError(t, ws.Write(ctx, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: tc.proto, Version: 1})))
		_, _, err = ws.Read(ctx) // the handshake response
		require.NoError(t, err)
		p := protocol.ByName(tc.proto)
		inv, err := p.AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Add", Arguments: []any{1, 2}})
		require.NoError(t, err)
		require.NoError(t, ws.Write(ctx, tc.want, inv))
		typ, b, err := ws.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, tc.want, typ, tc.proto)
		msgs := parseRecords(t, p, b)
		require.Len(t, msgs, 1)
		require.Equal(t, 3, decode[int](t, p, msgs[0].(*protocol.Completion).Result))
		ws.CloseNow()
	}
}

func TestLongPolling(t *testing.T) {
	t.Parallel()
	// Polls never time out here (the requests give up first): a poll that returns, returns
	// because of what the test did.
	f := setup(t, hub.Options{LongPollTimeout: time.Hour})

	for _, protoName := range []string{"json", "messagepack"} {
		t.Run(protoName, func(t *testing.T) {
			t.Parallel()
			p := protocol.ByName(protoName)
			c := f.longPoll(t, "")

			// The first poll returns at once, empty.
			code, body := c.poll(t)
			require.Equal(t, http.StatusOK, code)
			require.Empty(t, body)

			require.Equal(t, http.StatusOK, c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: protoName, Version: 1})))
			code, body = c.poll(t)
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, "{}\x1e", string(body))

			// A poll waiting when the answer is produced gets it.
			pending := c.pollAsync(t)
			eventually(t, func() bool { return hub.PollPending(f.hub, c.token) })
			inv, err := p.AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Echo", Arguments: []any{"hi"}})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, c.post(t, inv))
			r := awaitPoll(t, pending)
			require.Equal(t, http.StatusOK, r.status)
			msgs := parseRecords(t, p, r.body)
			require.Len(t, msgs, 1)
			require.Equal(t, "hi", decode[string](t, p, msgs[0].(*protocol.Completion).Result))

			// Messages queued between polls come together in the next poll.
			var batch []byte
			for _, id := range []string{"2", "3", "4"} {
				inv, err := p.AppendMessage(nil, &protocol.Invocation{InvocationID: id, Target: "Add", Arguments: []any{1, 1}})
				require.NoError(t, err)
				batch = append(batch, inv...)
			}
			require.Equal(t, http.StatusOK, c.post(t, batch))
			var got []string
			for len(got) < 3 {
				code, body := c.poll(t)
				require.Equal(t, http.StatusOK, code)
				for _, m := range parseRecords(t, p, body) {
					got = append(got, m.(*protocol.Completion).InvocationID)
				}
			}
			require.Equal(t, []string{"2", "3", "4"}, got)

			// DELETE ends the connection; the pending poll gets 204.
			pending = c.pollAsync(t)
			eventually(t, func() bool { return hub.PollPending(f.hub, c.token) })
			require.Equal(t, http.StatusAccepted, c.del(t))
			r = awaitPoll(t, pending)
			require.Equal(t, http.StatusNoContent, r.status)
			code, _ = c.poll(t)
			require.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, code)
			require.Equal(t, http.StatusNotFound, c.post(t, inv))
		})
	}

	t.Run("poll timeout", func(t *testing.T) {
		t.Parallel()
		g := setup(t, hub.Options{LongPollTimeout: 50 * time.Millisecond})
		c := g.longPoll(t, "")
		c.poll(t)
		c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		_, body := c.poll(t)
		require.Equal(t, "{}\x1e", string(body))
		// Nothing to say: the poll returns empty after LongPollTimeout, and the connection lives on.
		code, body := c.poll(t)
		require.Equal(t, http.StatusOK, code)
		require.Empty(t, body)
		inv, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Echo", Arguments: []any{"x"}})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.post(t, inv))
		for len(body) == 0 { // a poll may time out before the answer is queued
			code, body = c.poll(t)
			require.Equal(t, http.StatusOK, code)
		}
		require.Equal(t, `{"type":3,"invocationId":"1","result":"x"}`+"\x1e", string(body))
	})

	t.Run("newer poll wins", func(t *testing.T) {
		t.Parallel()
		c := f.longPoll(t, "")
		code, _ := c.poll(t)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, http.StatusOK, c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
		_, body := c.poll(t)
		require.Equal(t, "{}\x1e", string(body))
		first := c.pollAsync(t)
		eventually(t, func() bool { return hub.PollPending(f.hub, c.token) })
		second := c.pollAsync(t)
		r := awaitPoll(t, first)
		require.Equal(t, http.StatusOK, r.status)
		require.Empty(t, r.body)
		inv, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Echo", Arguments: []any{"x"}})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.post(t, inv))
		r = awaitPoll(t, second)
		require.Equal(t, `{"type":3,"invocationId":"1","result":"x"}`+"\x1e", string(r.body))
	})

	t.Run("server close", func(t *testing.T) {
		t.Parallel()
		g := setup(t, hub.Options{}, func(h *hub.Hub) {
			h.On("Leave", func(c *hub.Context) error { c.Abort(); return nil })
		})
		c := g.longPoll(t, "")
		c.poll(t)
		c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		_, body := c.poll(t)
		require.Equal(t, "{}\x1e", string(body))
		inv, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{Target: "Leave", Arguments: []any{}})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.post(t, inv))
		// The last poll fetches the Close; the next learns the connection is over.
		_, body = c.poll(t)
		msgs := parseRecords(t, protocol.JSON(), body)
		require.NotEmpty(t, msgs)
		require.IsType(t, &protocol.Close{}, msgs[len(msgs)-1])
		code, _ := c.poll(t)
		require.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, code)
	})
}

func TestServerSentEvents(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		c := f.sse(t, "")
		require.Equal(t, http.StatusOK, c.resp.StatusCode)
		require.Equal(t, "text/event-stream", c.resp.Header.Get("Content-Type"))
		require.Equal(t, "no-cache", c.resp.Header.Get("Cache-Control"))
		require.Equal(t, ":\r\n", string(c.readUntil(t, "\r\n")), "a comment opens the stream")

		require.Equal(t, http.StatusOK, c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
		require.Equal(t, "data: {}\x1e\r\n\r\n", string(c.readUntil(t, "\r\n\r\n")))

		// A string with line breaks travels escaped: one data line.
		inv, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Echo", Arguments: []any{"a\nb\r\nc"}})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.post(t, inv))
		ev := c.readUntil(t, "\r\n\r\n")
		require.Equal(t, `data: {"type":3,"invocationId":"1","result":"a\nb\r\nc"}`+"\x1e\r\n\r\n", string(ev))

		// Raw line breaks the client put between JSON tokens come back as several data lines.
		require.Equal(t, http.StatusOK, c.post(t, []byte("{\"type\":1,\"invocationId\":\"2\",\"target\":\"Echo\",\"arguments\":[\n{\"a\":\r\n1}]}\x1e")))
		// Echo takes a string: binding fails, which proves the message arrived.
		msgs := parseRecords(t, protocol.JSON(), c.event(t))
		require.Len(t, msgs, 1)
		require.Equal(t, "Failed to invoke 'Echo' due to an error on the server.", msgs[0].(*protocol.Completion).Error)
	})

	t.Run("raw value with line breaks", func(t *testing.T) {
		t.Parallel()
		g := setup(t, hub.Options{}, func(h *hub.Hub) {
			h.On("Raw", func(_ *hub.Context, v protocol.RawValue) (protocol.RawValue, error) { return v, nil })
		})
		c := g.sse(t, "")
		c.readUntil(t, "\r\n")
		c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		c.event(t)
		c.post(t, []byte("{\"type\":1,\"invocationId\":\"1\",\"target\":\"Raw\",\"arguments\":[{\"a\":\r\n[1,\n2]}]}\x1e"))
		ev := c.event(t)
		msgs := parseRecords(t, protocol.JSON(), ev)
		require.Len(t, msgs, 1)
		var v map[string][]int
		require.NoError(t, json.Unmarshal(msgs[0].(*protocol.Completion).Result.(protocol.RawValue), &v))
		require.Equal(t, map[string][]int{"a": {1, 2}}, v)
	})

	t.Run("messagepack is refused", func(t *testing.T) {
		t.Parallel()
		c := f.sse(t, "")
		c.readUntil(t, "\r\n")
		require.Equal(t, http.StatusOK, c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "messagepack", Version: 1})))
		payload := c.event(t)
		errText, _, err := protocol.ParseHandshakeResponse(payload)
		require.NoError(t, err)
		require.Equal(t, "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format.", errText)
		// The stream ends.
		for range c.chunks {
		}
	})

	t.Run("client close", func(t *testing.T) {
		t.Parallel()
		c := f.sse(t, "")
		c.readUntil(t, "\r\n")
		c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		c.event(t)
		close, err := protocol.JSON().AppendMessage(nil, &protocol.Close{})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, c.post(t, close))
		for range c.chunks {
		}
		eventually(t, func() bool {
			resp, _ := f.request(t, http.MethodPost, c.query(), "", nil, nil)
			return resp.StatusCode == http.StatusNotFound
		})
	})

	t.Run("POST with an error in the body closes", func(t *testing.T) {
		t.Parallel()
		c := f.sse(t, "")
		c.readUntil(t, "\r\n")
		c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		c.event(t)
		require.Equal(t, http.StatusOK, c.post(t, []byte("garbage\x1e")))
		msgs := parseRecords(t, protocol.JSON(), c.event(t))
		require.Len(t, msgs, 1)
		require.True(t, strings.HasPrefix(msgs[0].(*protocol.Close).Error, "Connection closed with an error"))
		for range c.chunks {
		}
	})
}

func TestAllowedOrigins(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{AllowedOrigins: []string{"https://*.example.com"}})
	dial := func(origin string) int {
		n := f.negotiate(t, "")
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, f.wsURL(n.ConnectionToken), &websocket.DialOptions{
			HTTPClient: f.srv.Client(), HTTPHeader: http.Header{"Origin": {origin}},
		})
		if err == nil {
			ws.CloseNow()
		}
		return resp.StatusCode
	}
	require.Equal(t, http.StatusSwitchingProtocols, dial("https://app.example.com"))
	require.Equal(t, http.StatusForbidden, dial("https://evil.example.org"))
	require.Equal(t, http.StatusForbidden, dial("http://app.example.com"), "the scheme is part of the origin")
}
