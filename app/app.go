package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald/admin"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/conformance"
	"github.com/heraldhq/herald/internal/httpx"
	"github.com/heraldhq/herald/jobs"
	"github.com/heraldhq/herald/manage/rest"
	"github.com/heraldhq/herald/storage"
	"github.com/heraldhq/herald/web"
)

// webConfig is GET /api/config: what the web app needs before anyone signs in.
type webConfig struct {
	DevLogin     bool   `json:"devLogin"`
	LoginURL     string `json:"loginUrl,omitempty"`
	DownloadAuth string `json:"downloadAuth"`
}

// Server is a configured Herald, ready to serve.
type Server struct {
	cfg      Config
	store    *jobs.Store
	tasks    *Tasks
	log      *slog.Logger
	auth     *auth.Authenticator
	hubs     []servedHub
	bp       backplane.Backplane
	monitor  *hub.Monitor
	handler  http.Handler
	ready    atomic.Bool
	dbWrites *writeProbe // /readyz: does the task database take writes?
	workers  atomic.Bool // task workers started
	registry *prometheus.Registry
	routes   *Routes
	closeOne sync.Once
	// metricsAddr is where /metrics listens with Config.MetricsAddr.
	metricsAddr atomic.Value
}

// Routes is the server's ServeMux, remembering the patterns registered on it (the OpenAPI test
// compares them with the document).
type Routes struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern.
func (m *Routes) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h for pattern.
func (m *Routes) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Patterns are the registered patterns, in registration order.
func (s *Server) Patterns() []string { return slices.Clone(s.routes.patterns) }

// servedHub is a hub or a connection handler the server starts and drains.
type servedHub interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
	Name() string
}

// New builds a Server from cfg: it validates the configuration and opens what it needs.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	a, err := auth.New(ctx, cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.auth = a
	if a.DevMode() {
		s.log.Warn("DEV MODE: no JWT secret, key or JWKS URL is configured; anyone can get a token for any user with POST /api/auth/dev-login. Never run this way in production.")
	}

	tasks, err := OpenTasks(ctx, cfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	s.tasks, s.store = tasks, tasks.Store
	store := tasks.Store
	s.dbWrites = &writeProbe{probe: store.ProbeWrite, cfg: cfg.Readiness, log: s.log}
	built := false
	defer func() {
		if !built {
			_ = tasks.Close() // the error being returned is the one that matters
			a.Close()
		}
	}()

	mux := &Routes{ServeMux: http.NewServeMux()}
	s.routes = mux
	// Hub paths match in any letter case, as ASP.NET Core's routing; the rest goes to mux.
	// What no route serves gets the JSON error: 404, or 405 for a path other methods serve.
	router := hub.NewRouter(httpx.Deadlines(httpx.NotFound(mux.ServeMux), cfg.HTTP.Read, cfg.HTTP.Write,
		func(r *http.Request) bool {
			return strings.HasPrefix(r.URL.Path, storage.DefaultDownloadPath) || r.URL.Path == admin.TracePath
		}))
	metrics := hub.NewMetrics(s.registry)
	bp, err := OpenBackplane(ctx, cfg.Cluster, s.registry, s.log)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	s.bp = bp
	defer func() {
		if !built {
			_ = bp.Close() // the error being returned is the one that matters
		}
	}()
	if s.monitor, err = newMonitor(cfg.Monitor, bp, s.log); err != nil {
		return nil, err
	}
	notifications, err := s.newHub(NotificationsHub, true, bp, metrics)
	if err != nil {
		return nil, err
	}
	router.Map("/hubs/notifications", notifications)
	userFeed := feed{store: backplane.StoreOf(bp)}
	userFeed.registerMissed(notifications)
	store.SetNotifier(hubNotifier{h: notifications, feed: userFeed, log: s.log})
	(&api.Server{Auth: a, Store: store, Exports: tasks.Exports, Log: s.log, DemoTasks: cfg.DemoTasks || a.DevMode()}).Register(mux)
	mux.Handle("GET /api/openapi.json", api.OpenAPIHandler())
	(&admin.Server{Auth: a, Monitor: s.monitor, Store: store, Announce: notifications, Log: s.log}).Register(mux)
	download := tasks.Bucket.DownloadHandler()
	if cfg.Exports.DownloadAuth == DownloadAuthOwner {
		if tasks.Bucket.Kind() != storage.KindFile {
			return nil, errors.New("--download-auth owner needs file storage: links to object storage go to it, not through Herald")
		}
		download = ownerOnly(a, store, download)
	}
	mux.Handle("GET "+storage.DefaultDownloadPath, download)
	served := map[string]*hub.Hub{NotificationsHub: notifications}
	if cfg.ConformanceHub {
		conf, err := s.mountConformance(router, bp, metrics)
		if err != nil {
			return nil, err
		}
		served[conf.Name()] = conf
	}
	if err := s.mountManage(mux, router, bp, metrics, served); err != nil {
		return nil, err
	}

	mux.Handle("/api/auth/dev-login", a.DevLoginHandler())
	mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, _ *http.Request) {
		download := DownloadAuthLink
		if cfg.Exports.DownloadAuth == DownloadAuthOwner {
			download = DownloadAuthOwner
		}
		httpx.WriteJSON(w, http.StatusOK, webConfig{DevLogin: a.DevMode(), LoginURL: cfg.LoginURL, DownloadAuth: download})
	})
	ui := web.Handler(web.Files())
	for _, p := range []string{"GET /{$}", "GET /admin", "GET /assets/"} {
		mux.Handle(p, ui)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			httpx.WriteError(w, http.StatusServiceUnavailable, "not_ready", "Herald is starting or shutting down.")
			return
		}
		// Answering reads is not enough: a full disk or a read-only database fails every task and
		// every request that starts one. The probe is a small write, cached (Config.Readiness).
		if err := s.dbWrites.check(r.Context()); err != nil {
			httpx.WriteError(w, http.StatusServiceUnavailable, "database_unavailable",
				fmt.Sprintf("The task database does not take writes (%s); the node's log has the details.", writeFailure(err)))
			return
		}
		// Cut off from Redis, a node still serves its own connections: it stays in the load
		// balancer, and says it is degraded.
		if err := s.backplaneErr(); err != nil {
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "degraded", "backplane": "unreachable; the node's log has the details"})
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	}
	s.handler = httpx.CORS(cfg.CORSOrigins, router)
	built = true
	return s, nil
}

