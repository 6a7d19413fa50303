package hub_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// nodes serves n hubs named "test" on one bus: the nodes of a cluster.
func nodes(t *testing.T, n int, register ...func(*hub.Hub)) []*fixture {
	t.Helper()
	bus := backplane.NewBus()
	out := make([]*fixture, n)
	for i := range out {
		reg := prometheus.NewRegistry()
		h, err := hub.New("test", hub.Options{
			Backplane: bus.Node(), Logger: discardLogger, Authenticate: testAuthenticate, Metrics: hub.NewMetrics(reg),
		})
		require.NoError(t, err)
		registerBasics(h)
		for _, r := range register {
			r(h)
		}
		out[i] = serve(t, h, reg)
	}
	return out
}

// Behind a round-robin load balancer, a client's negotiate, transport and send requests reach
// different nodes. Each transport works anyway, with no sticky sessions.
func TestNoStickySessions(t *testing.T) {
	t.Parallel()
	ns := nodes(t, 2, registerClientsAPI)
	a, b := ns[0], ns[1]
	ctx := context.Background()

	t.Run("WebSockets", func(t *testing.T) {
		n := a.negotiate(t, "alice")
		c := b.openWS(t, n, "json", "alice") // negotiated on a, connected to b
		c.sendRaw(t, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		require.Empty(t, c.handshakeResponse(t))
		require.Equal(t, "hi", result[string](t, c, c.invoke(t, "Echo", "hi")))
		require.NotNil(t, hub.ConnectionOf(b.hub, n.ConnectionID), "node b holds the connection")
		require.Nil(t, hub.ConnectionOf(a.hub, n.ConnectionID), "node a handed it over")
		require.NoError(t, a.hub.Clients().Client(n.ConnectionID).Send(ctx, "Msg", "from a"))
		require.Equal(t, "from a", decode[string](t, c.proto, c.invocation(t, "Msg").Arguments[0]))

		// The token works once: a second WebSocket with it, on either node, is refused.
		for _, f := range ns {
			_, resp, err := f.dialWebSocket(ctx, n.ConnectionToken, "alice")
			require.Error(t, err)
			require.NotEqual(t, http.StatusSwitchingProtocols, resp.StatusCode)
		}
	})

	t.Run("LongPolling", func(t *testing.T) {
		n := a.negotiate(t, "bob")
		onA := &lpClient{f: a, id: n.ConnectionID, token: n.ConnectionToken, user: "bob"}
		onB := &lpClient{f: b, id: n.ConnectionID, token: n.ConnectionToken, user: "bob"}
		status, _ := onB.poll(t) // the first poll, forwarded to a
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, http.StatusOK, onB.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
		status, body := onA.poll(t)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "{}\x1e", string(body))

		// A send through b, its completion polled through b.
		inv, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Echo", Arguments: []any{"polled"}})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, onB.post(t, inv))
		status, body = onB.poll(t)
		require.Equal(t, http.StatusOK, status)
		msgs := parseRecords(t, protocol.JSON(), body)
		require.Len(t, msgs, 1)
		comp := msgs[0].(*protocol.Completion)
		require.Equal(t, "polled", decode[string](t, protocol.JSON(), comp.Result))

		// A message from b's side reaches a poll waiting on b for the connection on a.
		pending := onB.pollAsync(t)
		eventually(t, func() bool { return hub.PollPending(a.hub, n.ConnectionToken) }, "the poll waits on node a")
		require.NoError(t, b.hub.Clients().User("bob").Send(ctx, "Msg", "to bob"))
		r := awaitPoll(t, pending)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, string(r.body), "to bob")

		// Another user's request for the connection is refused, wherever it arrives.
		for _, f := range ns {
			resp, _ := f.request(t, http.MethodGet, "?id="+n.ConnectionToken, "mallory", nil, nil)
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
		}

		require.Equal(t, http.StatusAccepted, onB.del(t))
		eventually(t, func() bool { return hub.ConnectionOf(a.hub, n.ConnectionID) == nil })
	})

	t.Run("ServerSentEvents", func(t *testing.T) {
		n := a.negotiate(t, "carol")
		c := b.openSSE(t, n, "carol") // negotiated on a, the stream on b
		onA := &lpClient{f: a, id: n.ConnectionID, token: n.ConnectionToken, user: "carol"}
		require.Equal(t, ":\r\n", string(c.readUntil(t, "\r\n")))
		// The handshake and the sends go to a, which forwards them to b.
		require.Equal(t, http.StatusOK, onA.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
		require.Equal(t, "{}\x1e", string(c.event(t)))
		require.NoError(t, a.hub.Clients().User("carol").Send(ctx, "Msg", "streamed"))
		require.Contains(t, string(c.event(t)), "streamed")
		require.NotNil(t, hub.ConnectionOf(b.hub, n.ConnectionID))
	})

	t.Run("unknown token", func(t *testing.T) {
		for _, f := range ns {
			for _, token := range []string{"nope", "nope.secret", strings.Repeat("x", 300)} {
				resp, body := f.request(t, http.MethodGet, "?id="+token, "", nil, nil)
				require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
			}
		}
	})

	t.Run("a guessed secret", func(t *testing.T) {
		n := a.negotiate(t, "dave")
		id, _, _ := strings.Cut(n.ConnectionToken, ".")
		require.Equal(t, n.ConnectionID, id, "the token starts with the connection id")
		resp, _ := b.request(t, http.MethodGet, "?id="+id+".guess", "dave", nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = b.request(t, http.MethodGet, "?id="+id, "dave", nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "the id alone is not the token")
	})
}

// A node drains promptly whatever came through another node: a WebSocket it took over, and long
// polls it forwards for connections of other nodes.
func TestDrainAfterTakeOverAndForwarding(t *testing.T) {
	t.Parallel()
	ns := nodes(t, 2, registerClientsAPI)
	a, b := ns[0], ns[1]
	n := a.negotiate(t, "alice")
	c := b.openWS(t, n, "json", "alice")
	c.sendRaw(t, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
	require.Empty(t, c.handshakeResponse(t))

	lpn := a.negotiate(t, "bob")
	onB := &lpClient{f: b, id: lpn.ConnectionID, token: lpn.ConnectionToken, user: "bob"}
	onA := &lpClient{f: a, id: lpn.ConnectionID, token: lpn.ConnectionToken, user: "bob"}
	t.Cleanup(func() { onA.del(t) })
	status, _ := onB.poll(t)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, http.StatusOK, onB.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
	status, _ = onB.poll(t) // the handshake response
	require.Equal(t, http.StatusOK, status)
	pending := onB.pollAsync(t) // waits on a, through b
	eventually(t, func() bool { return hub.PollPending(a.hub, lpn.ConnectionToken) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, b.hub.Shutdown(ctx))
	require.Less(t, time.Since(start), 2*time.Second, "b drains at once")
	require.True(t, c.expectClose(t).AllowReconnect)
	r := awaitPoll(t, pending)
	require.Equal(t, http.StatusOK, r.status, "the forwarded poll ends; the client polls again, elsewhere")
	require.NotNil(t, hub.ConnectionOf(a.hub, lpn.ConnectionID), "the long-polling connection lives on a")

	// A drained node takes nothing over: the client's WebSocket goes elsewhere.
	later := a.negotiate(t, "carol")
	_, resp, err := b.dialWebSocket(ctx, later.ConnectionToken, "carol")
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotNil(t, hub.ConnectionOf(a.hub, later.ConnectionID), "a keeps the negotiated connection")
}

// A node that dies without a word (SIGKILL) leaves the polls forwarded to it waiting: the
// forwarding node sees its channel empty and answers 404, so the client reconnects at once
// instead of after its own poll timeout.
func TestForwardedPollEndsWhenTheOwnerDies(t *testing.T) {
	t.Parallel()
	bus := backplane.NewBus()
	bpA := bus.Node()
	mk := func(bp backplane.Backplane) *fixture {
		reg := prometheus.NewRegistry()
		h, err := hub.New("test", hub.Options{Backplane: bp, Logger: discardLogger, Authenticate: testAuthenticate, Metrics: hub.NewMetrics(reg)})
		require.NoError(t, err)
		registerBasics(h)
		return serve(t, h, reg)
	}
	a, b := mk(bpA), mk(bus.Node())
	n := a.negotiate(t, "bob")
	onA := &lpClient{f: a, id: n.ConnectionID, token: n.ConnectionToken, user: "bob"}
	t.Cleanup(func() { onA.del(t) })
	onB := &lpClient{f: b, id: n.ConnectionID, token: n.ConnectionToken, user: "bob"}
	status, _ := onB.poll(t)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, http.StatusOK, onB.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
	status, _ = onB.poll(t)
	require.Equal(t, http.StatusOK, status)
	pending := onB.pollAsync(t)
	eventually(t, func() bool { return hub.PollPending(a.hub, n.ConnectionToken) })

	start := time.Now()
	require.NoError(t, bpA.Close()) // a is gone from the bus, as a killed process from Redis
	r := awaitPoll(t, pending)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Less(t, time.Since(start), 2*hub.ProbeEvery+time.Second)
}
