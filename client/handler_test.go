package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
)

func TestHandlerReceivesServerInvocations(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := newClient(t, srv.URL, client.Options{Protocol: p})
		got := make(chan point, 1)
		// Registered before Start, with another case than the server uses.
		c.On("Notify", func(_ context.Context, args client.Args) (any, error) {
			if args.Len() != 1 {
				return nil, errors.New("want one argument")
			}
			var pt point
			if err := args.Decode(0, &pt); err != nil {
				return nil, err
			}
			got <- pt
			return nil, nil
		})
		require.NoError(t, c.Start(ctxT(t)))
		want := point{X: 7, Tags: []string{"t"}}
		require.NoError(t, c.Send(ctxT(t), "SendToCaller", "notify", want))
		require.Equal(t, want, recv(t, got, "the handler's call"))
	})
}

func TestHandlersRunInOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{Protocol: client.MessagePack, HandlerQueueSize: 4})
	const n = 300
	got := make(chan int, n)
	c.On("seq", func(_ context.Context, args client.Args) (any, error) {
		var i int
		err := args.Decode(0, &i)
		got <- i
		return nil, err
	})
	ctx := ctxT(t)
	for i := range n {
		require.NoError(t, c.Send(ctx, "SendToCaller", "seq", i))
	}
	for want := range n {
		require.Equal(t, want, recv(t, got, "a handler call"))
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{})
	type seen struct {
		n        int
		raw      string
		outRange error
		outRaw   bool
	}
	got := make(chan seen, 1)
	c.On("args", func(_ context.Context, args client.Args) (any, error) {
		var v any
		got <- seen{n: args.Len(), raw: string(args.Raw(0)), outRange: args.Decode(1, &v), outRaw: args.Raw(5) == nil}
		return nil, nil
	})
	require.NoError(t, c.Send(ctxT(t), "SendToCaller", "args", map[string]int{"a": 1}))
	s := recv(t, got, "the handler's call")
	require.Equal(t, 1, s.n)
	require.JSONEq(t, `{"a":1}`, s.raw)
	require.ErrorContains(t, s.outRange, "argument 1 of 1")
	require.True(t, s.outRaw)
}

func TestClientResults(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ctx := ctxT(t)
		c.On("double", func(_ context.Context, args client.Args) (any, error) {
			var n int
			if err := args.Decode(0, &n); err != nil {
				return nil, err
			}
			return 2 * n, nil
		})
		c.On("refuse", func(context.Context, client.Args) (any, error) {
			return nil, errors.New("not today")
		})
		c.On("explode", func(context.Context, client.Args) (any, error) {
			panic("boom")
		})
		c.On("nothing", func(context.Context, client.Args) (any, error) { return nil, nil })
		c.On("unencodable", func(context.Context, client.Args) (any, error) { return make(chan int), nil })

		var n int
		require.NoError(t, c.Invoke(ctx, "AskCaller", &n, "double", 21))
		require.Equal(t, 42, n)

		var he *client.HubError
		require.ErrorAs(t, c.Invoke(ctx, "AskCaller", nil, "refuse", 1), &he)
		require.Equal(t, "An unexpected error occurred invoking 'AskCaller' on the server. HubException: not today", he.Message)

		require.ErrorAs(t, c.Invoke(ctx, "AskCaller", nil, "explode", 1), &he)
		require.Equal(t, "An unexpected error occurred invoking 'AskCaller' on the server. HubException: handler panicked: boom", he.Message)

		require.ErrorAs(t, c.Invoke(ctx, "AskCaller", nil, "noSuchHandler", 1), &he)
		require.Equal(t, "An unexpected error occurred invoking 'AskCaller' on the server. HubException: Client didn't provide a result.", he.Message)

		require.ErrorAs(t, c.Invoke(ctx, "AskCaller", nil, "unencodable", 1), &he)
		require.Equal(t, "An unexpected error occurred invoking 'AskCaller' on the server. HubException: The client's result could not be serialized.", he.Message)

		var v any = "not null"
		require.NoError(t, c.Invoke(ctx, "AskCaller", &v, "nothing", 1))
		require.Nil(t, v, "a nil result is null")

		// A removed handler no longer answers.
		c.On("double", nil)
		require.ErrorAs(t, c.Invoke(ctx, "AskCaller", nil, "double", 1), &he)
		require.Contains(t, he.Message, "Client didn't provide a result.")
	})
}

// A full handler queue stops the reader; when that lasts longer than the server timeout, the
// connection ends with ErrServerTimeout, and says why.
func TestFullHandlerQueueEndsTheConnection(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{opts: hub.Options{KeepAliveInterval: 20 * time.Millisecond}})
	c := newClient(t, srv.URL, client.Options{HandlerQueueSize: 1, ServerTimeout: 300 * time.Millisecond})
	ev := watch(c)
	release := make(chan struct{})
	started := make(chan struct{}, 8)
	c.On("slow", func(ctx context.Context, _ client.Args) (any, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done(): // the connection ended
		}
		return nil, nil
	})
	require.NoError(t, c.Start(ctxT(t)))
	// One runs, one waits in the queue, the third stops the reader.
	for range 3 {
		require.NoError(t, c.Send(ctxT(t), "SendToCaller", "slow", 0))
	}
	recv(t, started, "the first handler call")
	err := recv(t, ev.closed, "OnClose")
	require.ErrorIs(t, err, client.ErrServerTimeout)
	require.ErrorContains(t, err, "waited for a handler or a stream consumer")
	close(release)
}
