package client_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/conformance"
)

// Every test must leave no goroutine behind: the clients' readers, writers and handlers, the test
// hubs and their servers all end in the tests' cleanups.
func TestMain(m *testing.M) {
	if os.Getenv(hubProcessEnv) != "" {
		serveHubProcess() // the benchmarks' hub, in a process of its own (bench_test.go)
		return
	}
	goleak.VerifyTestMain(m)
}

// protocols are the hub protocols every protocol-dependent test runs with.
var protocols = []client.Protocol{client.JSON, client.MessagePack}

// eachProtocol runs fn as a parallel subtest per protocol.
func eachProtocol(t *testing.T, fn func(t *testing.T, p client.Protocol)) {
	t.Helper()
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			fn(t, p)
		})
	}
}

// quiet is the logger of the test hubs and clients.
var quiet = slog.New(slog.DiscardHandler)

// testServer is a real Herald hub with the conformance methods, served in-process.
type testServer struct {
	// URL is the hub's URL (…/hubs/conformance).
	URL string
	Hub *hub.Hub
	// Registry holds the conformance hub's gauge of running Count producers.
	Registry *prometheus.Registry
	HTTP     *httptest.Server

	closeOnce sync.Once
}

// serverConfig adjusts a test server.
type serverConfig struct {
	opts     hub.Options
	register func(h *hub.Hub)                     // more hub methods
	wrap     func(next http.Handler) http.Handler // middleware in front of the hub
	listener net.Listener                         // default: a new 127.0.0.1 listener
}

// newServer starts a conformance hub; it is shut down when the test ends.
func newServer(t testing.TB, cfg serverConfig) *testServer {
	t.Helper()
	if cfg.opts.Logger == nil {
		cfg.opts.Logger = quiet
	}
	h, err := hub.New("conformance", cfg.opts)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	conformance.Register(h, reg)
	if cfg.register != nil {
		cfg.register(h)
	}
	var handler http.Handler = h
	if cfg.wrap != nil {
		handler = cfg.wrap(h)
	}
	mux := http.NewServeMux()
	mux.Handle("/hubs/conformance", handler)
	mux.Handle("/hubs/conformance/negotiate", handler)
	srv := httptest.NewUnstartedServer(mux)
	if cfg.listener != nil {
		srv.Listener.Close()
		srv.Listener = cfg.listener
	}
	srv.Start()
	s := &testServer{URL: srv.URL + "/hubs/conformance", Hub: h, Registry: reg, HTTP: srv}
	t.Cleanup(func() { s.Close(t) })
	return s
}

// Close shuts the hub down (its connections get Close{allowReconnect: true}) and stops serving.
// It may be called more than once.
func (s *testServer) Close(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.closeOnce.Do(func() {
		if err := s.Hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		s.HTTP.Close()
	})
}

// producers is the number of Count streams the hub is running.
func (s *testServer) producers(t testing.TB) float64 {
	t.Helper()
	mfs, err := s.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "herald_conformance_count_producers" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no herald_conformance_count_producers gauge")
	return 0
}

// newClient makes a client of url with quiet logging; it is stopped when the test ends.
func newClient(t testing.TB, url string, opts client.Options) *client.Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	c, err := client.New(url, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

// startClient makes a client and starts it.
func startClient(t testing.TB, url string, opts client.Options) *client.Client {
	t.Helper()
	c := newClient(t, url, opts)
	require.NoError(t, c.Start(ctxT(t)))
	return c
}

// ctxT is a context for one step of a test: it ends with the test, or after 10 s.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for a value from ch, failing the test after 10 s.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// events records a client's lifecycle callbacks.
type events struct {
	closed       chan error
	reconnecting chan error
	reconnected  chan string
}

func watch(c *client.Client) *events {
	e := &events{closed: make(chan error, 16), reconnecting: make(chan error, 16), reconnected: make(chan string, 16)}
	c.OnClose(func(err error) { e.closed <- err })
	c.OnReconnecting(func(err error) { e.reconnecting <- err })
	c.OnReconnected(func(id string) { e.reconnected <- id })
	return e
}

// eventually polls cond every 10 ms until it holds, failing the test after 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connTracker is a listener that remembers its connections, to cut them like a network failure.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every connection accepted so far.
func (l *connTracker) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}
