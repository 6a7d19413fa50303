package rest

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
)

// testSecret is the access key of newTestMux.
const testSecret = "test-access-key-0123456789abcdef0123456789"

// newTestMux serves the API over one hub, "orders", on a memory backplane, with testSecret.
func newTestMux(tb testing.TB) (*http.ServeMux, *hub.Hub) {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	bp := backplane.NewMemory()
	h, err := hub.New("orders", hub.Options{Backplane: bp, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := auth.NewAccessKeys(auth.AccessKey{Value: testSecret})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Hubs: map[string]*hub.Hub{"orders": h}, Keys: keys, Store: bp, Log: quiet}
	mux := http.NewServeMux()
	s.Register(mux)
	return mux, h
}
