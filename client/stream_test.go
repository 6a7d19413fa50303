package client_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub/protocol"
)

func TestStream(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p, StreamBufferSize: 2})
		ctx := ctxT(t)

		s, err := c.Stream(ctx, "Count", 50, 0)
		require.NoError(t, err)
		defer s.Close()
		for want := range 50 {
			var got int
			require.NoError(t, s.Next(ctx, &got))
			require.Equal(t, want, got)
		}
		require.ErrorIs(t, s.Next(ctx, nil), io.EOF)
		require.ErrorIs(t, s.Next(ctx, nil), io.EOF, "the end is sticky")
		require.NoError(t, s.Close(), "closing a completed stream")

		// Raw items.
		s, err = c.Stream(ctx, "Count", 1, 0)
		require.NoError(t, err)
		var raw protocol.RawValue
		require.NoError(t, s.Next(ctx, &raw))
		var n int
		require.NoError(t, p2proto(p).Unmarshal(raw, &n))
		require.Equal(t, 0, n)
		require.ErrorIs(t, s.Next(ctx, &raw), io.EOF)

		// An empty stream.
		s, err = c.Stream(ctx, "Count", 0, 0)
		require.NoError(t, err)
		require.ErrorIs(t, s.Next(ctx, nil), io.EOF)
	})
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ctx := ctxT(t)

		s, err := c.Stream(ctx, "Count", -1, 0)
		require.NoError(t, err, "the method's error comes with the stream's end")
		var he *client.HubError
		require.ErrorAs(t, s.Next(ctx, nil), &he)
		require.Contains(t, he.Message, "n must be between 0 and")

		s, err = c.Stream(ctx, "Echo", "x")
		require.NoError(t, err)
		require.ErrorAs(t, s.Next(ctx, nil), &he)
		require.Contains(t, he.Message, "non-streaming")
	})
}

func TestStreamClose(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ctx := ctxT(t)

		s, err := c.Stream(ctx, "Count", 1_000_000, 1)
		require.NoError(t, err)
		for range 3 {
			require.NoError(t, s.Next(ctx, nil))
		}
		require.Equal(t, 1.0, srv.producers(t))
		require.NoError(t, s.Close())
		require.ErrorIs(t, s.Next(ctx, nil), client.ErrStreamClosed)
		eventually(t, "the producer stopped", func() bool { return srv.producers(t) == 0 })
		require.Equal(t, 0, client.PendingCount(c))

		var got string
		require.NoError(t, c.Invoke(ctx, "Echo", &got, "next"))
		require.Equal(t, "next", got)
	})
}

func TestStreamContextEnds(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{})

	sctx, cancel := context.WithCancel(ctxT(t))
	s, err := c.Stream(sctx, "Count", 1_000_000, 1)
	require.NoError(t, err)
	require.NoError(t, s.Next(ctxT(t), nil))
	cancel()
	eventually(t, "the producer stopped", func() bool { return srv.producers(t) == 0 })
	// Items that came before the cancel may still be read; then the context's error.
	var err2 error
	for err2 == nil {
		err2 = s.Next(ctxT(t), nil)
	}
	require.ErrorIs(t, err2, context.Canceled)

	// Next's own context only bounds the wait.
	s, err = c.Stream(ctxT(t), "Count", 2, 300_000)
	require.NoError(t, err)
	eventually(t, "the producer started", func() bool { return srv.producers(t) == 1 })
	nctx, ncancel := context.WithCancel(ctxT(t))
	ncancel()
	require.ErrorIs(t, s.Next(nctx, nil), context.Canceled)
	require.Equal(t, 1.0, srv.producers(t), "the stream goes on")
	require.NoError(t, s.Close())
	eventually(t, "the producer stopped", func() bool { return srv.producers(t) == 0 })
}

func TestClientToServerStream(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		srv := newServer(t, serverConfig{})
		c := startClient(t, srv.URL, client.Options{Protocol: p})
		ctx := ctxT(t)

		numbers := make(chan float64)
		go func() {
			defer close(numbers)
			for i := 1; i <= 100; i++ {
				numbers <- float64(i)
			}
		}()
		var sum float64
		require.NoError(t, c.Invoke(ctx, "Sum", &sum, numbers))
		require.Equal(t, 5050.0, sum)

		// A receive-only channel, already closed: an empty stream.
		empty := make(chan float64)
		close(empty)
		var recvOnly <-chan float64 = empty
		require.NoError(t, c.Invoke(ctx, "Sum", &sum, recvOnly))
		require.Zero(t, sum)

		// Any element type the server can decode.
		mixed := make(chan any, 2)
		mixed <- 1
		mixed <- 2.5
		close(mixed)
		require.NoError(t, c.Invoke(ctx, "Sum", &sum, mixed))
		require.Equal(t, 3.5, sum)
	})
}

func TestClientToServerStreamCancelled(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{})
	c := startClient(t, srv.URL, client.Options{})

	numbers := make(chan float64) // never closed: the call is cancelled
	ctx, cancel := context.WithCancel(ctxT(t))
	errc := make(chan error, 1)
	go func() { errc <- c.Invoke(ctx, "Sum", nil, numbers) }()
	numbers <- 1
	cancel()
	// The cancel completes the stream at once, so Sum's result may race the cancel to Invoke.
	if err := recv(t, errc, "Invoke's return"); err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}

	// The stream was completed with an error, so the server's Sum ended and the connection's one
	// invocation slot is free again.
	var s string
	require.NoError(t, c.Invoke(ctxT(t), "Echo", &s, "free"))
	require.Equal(t, "free", s)
}
