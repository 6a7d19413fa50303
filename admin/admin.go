package admin

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/httpx"
	"github.com/heraldhq/herald/jobs"
)

// Role is the role every route of the package needs.
const Role = auth.AdminRole

// TracePath is the event stream's path: a stream, to be left out of the server's write timeout.
const TracePath = "/api/admin/trace"

// DefaultPingEvery is how often an idle trace stream gets a ": ping" comment.
const DefaultPingEvery = 15 * time.Second

// Server serves the operators' routes.
type Server struct {
	// Auth authenticates requests (the Authorization header only). Required.
	Auth *auth.Authenticator
	// Monitor is this node's part of the cluster's trace and counts. Required.
	Monitor *hub.Monitor
	// Store counts the tasks and lists the running exports. Required.
	Store *jobs.Store
	// Announce is the hub announcements go to (the notifications hub). Required.
	Announce *hub.Hub
	// PingEvery is how often an idle trace stream is pinged. Default DefaultPingEvery.
	PingEvery time.Duration
	Log       *slog.Logger
}

// Mux is where routes are registered.
type Mux interface {
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

// Register adds the routes to mux.
func (s *Server) Register(mux Mux) {
	if s.PingEvery <= 0 {
		s.PingEvery = DefaultPingEvery
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	mux.HandleFunc("GET /api/admin/stats", s.admin(s.stats))
	mux.HandleFunc("GET "+TracePath, s.admin(s.trace))
	mux.HandleFunc("POST /api/admin/announcements", s.admin(s.announce))
}

// admin lets through requests whose token has the admin role: 401 without a valid token, 403
// with one that lacks the role. No cache keeps the replies.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, err := s.Auth.AuthenticateHeader(r)
		if err != nil {
			auth.WriteError(w, err)
			return
		}
		if !id.HasRole(Role) {
			httpx.WriteError(w, http.StatusForbidden, "forbidden", "This needs a token with the admin role.")
			return
		}
		h(w, r)
	}
}
