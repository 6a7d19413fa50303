package httpx

import (
	"net/http"
	"path"
	"strings"
)

// CORS answers browsers' cross-origin checks for the configured origins. Patterns are as in
// path.Match ("https://*.example.com"); "*" allows every origin. Credentials are allowed, so the
// reply echoes the request's origin rather than "*". SignalR clients send Authorization,
// X-Requested-With and X-SignalR-User-Agent, which are always allowed, as are Content-Type and
// Idempotency-Key. A preflight from an origin that is not allowed is refused with 403 and a JSON
// error naming the flag (the browser shows a CORS error; its network panel shows why), not passed
// on to the routes (which would answer 405).
func CORS(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" || !MatchOrigin(origins, origin) {
			if preflight {
				WriteError(w, http.StatusForbidden, "origin_not_allowed",
					"The origin "+origin+" may not call Herald: start it with --cors-origins "+origin+" (or a pattern that matches it).")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if preflight {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Requested-With, X-SignalR-User-Agent, Idempotency-Key")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// MatchOrigin reports whether origin matches one of the patterns (as in path.Match, case-insensitive;
// "*" matches every origin).
func MatchOrigin(patterns []string, origin string) bool {
	for _, p := range patterns {
		if p == "*" || strings.EqualFold(p, origin) {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(origin)); ok {
			return true
		}
	}
	return false
}
