package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/conformance"
	"github.com/heraldhq/herald/hub/protocol"
)

type point struct {
	X    int      `json:"x"`
	Y    float64  `json:"y"`
	Tags []string `json:"tags"`
}

func TestInvokeEcho(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ctx := ctxT(t)

		var s string
		require.NoError(t, c.Invoke(ctx, "Echo", &s, "héllo \u2603 \"quoted\""))
		require.Equal(t, "héllo \u2603 \"quoted\"", s)

		var i int64
		require.NoError(t, c.Invoke(ctx, "Echo", &i, int64(-1)<<40))
		require.Equal(t, int64(-1)<<40, i)

		var f float64
		require.NoError(t, c.Invoke(ctx, "Echo", &f, 2.5))
		require.Equal(t, 2.5, f)

		var b bool
		require.NoError(t, c.Invoke(ctx, "Echo", &b, true))
		require.True(t, b)

		nilResult := &point{X: 1}
		require.NoError(t, c.Invoke(ctx, "Echo", &nilResult, nil))
		require.Nil(t, nilResult)

		var pt point
		require.NoError(t, c.Invoke(ctx, "Echo", &pt, point{X: 3, Y: -0.5, Tags: []string{"a", "b"}}))
		require.Equal(t, point{X: 3, Y: -0.5, Tags: []string{"a", "b"}}, pt)

		var m map[string]any
		require.NoError(t, c.Invoke(ctx, "Echo", &m, map[string]any{"k": "v", "n": []any{"x"}}))
		require.Equal(t, map[string]any{"k": "v", "n": []any{"x"}}, m)

		var list []int
		require.NoError(t, c.Invoke(ctx, "Echo", &list, []int{1, 2, 3}))
		require.Equal(t, []int{1, 2, 3}, list)

		var raw protocol.RawValue
		require.NoError(t, c.Invoke(ctx, "echo", &raw, "case-insensitive"))
		var back string
		require.NoError(t, p2proto(p).Unmarshal(raw, &back))
		require.Equal(t, "case-insensitive", back)

		// A nil result pointer ignores the result.
		require.NoError(t, c.Invoke(ctx, "Echo", nil, "ignored"))
	})
}

func p2proto(p client.Protocol) protocol.HubProtocol { return protocol.ByName(string(p)) }

func TestInvokeErrors(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ctx := ctxT(t)

		err := c.Invoke(ctx, "Fail", nil, "it broke")
		var he *client.HubError
		require.ErrorAs(t, err, &he)
		require.Equal(t, "An unexpected error occurred invoking 'Fail' on the server. HubException: it broke", he.Message)
		require.EqualError(t, err, "client: hub error: An unexpected error occurred invoking 'Fail' on the server. HubException: it broke")

		err = c.Invoke(ctx, "NoSuchMethod", nil)
		require.ErrorAs(t, err, &he)
		require.Equal(t, "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.", he.Message)

		// A result that does not fit the target is a decode error, not a hub error.
		var n int
		err = c.Invoke(ctx, "Echo", &n, "not a number")
		require.Error(t, err)
		require.NotErrorAs(t, err, &he)
		require.Contains(t, err.Error(), "decode the result of Echo")

		// A send-only channel cannot be a stream.
		err = c.Invoke(ctx, "Echo", nil, make(chan<- int))
		require.ErrorContains(t, err, "send-only channel")

		// The connection is still fine.
		var s string
		require.NoError(t, c.Invoke(ctx, "Echo", &s, "still here"))
		require.Equal(t, "still here", s)
	})
}

