package httpx

import (
	"net/http"
	"path"
	"strings"
)

// CORS answers browsers' cross-origin checks for the configured origins. Patterns are as in
// path.Match ("https://*.example.com"); "*" allows every origin. Credentials are allowed, so the
// reply echoes the request's origin rather than "*". SignalR clients send Authorization,
// X-Requested-With and X-SignalR-User-Agent, which are always allowed.
func CORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !MatchOrigin(origins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Requested-With, X-SignalR-User-Agent")
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
