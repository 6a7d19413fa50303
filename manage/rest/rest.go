// Package rest serves Herald's management API: the data-plane REST API of the hosted Azure
// SignalR Service (api-version 2022-06-01 paths and the older /api/v1 ones) over Herald's hubs,
// and the serverless client endpoint (/client/?hub=…) that a backend's negotiate redirects the
// official clients to. Requests are authorized by JWTs signed with an access key; every
// operation works across the cluster through the hubs' Clients and Groups.
package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/httpx"
)

// Defaults and bounds.
const (
	// DefaultMaxBodyBytes bounds a send's body, as the hosted service's 1 MB.
	DefaultMaxBodyBytes = 1 << 20
	// IdempotencyTTL is how long a send's Idempotency-Key is remembered.
	IdempotencyTTL = 24 * time.Hour
	// pendingTTL is how long a key is held while its send is being made.
	pendingTTL   = 30 * time.Second
	maxKeyLength = 255
	maxReason    = 1024
	maxExcluded  = 1000
	maxTargetLen = 1024
	// callTimeout bounds one operation on the cluster.
	callTimeout = 10 * time.Second
)

// Server is the management API over a set of hubs.
type Server struct {
	// Hubs by name; names are matched in any letter case.
	Hubs map[string]*hub.Hub
	// Keys sign the tokens the API and the serverless clients present.
	Keys *auth.AccessKeys
	// PublicURL, when set, is accepted as the host of token audiences besides the request's own.
	PublicURL string
	// Store remembers the idempotency keys of sends: the cluster's (backplane.StoreOf), to be seen
	// by every node. Default: a memory one, for a single node.
	Store backplane.Store
	// MaxBodyBytes bounds a send's body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	Log          *slog.Logger

	verified sync.Map // token, host, path and hub → the token's expiry
	cached   atomic.Int64
}

// Mux is where routes are registered (an *http.ServeMux, or a recorder of its patterns).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// hubPattern is the hosted service's hub (and application) name pattern.
var emptyObject = []byte("{}\n")

// apiVersion: the paths are 2022-06-01's, which later versions keep; any dated version is taken.
var apiVersion = regexp.MustCompile(`^20[0-9]{2}-[0-9]{2}-[0-9]{2}(-preview)?$`)

var hubPattern = regexp.MustCompile("^[A-Za-z][A-Za-z0-9_`,.\\[\\]]{0,127}$")

// Register adds the API's routes to mux.
func (s *Server) Register(mux Mux) {
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Store == nil {
		s.Store = backplane.NewMemory()
	}
	health := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("GET /api/health", health)
	mux.Handle("GET /api/v1/health", health)
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.handle(rt))
	}
}

// route is one operation: its pattern and the status it answers with when it succeeds.
type route struct {
	pattern string
	ok      int
	op      func(s *Server, r *http.Request, h *hub.Hub, p params) (int, error)
}

