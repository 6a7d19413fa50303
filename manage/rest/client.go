package rest

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
)

// ClientPath is where serverless clients connect: negotiate at /client/negotiate?hub=…, the
// transports at /client/?hub=…, as on the hosted service.
const ClientPath = "/client"

// ClientEndpoint serves the hubs' serverless clients at ClientPath, choosing the hub by the hub
// query parameter. A client presents a token signed with an access key (what a backend's
// negotiate returns, manage.Hub.Negotiate), whose audience is its URL and whose nameid claim is
// its user; it only receives messages, as the hosted service's serverless clients without an
// upstream. Mount it with a hub.Router (it serves ClientPath and ClientPath/negotiate).
//
// Every node of a cluster must call it once, after the hubs' other endpoints, in the same order:
// endpoints are matched across nodes by the order they were made in.
func (s *Server) ClientEndpoint() http.Handler {
	names := make([]string, 0, len(s.Hubs))
	for n := range s.Hubs {
		names = append(names, n)
	}
	sort.Strings(names)
	eps := make(map[string]http.Handler, len(names))
	for _, n := range names {
		eps[strings.ToLower(n)] = s.Hubs[n].Endpoint(hub.EndpointOptions{
			Authenticate: s.clientAuth(n),
			RequireAuth:  true,
			ListenOnly:   true,
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := eps[strings.ToLower(r.URL.Query().Get("hub"))]
		if ep == nil {
			http.Error(w, "No such hub: the hub query parameter must name one of this server's hubs.", http.StatusNotFound)
			return
		}
		ep.ServeHTTP(w, r)
	})
}

// clientAuth identifies a serverless client of hub name.
func (s *Server) clientAuth(name string) hub.AuthenticateFunc {
	want := url.Values{"hub": {name}}
	return func(r *http.Request) (*hub.Principal, error) {
		tok := auth.Token(r)
		if tok == "" {
			return nil, nil
		}
		claims, err := s.Keys.Verify(tok, name, func(aud string) bool {
			return auth.MatchAudience(aud, r, s.PublicURL, ClientPath, want)
		})
		if err != nil {
			return nil, err
		}
		id, err := auth.ClientIdentity(claims)
		if err != nil {
			return nil, err
		}
		return &hub.Principal{UserID: id.UserID, Claims: id.Claims}, nil
	}
}
