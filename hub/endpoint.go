package hub

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// EndpointOptions configure one path a hub (or a ConnectionHandler) is served on, as the options
// of .NET's MapHub<T>(path, options). A hub may be served on several paths with different
// options; its connections, groups and users are the same whichever path they came by. Zero
// fields take the hub's Options.
type EndpointOptions struct {
	// Transports the clients of this path may use; negotiate offers only these. Default: the
	// hub's Options.Transports.
	Transports []Transport
	// Roles, when set, admit only users holding at least one of them: others get the challenge
	// (no credentials) or 403 (not in a role), as an endpoint's RequireAuthorization in .NET.
	Roles []string
	// AllowedOrigins for this path's WebSockets. Default: the hub's.
	AllowedOrigins []string
	// LongPollTimeout is how long a poll of this path waits. Default: the hub's.
	LongPollTimeout time.Duration
	// Authenticate identifies this path's requests instead of the hub's Options.Authenticate
	// (with the hub's Options.Challenge for refusals).
	Authenticate AuthenticateFunc
	// RequireAuth refuses this path's requests that carry no credentials, whatever the hub's
	// Options.RequireAuth.
	RequireAuth bool
	// ListenOnly makes this path's clients receivers only, as the hosted SignalR service's
	// serverless clients: an invocation, a stream or a stream item from one closes its
	// connection with an error. Pings and the results of server-to-client invocations pass.
	ListenOnly bool
}

// endpoint is a hub served on one path with its own options.
type endpoint struct {
	h           *Hub
	key         int // the order it was made in: the same endpoint on every node of a cluster
	transports  []Transport
	roles       []string
	origins     []string
	longPoll    time.Duration
	auth        AuthenticateFunc
	requireAuth bool
	listenOnly  bool
}

// Endpoint returns the hub served with opts, an http.Handler for one path and its /negotiate:
//
//	router.Map("/hubs/chat", h.Endpoint(hub.EndpointOptions{}))                  // or, on any router:
//	mux.Handle("/hubs/chat-lp", lp)                                              // the path,
//	mux.Handle("/hubs/chat-lp/negotiate", lp)                                    // and its negotiate
//
// A connection negotiated on one endpoint is served by that endpoint only. In a cluster, every
// node must make the same endpoints in the same order (as the same program does): a request that
// reaches another node is matched to the endpoint made in the same place. Endpoint panics when
// opts name an unknown transport.
func (h *Hub) Endpoint(opts EndpointOptions) http.Handler {
	ep := &endpoint{
		h:           h,
		transports:  opts.Transports,
		roles:       slices.Clone(opts.Roles),
		origins:     opts.AllowedOrigins,
		longPoll:    opts.LongPollTimeout,
		auth:        opts.Authenticate,
		requireAuth: opts.RequireAuth || h.opts.RequireAuth,
		listenOnly:  opts.ListenOnly,
	}
	if ep.auth == nil {
		ep.auth = h.opts.Authenticate
	}
	if len(ep.transports) == 0 {
		ep.transports = h.opts.Transports
	}
	for _, t := range ep.transports {
		if t != WebSockets && t != ServerSentEvents && t != LongPolling {
			panic(fmt.Sprintf("hub: unknown transport %q", t))
		}
	}
	if ep.origins == nil {
		ep.origins = h.opts.AllowedOrigins
	}
	if ep.longPoll == 0 {
		ep.longPoll = h.opts.LongPollTimeout
	}
	h.epMu.Lock()
	ep.key = h.endpoints
	h.endpoints++
	h.epMu.Unlock()
	return ep
}

func (ep *endpoint) allows(t Transport) bool { return slices.Contains(ep.transports, t) }

// ServeHTTP routes negotiate and the transports.
func (ep *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := ep.h
	if !h.started.Load() {
		if err := h.Start(r.Context()); err != nil {
			h.log.Error("start hub", "err", err)
			http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	if hasSuffixFold(r.URL.Path, "/negotiate") {
		ep.negotiate(w, r)
		return
	}
	ep.serveTransport(w, r)
}

// admitRoles applies the endpoint's roles to an authenticated request; it answers the refusal
// itself.
func (ep *endpoint) admitRoles(w http.ResponseWriter, r *http.Request, p *Principal) bool {
	if len(ep.roles) == 0 {
		return true
	}
	if p == nil {
		ep.h.opts.Challenge(w, r, nil)
		return false
	}
	if !slices.ContainsFunc(ep.roles, func(role string) bool { return slices.Contains(p.Roles, role) }) {
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// Router serves hub endpoints and connection handlers at their paths, matched case-insensitively
// as ASP.NET Core's routing matches them (/hubs/chat and /Hubs/Chat are one hub), each path with
// its /negotiate. Every other request goes to the handler it wraps, so it sits in front of any
// router:
//
//	mux := http.NewServeMux()                         // the application's own routes
//	router := hub.NewRouter(mux)
//	router.Map("/hubs/chat", chat)                    // a *hub.Hub, with its Options
//	router.Map("/hubs/chat-lp", chat.Endpoint(hub.EndpointOptions{Transports: []hub.Transport{hub.LongPolling}}))
//	router.Map("/echo", echo)                         // a *hub.Connections
//	http.ListenAndServe(addr, router)
type Router struct {
	next http.Handler

	mu     sync.RWMutex
	routes map[string]http.Handler // lower-cased path, no trailing slash
}

// NewRouter returns a Router passing what it does not serve to next (404 when next is nil).
func NewRouter(next http.Handler) *Router {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return &Router{next: next, routes: make(map[string]http.Handler)}
}

// Map serves h at path and path/negotiate. It panics on a path that is not absolute, ends in
// /negotiate or is mapped already (in any letter case).
func (r *Router) Map(path string, h http.Handler) {
	key := routeKey(path)
	if !strings.HasPrefix(path, "/") || key == "" || hasSuffixFold(key, "/negotiate") {
		panic(fmt.Sprintf("hub: cannot map path %q", path))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.routes[key]; dup {
		panic(fmt.Sprintf("hub: path %q mapped twice", path))
	}
	r.routes[key] = h
}

// ServeHTTP serves a mapped path, or passes the request on.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if h := r.match(req.URL.Path); h != nil {
		h.ServeHTTP(w, req)
		return
	}
	r.next.ServeHTTP(w, req)
}

func (r *Router) match(path string) http.Handler {
	key := routeKey(path)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if h := r.routes[key]; h != nil {
		return h
	}
	if base, ok := strings.CutSuffix(key, "/negotiate"); ok {
		return r.routes[base]
	}
	return nil
}

func routeKey(path string) string { return strings.ToLower(strings.TrimSuffix(path, "/")) }