// routes are the API's operations, the 2022-06-01 paths first, then v1's.
func (s *Server) routes() []route {
	const n, v1 = "/api/hubs/{hub}", "/api/v1/hubs/{hub}"
	return []route{
		{"POST " + n + "/:send", http.StatusAccepted, sendAll},
		{"POST " + n + "/:closeConnections", http.StatusNoContent, closeAll},
		{"POST " + n + "/users/{user}/:send", http.StatusAccepted, sendUser},
		{"GET " + n + "/users/{user}", http.StatusOK, userExists},
		{"POST " + n + "/users/{user}/:closeConnections", http.StatusNoContent, closeUser},
		{"DELETE " + n + "/users/{user}/groups", http.StatusNoContent, removeUserFromAll},
		{"PUT " + n + "/users/{user}/groups/{group}", http.StatusOK, addUserToGroup},
		{"DELETE " + n + "/users/{user}/groups/{group}", http.StatusNoContent, removeUserFromGroup},
		{"GET " + n + "/users/{user}/groups/{group}", http.StatusOK, userInGroup},
		{"POST " + n + "/connections/{connectionId}/:send", http.StatusAccepted, sendConnection},
		{"GET " + n + "/connections/{connectionId}", http.StatusOK, connectionExists},
		{"DELETE " + n + "/connections/{connectionId}", http.StatusOK, closeConnection},
		{"DELETE " + n + "/connections/{connectionId}/groups", http.StatusOK, removeConnectionFromAll},
		{"POST " + n + "/groups/{group}/:send", http.StatusAccepted, sendGroup},
		{"GET " + n + "/groups/{group}", http.StatusOK, groupExists},
		{"POST " + n + "/groups/{group}/:closeConnections", http.StatusNoContent, closeGroup},
		{"PUT " + n + "/groups/{group}/connections/{connectionId}", http.StatusOK, addConnection},
		{"DELETE " + n + "/groups/{group}/connections/{connectionId}", http.StatusOK, removeConnection},

		{"POST " + v1, http.StatusAccepted, sendAll},
		{"POST " + v1 + "/users/{user}", http.StatusAccepted, sendUser},
		{"GET " + v1 + "/users/{user}", http.StatusOK, userExists},
		{"DELETE " + v1 + "/users/{user}/groups", http.StatusOK, removeUserFromAll},
		{"GET " + v1 + "/users/{user}/groups/{group}", http.StatusOK, userInGroup},
		{"PUT " + v1 + "/users/{user}/groups/{group}", http.StatusAccepted, addUserToGroup},
		{"DELETE " + v1 + "/users/{user}/groups/{group}", http.StatusAccepted, removeUserFromGroup},
		{"POST " + v1 + "/connections/{connectionId}", http.StatusAccepted, sendConnection},
		{"GET " + v1 + "/connections/{connectionId}", http.StatusOK, connectionExists},
		{"DELETE " + v1 + "/connections/{connectionId}", http.StatusAccepted, closeConnection},
		{"PUT " + v1 + "/connections/{connectionId}/groups/{group}", http.StatusAccepted, addConnection},
		{"DELETE " + v1 + "/connections/{connectionId}/groups/{group}", http.StatusAccepted, removeConnection},
		{"POST " + v1 + "/groups/{group}", http.StatusAccepted, sendGroup},
		{"GET " + v1 + "/groups/{group}", http.StatusOK, groupExists},
		{"PUT " + v1 + "/groups/{group}/connections/{connectionId}", http.StatusOK, addConnection},
		{"DELETE " + v1 + "/groups/{group}/connections/{connectionId}", http.StatusOK, removeConnection},
		{"GET " + v1 + "/groups/{group}/users/{user}", http.StatusOK, userInGroup},
		{"PUT " + v1 + "/groups/{group}/users/{user}", http.StatusAccepted, addUserToGroup},
		{"DELETE " + v1 + "/groups/{group}/users/{user}", http.StatusAccepted, removeUserFromGroup},
	}
}

// params are a request's checked path and query values.
type params struct {
	user, group, conn string
	query             url.Values  // parsed once
	header            http.Header // the response's
}

// apiError is a refusal with its status, Herald's code, and the hosted service's
// x-ms-error-code where it has one.
type apiError struct {
	status  int
	code    string
	msCode  string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "bad_request", msCode: "Error.Request.Invalid", message: fmt.Sprintf(format, args...)}
}

// notExisted is the 404 of a check or an operation on something that is not there.
func notExisted(msCode, message string) error {
	return &apiError{status: http.StatusNotFound, code: "not_found", msCode: msCode, message: message}
}

func (s *Server) handle(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		h, err := s.authorize(r, q)
		var p params
		if err == nil {
			p, err = readParams(r, q)
		}
		p.header = w.Header()
		status := 0
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
			r = r.WithContext(ctx)
			status, err = rt.op(s, r, h, p)
			cancel()
		}
		if status == 0 {
			status = rt.ok
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		switch {
		case status == http.StatusNoContent || r.Method == http.MethodHead:
			w.WriteHeader(status)
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			_, _ = w.Write(emptyObject) // the client went away: nothing to do
		}
	})
}

// authorize checks the request's token and returns its hub: 401 (no or a bad token), 403 (the
// key is not allowed on the hub), 404 (no such hub), 400 (a malformed hub name).
func (s *Server) authorize(r *http.Request, q url.Values) (*hub.Hub, error) {
	name := r.PathValue("hub")
	app := q.Get("application")
	if app != "" {
		name = app + "_" + name
	}
	// Never from the query string: tokens there end up in logs.
	tok := auth.HeaderToken(r)
	path := r.URL.EscapedPath()
	if err := s.verify(tok, name, r, path); err != nil {
		return nil, err
	}
	if v := q.Get("api-version"); v != "" && !apiVersion.MatchString(v) {
		return nil, badRequest("api-version %q is not a version (2022-06-01).", v)
	}
	if app != "" && !hubPattern.MatchString(app) {
		return nil, badRequest("The application name %q is not valid: a letter, then up to 127 letters, digits or _`,.[]", app)
	}
	if !hubPattern.MatchString(r.PathValue("hub")) {
		return nil, badRequest("The hub name is not valid: a letter, then up to 127 letters, digits or _`,.[]")
	}
	h := s.Hubs[strings.ToLower(name)]
	if h == nil {
		return nil, &apiError{status: http.StatusNotFound, code: "hub_not_found", msCode: "Error.Hub.NotExisted",
			message: fmt.Sprintf("No hub is named %q. Hubs: %s.", name, strings.Join(s.hubNames(), ", "))}
	}
	return h, nil
}

