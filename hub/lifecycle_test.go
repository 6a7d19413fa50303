package hub_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{KeepAliveInterval: 50 * time.Millisecond})
	for _, protoName := range []string{"json", "messagepack"} {
		c := f.connect(t, protoName, "")
		for range 3 {
			require.IsType(t, &protocol.Ping{}, c.nextAny(t))
		}
		c.echo(t)
	}
	// No pings on long polling: the poll times out empty.
	g := setup(t, hub.Options{KeepAliveInterval: 20 * time.Millisecond, LongPollTimeout: 200 * time.Millisecond})
	lp := g.longPoll(t, "")
	lp.poll(t)
	lp.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
	_, body := lp.poll(t)
	require.Equal(t, "{}\x1e", string(body))
	code, body := lp.poll(t)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, body)
}

func TestClientTimeout(t *testing.T) {
	t.Parallel()
	reasons := make(chan error, 3)
	f := setup(t, hub.Options{
		ClientTimeout:  200 * time.Millisecond,
		OnDisconnected: func(_ *hub.Context, err error) { reasons <- err },
	})
	for _, protoName := range []string{"json", "messagepack"} {
		c := f.connect(t, protoName, "")
		cl := c.expectClose(t)
		require.Equal(t, "Server timeout elapsed without receiving a message from the client.", cl.Error)
		require.Equal(t, websocket.StatusInternalError, c.closeStatus(t))
		select {
		case err := <-reasons:
			require.ErrorContains(t, err, "client timed out")
		case <-time.After(waitTimeout):
			t.Fatal("OnDisconnected did not run")
		}
	}
	sse := f.sse(t, "")
	sse.readUntil(t, "\r\n")
	sse.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
	sse.event(t)
	for {
		msgs := parseRecords(t, protocol.JSON(), sse.event(t))
		if cl, ok := msgs[len(msgs)-1].(*protocol.Close); ok {
			require.Contains(t, cl.Error, "Server timeout elapsed")
			break
		}
	}
	eventually(t, func() bool { return f.hub.ConnectionCount() == 0 })
}

// A client that never reads, with a small send queue, is disconnected and counted; the others
// keep receiving.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	reasons := map[string]error{}
	f := setup(t, hub.Options{
		SendQueueSize: 4,
		OnDisconnected: func(c *hub.Context, err error) {
			mu.Lock()
			reasons[c.ConnectionID()] = err
			mu.Unlock()
		},
	})
	slow := f.connect(t, "json", "", stalled())
	fast := f.connect(t, "messagepack", "")
	ctx := context.Background()
	payload := strings.Repeat("x", 64<<10)
	const name = "herald_hub_slow_consumer_disconnects_total"
	for i := 0; counter(t, f.reg, name) == 0; i++ {
		require.Less(t, i, 100000, "the slow consumer was never disconnected")
		require.NoError(t, f.hub.Clients().Client(slow.id).Send(ctx, "Big", payload))
	}
	require.Equal(t, 1.0, counter(t, f.reg, name))
	eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return reasons[slow.id] != nil
	})
	mu.Lock()
	require.Contains(t, reasons[slow.id].Error(), "slow consumer")
	mu.Unlock()
	require.Equal(t, 1, f.hub.ConnectionCount())

	// The fast one was not disturbed.
	fast.echo(t)
	require.NoError(t, f.hub.Clients().All().Send(ctx, "Big", payload))
	inv := fast.invocation(t, "Big")
	require.Equal(t, payload, decode[string](t, fast.proto, inv.Arguments[0]))
	require.Equal(t, 1.0, counter(t, f.reg, name))
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	wsJSON := f.connect(t, "json", "")
	wsMsgPack := f.connect(t, "messagepack", "alice")
	sse := f.sse(t, "")
	sse.readUntil(t, "\r\n")
	sse.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
	sse.event(t)
	lp := f.longPoll(t, "")
	lp.poll(t)
	lp.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "messagepack", Version: 1}))
	_, body := lp.poll(t)
	require.Equal(t, "{}\x1e", string(body))
	pending := lp.pollAsync(t)
	eventually(t, func() bool { return hub.PollPending(f.hub, lp.token) })
	f.negotiate(t, "") // a connection whose transport never came

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, f.hub.Shutdown(ctx))

	want := &protocol.Close{Error: "Server is shutting down.", AllowReconnect: true}
	for _, c := range []*wsClient{wsJSON, wsMsgPack} {
		require.Equal(t, want, c.expectClose(t))
		require.Equal(t, websocket.StatusNormalClosure, c.closeStatus(t))
	}
	msgs := parseRecords(t, protocol.JSON(), sse.event(t))
	require.Equal(t, want, msgs[len(msgs)-1])
	r := awaitPoll(t, pending)
	require.Equal(t, http.StatusOK, r.status)
	msgs = parseRecords(t, protocol.MessagePack(), r.body)
	require.Equal(t, want, msgs[len(msgs)-1])
	require.Zero(t, f.hub.ConnectionCount())

	// New connections are refused.
	resp, _ := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	_, resp, err := f.dialWebSocket(ctx, "", "")
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// Shutdown gives up waiting when its context ends and drops who is left.
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	lp := f.longPoll(t, "")
	lp.poll(t)
	lp.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
	// No poll comes to fetch the Close.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, f.hub.Shutdown(ctx), context.DeadlineExceeded)
	require.Zero(t, f.hub.ConnectionCount())
}