func TestInvokeContextEnds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{opts: hub.Options{MaxParallelInvocations: 4}})
	c := startClient(t, srv.URL, client.Options{})

	ctx, cancel := context.WithCancel(ctxT(t))
	errc := make(chan error, 1)
	go func() { errc <- c.Invoke(ctx, "Sleep", nil, 60_000) }()
	eventually(t, "the invocation is pending", func() bool { return client.PendingCount(c) == 1 })
	cancel()
	require.ErrorIs(t, recv(t, errc, "Invoke's return"), context.Canceled)
	require.Equal(t, 0, client.PendingCount(c), "a cancelled invocation is forgotten")

	var s string
	require.NoError(t, c.Invoke(ctxT(t), "Echo", &s, "after"))
	require.Equal(t, "after", s)
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{opts: hub.Options{MaxParallelInvocations: 8}})
		c := startClient(t, srv.URL, client.Options{Protocol: p, WriteBufferSize: 512})
		ctx := ctxT(t)
		var wg sync.WaitGroup
		errs := make(chan error, 32*20)
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					want := fmt.Sprintf("%d-%d", g, i)
					var got string
					if err := c.Invoke(ctx, "Echo", &got, want); err != nil {
						errs <- err
						return
					}
					if got != want {
						errs <- fmt.Errorf("got %q, want %q", got, want)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

func TestWhoAmI(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{})
	var me conformance.WhoAmI
	require.NoError(t, c.Invoke(ctxT(t), "WhoAmI", &me))
	require.Nil(t, me.UserID)
	require.NotEmpty(t, me.ConnectionID)
	require.Equal(t, me.ConnectionID, c.ConnectionID())
	require.Equal(t, client.Connected, c.State())
}

func TestCallsWithoutConnection(t *testing.T) {
	t.Parallel()
	c := newClient(t, "http://127.0.0.1:1/hub", client.Options{})
	ctx := ctxT(t)
	require.ErrorIs(t, c.Invoke(ctx, "Echo", nil, 1), client.ErrNotConnected)
	require.ErrorIs(t, c.Send(ctx, "Echo", 1), client.ErrNotConnected)
	_, err := c.Stream(ctx, "Count", 1, 0)
	require.ErrorIs(t, err, client.ErrNotConnected)
	require.Equal(t, client.Disconnected, c.State())
	require.Empty(t, c.ConnectionID())
	require.NoError(t, c.Stop(ctx), "stopping a client that never started")
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		url  string
		opts client.Options
		want string
	}{
		"scheme":             {"ftp://example.com/hub", client.Options{}, "scheme must be"},
		"host":               {"http:///hub", client.Options{}, "no host"},
		"protocol":           {"http://example.com/hub", client.Options{Protocol: "xml"}, `unknown protocol "xml"`},
		"negative":           {"http://example.com/hub", client.Options{ServerTimeout: -1}, "ServerTimeout must be positive"},
		"client and address": {"http://example.com/hub", client.Options{HTTPClient: http.DefaultClient, LocalAddr: &net.TCPAddr{}}, "only when HTTPClient is nil"},
		"dialer and address": {"http://example.com/hub", client.Options{Dialer: &net.Dialer{}, LocalAddr: &net.TCPAddr{}}, "not both"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := client.New(tc.url, tc.opts)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := client.Options{}.WithDefaults()
	require.Equal(t, client.JSON, o.Protocol)
	require.NotNil(t, o.Logger)
	require.Equal(t, "15s", o.HandshakeTimeout.String())
	require.Equal(t, "15s", o.KeepAliveInterval.String())
	require.Equal(t, "30s", o.ServerTimeout.String())
	require.Nil(t, o.Reconnect, "no automatic reconnect unless asked")
}

func TestDelays(t *testing.T) {
	t.Parallel()
	d, ok := client.DefaultReconnect.NextDelay(client.RetryContext{})
	require.True(t, ok)
	require.Zero(t, d)
	d, ok = client.DefaultReconnect.NextDelay(client.RetryContext{Retries: 3})
	require.True(t, ok)
	require.Equal(t, "30s", d.String())
	_, ok = client.DefaultReconnect.NextDelay(client.RetryContext{Retries: 4, Reason: errors.New("x")})
	require.False(t, ok)
}
