// Package heraldtest serves a Herald inside a Go test: app.New with the test's config on a
// loopback port, stopped (and checked to stop cleanly) when the test ends.
package heraldtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
)

// Serve serves a Herald built with cfg (a temporary data dir when cfg has none, logs discarded)
// and returns it with its base URL once /readyz answers 200.
func Serve(t testing.TB, cfg app.Config) (*app.Server, string) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.New(ctx, cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	base := "http://" + ln.Addr().String()
	WaitReady(t, base)
	return srv, base
}

// WaitReady waits up to 5 s for the Herald at base to answer /readyz with 200.
func WaitReady(t testing.TB, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
}