func TestConnectionHooks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	connected := map[string]int{}
	disconnected := map[string]int{}
	reasons := map[string]error{}
	users := map[string]string{}
	f := setup(t, hub.Options{
		OnConnected: func(c *hub.Context) error {
			mu.Lock()
			defer mu.Unlock()
			connected[c.ConnectionID()]++
			users[c.ConnectionID()] = c.UserID()
			c.Items().Store("greeting", "hello "+c.UserID())
			return nil
		},
		OnDisconnected: func(c *hub.Context, err error) {
			mu.Lock()
			defer mu.Unlock()
			disconnected[c.ConnectionID()]++
			reasons[c.ConnectionID()] = err
		},
	}, func(h *hub.Hub) {
		h.On("Greeting", func(c *hub.Context) (string, error) {
			v, _ := c.Items().Load("greeting")
			return v.(string), nil
		})
		h.On("Abort", func(c *hub.Context) error { c.Abort(); return nil })
	})
	counts := func(id string) (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return connected[id], disconnected[id]
	}

	byClose := f.connect(t, "json", "alice")
	byDrop := f.connect(t, "messagepack", "bob")
	byServer := f.connect(t, "json", "")
	byTimeout := f.dialWS(t, "json", "") // never completes its handshake
	lp := f.longPoll(t, "carol")
	lp.poll(t)
	lp.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
	lp.poll(t)

	require.Equal(t, "hello alice", result[string](t, byClose, byClose.invoke(t, "Greeting")))
	for _, c := range []*wsClient{byClose, byDrop, byServer} {
		cn, dn := counts(c.id)
		require.Equal(t, 1, cn)
		require.Zero(t, dn)
	}

	byClose.send(t, &protocol.Close{})
	byClose.waitClosed(t)
	require.NoError(t, byDrop.ws.CloseNow())
	byServer.call(t, "Abort")
	cl := byServer.expectClose(t) // the connection is closing: no Completion comes first
	require.Equal(t, "Connection closed by the server.", cl.Error)
	require.Equal(t, websocket.StatusNormalClosure, byServer.closeStatus(t))
	require.Equal(t, http.StatusAccepted, lp.del(t))

	for _, id := range []string{byClose.id, byDrop.id, byServer.id, lp.id} {
		eventually(t, func() bool { _, dn := counts(id); return dn == 1 }, "OnDisconnected for %s", id)
	}
	mu.Lock()
	require.NoError(t, reasons[byClose.id], "a client's Close is a normal end")
	require.NoError(t, reasons[byDrop.id], "a dropped socket is a normal end")
	require.Equal(t, "carol", users[lp.id])
	mu.Unlock()

	shutdown(t, f.hub) // nothing runs twice, even when the hub aborts what is left
	for _, id := range []string{byClose.id, byDrop.id, byServer.id, lp.id} {
		cn, dn := counts(id)
		require.Equal(t, 1, cn, id)
		require.Equal(t, 1, dn, id)
	}
	cn, dn := counts(byTimeout.id)
	require.Zero(t, cn, "no handshake, no OnConnected")
	require.Zero(t, dn, "no OnConnected, no OnDisconnected")
}

// waitPollPending waits until the server holds the pending poll; false when the poll returned
// instead because the connection had ended.
func waitPollPending(t *testing.T, f *fixture, c *lpClient, pending <-chan pollResult) bool {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for !hub.PollPending(f.hub, c.token) {
		select {
		case r := <-pending:
			require.NoError(t, r.err)
			require.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, r.status)
			return false
		case <-tick.C:
		case <-deadline:
			t.Fatal("the poll never arrived")
		}
	}
	return true
}

// DisconnectTimeout drops a negotiated connection whose transport never comes, and a long-polling
// connection that stops polling.
func TestDisconnectTimeout(t *testing.T) {
	t.Parallel()
	reasons := make(chan error, 1)
	f := setup(t, hub.Options{
		DisconnectTimeout: 300 * time.Millisecond,
		OnDisconnected:    func(_ *hub.Context, err error) { reasons <- err },
	})
	n := f.negotiate(t, "")
	eventually(t, func() bool {
		// A POST, unlike a GET, does not bind a transport: 400 while the connection waits for one.
		resp, _ := f.request(t, http.MethodPost, "?id="+n.ConnectionToken, "", nil, nil)
		require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, resp.StatusCode)
		return resp.StatusCode == http.StatusNotFound
	}, "the unused connection is forgotten")

	// While a poll waits the connection cannot time out; between the first poll and the next it
	// can, when the machine is so busy that the next comes late: then try again.
	var lp *lpClient
	for attempt := 0; lp == nil; attempt++ {
		require.Less(t, attempt, 20, "never got a poll in within DisconnectTimeout")
		c := f.longPoll(t, "")
		c.poll(t)
		pending := c.pollAsync(t)
		if !waitPollPending(t, f, c, pending) {
			continue
		}
		c.post(t, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1}))
		require.Equal(t, "{}\x1e", string(awaitPoll(t, pending).body))
		lp = c
	}
	select {
	case err := <-reasons:
		require.ErrorContains(t, err, "stopped polling")
	case <-time.After(waitTimeout):
		t.Fatal("the silent long-polling connection was not dropped")
	}
	eventually(t, func() bool {
		code, _ := lp.poll(t)
		return code == http.StatusNotFound
	})
}
