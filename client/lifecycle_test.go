package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
)

func TestStopFailsWaitingCalls(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		disconnected := make(chan error, 1)
		srv := newServer(t, serverConfig{opts: hub.Options{
			MaxParallelInvocations: 2,
			OnDisconnected:         func(_ *hub.Context, err error) { disconnected <- err },
		}})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ev := watch(c)

		errc := make(chan error, 1)
		go func() { errc <- c.Invoke(ctxT(t), "Sleep", nil, 60_000) }()
		s, err := c.Stream(ctxT(t), "Count", 10, 60_000)
		require.NoError(t, err)
		eventually(t, "both calls are pending", func() bool { return client.PendingCount(c) == 2 })

		require.NoError(t, c.Stop(ctxT(t)))
		err = recv(t, errc, "Invoke's return")
		require.ErrorIs(t, err, client.ErrConnectionClosed)
		require.ErrorIs(t, err, client.ErrStopped)
		require.ErrorIs(t, s.Next(ctxT(t), nil), client.ErrStopped)
		require.NoError(t, recv(t, ev.closed, "OnClose"))
		require.Equal(t, client.Disconnected, c.State())
		require.Empty(t, c.ConnectionID())
		require.NoError(t, recv(t, disconnected, "the hub's OnDisconnected"), "the server saw a clean close")

		require.NoError(t, c.Stop(ctxT(t)), "stopping twice")
		require.Empty(t, ev.closed, "OnClose runs once")
	})
}

func TestStartTwiceAndRestart(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{})
	require.ErrorIs(t, c.Start(ctxT(t)), client.ErrAlreadyStarted)
	first := c.ConnectionID()

	require.NoError(t, c.Stop(ctxT(t)))
	require.NoError(t, c.Start(ctxT(t)))
	require.NotEqual(t, first, c.ConnectionID())
	var s string
	require.NoError(t, c.Invoke(ctxT(t), "Echo", &s, "restarted"))
	require.Equal(t, "restarted", s)
}

func TestStartContextEnds(t *testing.T) {
	t.Parallel()
	// A server that accepts the WebSocket and never answers the handshake.
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) { drain(ctx, ws) })
	c := newClient(t, url, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := c.Start(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, client.Disconnected, c.State())
}

// The client's pings keep a connection alive that the server would otherwise time out.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		keepAlive time.Duration
		survives  bool
	}{
		{"pings in time", 30 * time.Millisecond, true},
		{"pings too late", time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, serverConfig{opts: hub.Options{ClientTimeout: 300 * time.Millisecond, KeepAliveInterval: time.Minute}})
			c := startClient(t, srv.URL, client.Options{KeepAliveInterval: tc.keepAlive})
			ev := watch(c)
			if !tc.survives {
				var ce *client.CloseError
				require.ErrorAs(t, recv(t, ev.closed, "OnClose"), &ce)
				require.Contains(t, ce.Message, "Server timeout elapsed without receiving a message from the client.")
				return
			}
			// Three client timeouts pass without a call.
			select {
			case err := <-ev.closed:
				t.Fatalf("the connection closed: %v", err)
			case <-time.After(900 * time.Millisecond):
			}
			require.NoError(t, c.Invoke(ctxT(t), "Echo", nil, "alive"))
		})
	}
}

func TestServerTimeout(t *testing.T) {
	t.Parallel()
	// The server pings every minute only: the client's 200 ms server timeout ends the connection.
	srv := newServer(t, serverConfig{opts: hub.Options{KeepAliveInterval: time.Minute}})
	c := startClient(t, srv.URL, client.Options{ServerTimeout: 200 * time.Millisecond, KeepAliveInterval: 50 * time.Millisecond})
	ev := watch(c)
	err := recv(t, ev.closed, "OnClose")
	require.ErrorIs(t, err, client.ErrServerTimeout)
	require.NotContains(t, err.Error(), "waited for a handler")
}

// stuckServer is a hub that completes the handshake, then never reads again: the client's socket
// stops draining once the kernel's buffers are full.
func stuckServer(t *testing.T) string {
	return fakeServer(t, func(ctx context.Context, ws *websocket.Conn) {
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		if err := ws.Write(ctx, websocket.MessageText, []byte("{}\x1e")); err != nil {
			return
		}
		<-ctx.Done()
	})
}

// flood sends 16 KB messages until the connection ends.
func flood(c *client.Client) {
	payload := strings.Repeat("x", 16<<10)
	go func() {
		for c.Send(context.Background(), "Echo", payload) == nil {
		}
	}()
}

// While a write is in progress, calls queue in the outgoing buffer; when it is full they wait for
// room, bounded by their context.
func TestWriteBufferBound(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{WriteBufferSize: 4 << 10})
	release := client.HoldWriter(c)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	big := strings.Repeat("b", 8<<10)
	require.NoError(t, c.Send(ctx, "Echo", big), "a message larger than the bound fits an empty buffer")
	require.ErrorIs(t, c.Send(ctx, "Echo", "small"), context.DeadlineExceeded, "the buffer is full")

	done := make(chan error, 1)
	go func() { done <- c.Invoke(ctxT(t), "Echo", nil, "waits for room") }()
	release()
	require.NoError(t, recv(t, done, "the waiting call"), "the call got room once the writer went on")
}

// Stop ends the client in time even when its Close message cannot be written.
func TestStopWithBlockedWriter(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{})
	ev := watch(c)
	client.HoldWriter(c) // never released

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Stop(ctx), context.DeadlineExceeded, "the Close message cannot be written")
	require.NoError(t, recv(t, ev.closed, "OnClose"), "the socket was closed at once: the client ends")
	require.Equal(t, client.Disconnected, c.State())
}

// A write that does not complete within WriteTimeout ends the connection.
func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	c := startClient(t, stuckServer(t), client.Options{WriteTimeout: 500 * time.Millisecond})
	ev := watch(c)
	flood(c)
	require.ErrorContains(t, recv(t, ev.closed, "OnClose"), "client: write: timed out after 500ms")
}

func TestMaxMessageSize(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{opts: hub.Options{MaxMessageSize: 1 << 20}})
	c := startClient(t, srv.URL, client.Options{MaxMessageSize: 1 << 10})
	ev := watch(c)
	err := c.Invoke(ctxT(t), "Echo", nil, strings.Repeat("y", 2<<10))
	require.ErrorIs(t, err, client.ErrConnectionClosed)
	require.ErrorContains(t, err, "exceeds MaxMessageSize (1024 bytes)")
	require.ErrorContains(t, recv(t, ev.closed, "OnClose"), "exceeds MaxMessageSize")
}

// fakeServer serves a hub at the returned URL whose negotiate offers WebSockets and whose WebSocket
// is handed to serve; serve's context ends when the test ends.
func fakeServer(t *testing.T, serve func(ctx context.Context, ws *websocket.Conn)) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/hub/negotiate", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"connectionId":"c1","connectionToken":"t1","negotiateVersion":1,` +
			`"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}`))
	})
	ctx, cancel := context.WithCancel(context.Background())
	mux.HandleFunc("/hub", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ws.SetReadLimit(-1)
		serve(ctx, ws)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(cancel)
	return srv.URL + "/hub"
}

// drain reads until the socket or ctx ends.
func drain(ctx context.Context, ws *websocket.Conn) {
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
	}
}