// mountConformance serves what the interop suites drive: the conformance hub at
// /hubs/conformance, the same hub without WebSockets at /hubs/conformance-nows, and the echo
// connection handler at /echo.
func (s *Server) mountConformance(router *hub.Router, bp backplane.Backplane, metrics *hub.Metrics) (*hub.Hub, error) {
	h, err := s.newHub("conformance", false, bp, metrics, conformance.Filter())
	if err != nil {
		return nil, err
	}
	conformance.Register(h, s.registry)
	router.Map("/hubs/conformance", h)
	router.Map("/hubs/conformance-nows", h.Endpoint(hub.EndpointOptions{
		Transports: []hub.Transport{hub.ServerSentEvents, hub.LongPolling},
	}))
	opts := s.hubOptions(false, bp, metrics)
	echo, err := hub.NewConnections("echo", conformance.Echo{}, opts)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	s.hubs = append(s.hubs, echo)
	router.Map("/echo", echo)
	return h, nil
}

// mountManage serves the management API over the served hubs and the --hub ones, and their
// serverless clients at /client.
func (s *Server) mountManage(mux *Routes, router *hub.Router, bp backplane.Backplane, metrics *hub.Metrics, served map[string]*hub.Hub) error {
	keys, err := LoadAccessKeys(s.cfg)
	if err != nil {
		return fmt.Errorf("management API: %w", err)
	}
	ak, err := auth.NewAccessKeys(keys...)
	if err != nil {
		return fmt.Errorf("management API: %w", err)
	}
	for _, name := range s.cfg.Manage.Hubs {
		h, err := s.newHub(strings.ToLower(name), true, bp, metrics)
		if err != nil {
			return err
		}
		served[h.Name()] = h
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID()
	}
	from := "--access-key"
	if len(s.cfg.Manage.AccessKeys) == 0 {
		from = filepath.Join(s.cfg.DataDir, "access-key")
	}
	s.log.Info("management API on /api/hubs/{hub}/… and /api/v1/hubs/{hub}/…, serverless clients on /client/?hub=…; `herald keys` prints the connection string",
		"access_keys", strings.Join(ids, ","), "from", from)
	m := &rest.Server{Hubs: served, Keys: ak, PublicURL: s.cfg.Manage.PublicURL, Store: backplane.StoreOf(bp), Log: s.log}
	m.Register(mux)
	router.Map(rest.ClientPath, m.ClientEndpoint())
	return nil
}

// hubOptions are the Options of a hub or connection handler: the configured limits, and what the
// app owns.
func (s *Server) hubOptions(requireAuth bool, bp backplane.Backplane, metrics *hub.Metrics) hub.Options {
	opts := s.cfg.Hub
	opts.Authenticate = s.authenticate
	opts.Challenge = challenge
	opts.RequireAuth = requireAuth
	opts.Backplane = bp
	opts.Metrics = metrics
	opts.Monitor = s.monitor
	opts.Logger = s.log
	opts.AllowedOrigins = s.cfg.CORSOrigins
	return opts
}

func (s *Server) newHub(name string, requireAuth bool, bp backplane.Backplane, metrics *hub.Metrics, filters ...hub.Filter) (*hub.Hub, error) {
	opts := s.hubOptions(requireAuth, bp, metrics)
	opts.Filters = append(opts.Filters, filters...)
	h, err := hub.New(name, opts)
	if err != nil {
		return nil, fmt.Errorf("hub %s: %w", name, err)
	}
	s.hubs = append(s.hubs, h)
	return h, nil
}