func (s *Server) hubNames() []string {
	names := make([]string, 0, len(s.Hubs))
	for n := range s.Hubs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// verify checks a token for a request to path on hub name. A token once verified for the same
// host, path and hub is taken again until it expires without its signature, audience and claims
// being checked anew: backends send many requests with one token (the SDK reuses a token per URL).
func (s *Server) verify(tok, name string, r *http.Request, path string) error {
	cacheKey := tok + "\x00" + r.Host + "\x00" + path + "\x00" + name
	if v, ok := s.verified.Load(cacheKey); ok && time.Now().Before(v.(time.Time)) {
		return nil
	}
	claims, err := s.Keys.Verify(tok, name, func(aud string) bool { return auth.MatchAudience(aud, r, s.PublicURL, path, nil) })
	if err != nil {
		return err
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil
	}
	if s.cached.Add(1) > maxVerified {
		s.verified.Clear()
		s.cached.Store(1)
	}
	s.verified.Store(cacheKey, exp.Time)
	return nil
}

// maxVerified bounds the verified-token cache; past it, it starts over.
const maxVerified = 10000

func readParams(r *http.Request, q url.Values) (params, error) {
	p := params{user: r.PathValue("user"), group: r.PathValue("group"), conn: r.PathValue("connectionId"), query: q}
	if strings.Contains(r.Pattern, "{user}") && (p.user == "" || len(p.user) > hub.MaxUserIDLength) {
		return p, badRequest("A user id must have 1 to %d bytes.", hub.MaxUserIDLength)
	}
	if strings.Contains(r.Pattern, "{group}") && (strings.TrimSpace(p.group) == "" || len(p.group) > hub.MaxGroupNameLength) {
		return p, badRequest("A group name must have 1 to %d bytes, not all white space.", hub.MaxGroupNameLength)
	}
	if strings.Contains(r.Pattern, "{connectionId}") && (p.conn == "" || len(p.conn) > hub.MaxConnectionIDLength) {
		return p, badRequest("A connection id must have 1 to %d bytes.", hub.MaxConnectionIDLength)
	}
	if len(q.Get("reason")) > maxReason {
		return p, badRequest("The reason must have at most %d bytes.", maxReason)
	}
	if len(q["excluded"]) > maxExcluded {
		return p, badRequest("At most %d connections can be excluded.", maxExcluded)
	}
	return p, nil
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var authErr *auth.Error
	var hubErr *hub.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, auth.ErrAccessKeyNotAllowed):
		ae = &apiError{status: http.StatusForbidden, code: "forbidden", msCode: "Error.Auth.Forbidden", message: "The access key is not allowed on this hub."}
	case errors.As(err, &authErr):
		w.Header().Set("WWW-Authenticate", auth.Challenge(authErr))
		ae = &apiError{status: http.StatusUnauthorized, code: authErr.Code, msCode: "Error.Auth.Unauthorized", message: authErr.Message}
	case errors.As(err, &hubErr):
		ae = &apiError{status: http.StatusBadRequest, code: "bad_request", msCode: "Error.Request.Invalid", message: hubErr.Message}
	case errors.Is(err, context.DeadlineExceeded):
		ae = &apiError{status: http.StatusGatewayTimeout, code: "timeout", message: "The cluster did not answer in time; the operation may or may not have been applied."}
	default:
		s.Log.Warn("management API", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{status: http.StatusServiceUnavailable, code: "unavailable", message: "The cluster's backplane is unavailable; try again."}
		w.Header().Set("Retry-After", "1")
	}
	if ae.msCode != "" {
		w.Header().Set("x-ms-error-code", ae.msCode)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(ae.status)
		return
	}
	httpx.WriteError(w, ae.status, ae.code, ae.message)
}
