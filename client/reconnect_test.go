package client_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
)

// fastRetries retries at once, then every 20 ms for about 10 s.
func fastRetries() client.Delays {
	d := client.Delays{0}
	for range 500 {
		d = append(d, 20*time.Millisecond)
	}
	return d
}

// A server that shuts down sends Close{allowReconnect: true}; the client reconnects to the server
// that comes back on the same address.
func TestReconnectAfterServerRestart(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		l := listen(t)
		addr := l.Addr().String()
		first := newServer(t, serverConfig{listener: l})
		c := startClient(t, first.URL, client.Options{Protocol: p, Reconnect: fastRetries()})
		ev := watch(c)
		firstID := c.ConnectionID()
		require.NotEmpty(t, firstID)
		first.Close(t)
		err := recv(t, ev.reconnecting, "OnReconnecting")
		var ce *client.CloseError
		require.ErrorAs(t, err, &ce)
		require.True(t, ce.AllowReconnect)
		require.Equal(t, "Server is shutting down.", ce.Message)
		require.Equal(t, client.Reconnecting, c.State())
		require.ErrorIs(t, c.Invoke(ctxT(t), "Echo", nil, "x"), client.ErrNotConnected)

		l2, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		newServer(t, serverConfig{listener: l2})
		newID := recv(t, ev.reconnected, "OnReconnected")
		require.NotEqual(t, firstID, newID, "a reconnect is a new connection")
		require.Equal(t, newID, c.ConnectionID())
		require.Equal(t, client.Connected, c.State())

		var s string
		require.NoError(t, c.Invoke(ctxT(t), "Echo", &s, "back"))
		require.Equal(t, "back", s)
		require.Empty(t, ev.closed)
	})
}

// A connection cut without a Close message (a network failure) is reconnected too, and the calls
// that were waiting fail.
func TestReconnectAfterNetworkFailure(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		l := &connTracker{Listener: listen(t)}
		srv := newServer(t, serverConfig{listener: l})
		c := startClient(t, srv.URL, client.Options{Protocol: p, Reconnect: fastRetries()})
		ev := watch(c)
		firstID := c.ConnectionID()

		errc := make(chan error, 1)
		go func() { errc <- c.Invoke(ctxT(t), "Sleep", nil, 60_000) }()
		eventually(t, "the invocation is pending", func() bool { return client.PendingCount(c) == 1 })
		l.cut()

		err := recv(t, errc, "Invoke's return")
		require.ErrorIs(t, err, client.ErrConnectionClosed)
		reason := recv(t, ev.reconnecting, "OnReconnecting")
		require.Error(t, reason)
		require.ErrorContains(t, err, reason.Error(), "the call's error says why the connection ended")

		newID := recv(t, ev.reconnected, "OnReconnected")
		require.NotEqual(t, firstID, newID)
		var s string
		require.NoError(t, c.Invoke(ctxT(t), "Echo", &s, "again"))
		require.Equal(t, "again", s)
	})
}

// A Close message without allowReconnect (here from Context.Abort) ends the client: no reconnect.
func TestNoReconnectWhenTheServerForbidsIt(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{register: func(h *hub.Hub) {
		h.On("Kick", func(c *hub.Context) error {
			c.Abort()
			return nil
		})
	}})
	c := startClient(t, srv.URL, client.Options{Reconnect: fastRetries()})
	ev := watch(c)
	require.NoError(t, c.Send(ctxT(t), "Kick"))

	err := recv(t, ev.closed, "OnClose")
	var ce *client.CloseError
	require.ErrorAs(t, err, &ce)
	require.False(t, ce.AllowReconnect)
	require.Equal(t, "Connection closed by the server.", ce.Message)
	require.Empty(t, ev.reconnecting)
	require.Equal(t, client.Disconnected, c.State())
	require.ErrorIs(t, c.Invoke(ctxT(t), "Echo", nil, 1), client.ErrNotConnected)

	// It may be started again.
	require.NoError(t, c.Start(ctxT(t)))
	require.NoError(t, c.Invoke(ctxT(t), "Echo", nil, 1))
}

// Without a reconnect policy a dropped connection ends the client.
func TestNoReconnectPolicy(t *testing.T) {
	t.Parallel()
	l := &connTracker{Listener: listen(t)}
	srv := newServer(t, serverConfig{listener: l})
	c := startClient(t, srv.URL, client.Options{})
	ev := watch(c)
	l.cut()
	require.Error(t, recv(t, ev.closed, "OnClose"))
	require.Empty(t, ev.reconnecting)
	require.Equal(t, client.Disconnected, c.State())
}

func TestReconnectGivesUp(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{Reconnect: client.Delays{time.Millisecond, 10 * time.Millisecond}})
	ev := watch(c)
	srv.Close(t)
	recv(t, ev.reconnecting, "OnReconnecting")
	err := recv(t, ev.closed, "OnClose")
	require.ErrorContains(t, err, "reconnecting gave up after 2 attempts")
	require.Empty(t, ev.reconnected)
	require.Equal(t, client.Disconnected, c.State())
}

func TestStopWhileReconnecting(t *testing.T) {
	t.Parallel()
	l := &connTracker{Listener: listen(t)}
	srv := newServer(t, serverConfig{listener: l})
	c := startClient(t, srv.URL, client.Options{Reconnect: client.Delays{time.Hour}})
	ev := watch(c)
	l.cut()
	recv(t, ev.reconnecting, "OnReconnecting")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Stop(ctx))
	require.NoError(t, recv(t, ev.closed, "OnClose"), "a stopped client closes without error")
	require.Equal(t, client.Disconnected, c.State())
	require.Empty(t, ev.reconnected)
}