// challenge answers a refused hub request as hub.DefaultChallenge does (401, an empty body: the
// official clients show a body to users as the error), with auth's user-safe reason in the
// challenge's error_description, as ASP.NET Core's JWT bearer handler gives one.
func challenge(w http.ResponseWriter, r *http.Request, err error) {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		hub.DefaultChallenge(w, r, err)
		return
	}
	w.Header().Set("WWW-Authenticate", auth.Challenge(ae))
	w.WriteHeader(http.StatusUnauthorized)
}

// authenticate adapts the auth package to the hub's identity.
func (s *Server) authenticate(r *http.Request) (*hub.Principal, error) {
	id, err := s.auth.Authenticate(r)
	if errors.Is(err, auth.ErrNoToken) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &hub.Principal{UserID: id.UserID, Roles: id.Roles, Claims: id.Claims}, nil
}

// StartWorkers starts running tasks in this process. Serve calls it unless NoWorkers is set; a
// server built with NoWorkers may call it later (the task benchmark measures a burn-down so).
// Serve's shutdown stops them.
func (s *Server) StartWorkers(ctx context.Context) error {
	if err := s.store.Start(ctx); err != nil {
		return fmt.Errorf("start task workers: %w", err)
	}
	s.workers.Store(true)
	return nil
}

// Handler is the server's HTTP handler (for tests that serve it themselves).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on the configured address and serves until ctx ends, then drains: hubs send every
// connection a Close that allows reconnecting, in-flight requests finish, all within
// ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Close releases what New opened (the task store, the export sources and storage, the key
// refresher) without serving; Serve does it itself when it returns.
func (s *Server) Close() error {
	var err error
	s.closeOne.Do(func() {
		s.auth.Close()
		err = errors.Join(s.monitor.Close(), s.tasks.Close(), s.bp.Close())
	})
	return err
}

// backplaneErr is why the node is cut off from the cluster's backplane; nil when it is not (or
// runs alone).
func (s *Server) backplaneErr() error {
	if h, ok := s.bp.(interface{ Err() error }); ok {
		return h.Err()
	}
	return nil
}

// serveMetrics serves /metrics on MetricsAddr until stop is called.
func (s *Server) serveMetrics() (stop func(), err error) {
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: s.cfg.HTTP.Idle}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server", "err", err)
		}
	}()
	s.metricsAddr.Store(ln.Addr().String())
	s.log.Info("metrics on http://" + ln.Addr().String() + "/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // a scrape in flight may be cut: nothing to drain
	}, nil
}

// MetricsAddr is the address /metrics is served on with Config.MetricsAddr, once serving; "".
func (s *Server) MetricsAddr() string {
	a, _ := s.metricsAddr.Load().(string)
	return a
}

// Serve is Run on a listener of the caller's.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer func() {
		if err := s.Close(); err != nil {
			s.log.Warn("close", "err", err)
		}
	}()
	if !s.cfg.NoWorkers {
		if err := s.StartWorkers(ctx); err != nil {
			return err
		}
	}
	if err := s.monitor.Start(ctx); err != nil {
		return err
	}
	for _, h := range s.hubs {
		if err := h.Start(ctx); err != nil {
			return err
		}
	}
	// The hubs' transports are long-lived (WebSockets, event streams, polls): no server-wide read
	// or write timeout; the REST routes get theirs from httpx.Deadlines.
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: s.cfg.HTTP.Idle}
	// Trace streams never end by themselves: closing the monitor ends their watches, so that the
	// HTTP shutdown does not wait for them.
	srv.RegisterOnShutdown(func() { _ = s.monitor.Close() })
	if s.cfg.MetricsAddr != "" {
		stop, err := s.serveMetrics()
		if err != nil {
			return err
		}
		defer stop()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.ready.Store(true)
	s.log.Info(fmt.Sprintf("listening on http://%s", ln.Addr()), "addr", ln.Addr().String())

	select {
	case err := <-errc:
		s.ready.Store(false)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.ready.Store(false)
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	drain, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	errs := make([]error, len(s.hubs)+1)
	if s.workers.Load() {
		// Running tasks get the drain time but a reserve for the hubs, then go back to the queue to
		// be resumed. The hubs drain only after: the pages hear the tasks' last updates (finished,
		// or queued again) before their connections close.
		reserve := min(s.cfg.ShutdownTimeout/4, 2*time.Second)
		tasks, cancelTasks := context.WithTimeout(drain, s.cfg.ShutdownTimeout-reserve)
		if err := s.store.Stop(tasks); err != nil {
			errs[len(s.hubs)] = fmt.Errorf("stop task workers: %w", err)
		}
		cancelTasks()
	}
	var wg sync.WaitGroup
	for i, h := range s.hubs {
		wg.Go(func() {
			if err := h.Shutdown(drain); err != nil {
				errs[i] = fmt.Errorf("drain hub %s: %w", h.Name(), err)
			}
		})
	}
	wg.Wait()
	if err := srv.Shutdown(drain); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("shutdown incomplete", "err", err)
	}
	s.log.Info("stopped")
	return nil
}
