package web

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// ContentSecurityPolicy is sent with every page and asset: everything comes from Herald itself
// (connect-src 'self' covers the hub's WebSocket on the same host), nothing inline, no frames.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Files are the built web app: index.html, admin.html and assets/.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the directory is embedded: it exists
	}
	return sub
}

// Handler serves the web app from files (Files() in production): GET / and /admin give the
// pages, /assets/… the hashed bundles. Register it for "GET /{$}", "GET /admin" and
// "GET /assets/"; anything else answers 404.
func Handler(files fs.FS) http.Handler {
	assets := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		switch p := r.URL.Path; {
		case p == "/":
			page(w, r, files, "index.html")
		case p == "/admin" || p == "/admin/":
			page(w, r, files, "admin.html")
		case strings.HasPrefix(p, "/assets/") && path.Clean(p) == p && !strings.HasSuffix(p, "/"):
			if _, err := fs.Stat(files, strings.TrimPrefix(p, "/")); err != nil {
				http.NotFound(w, r)
				return
			}
			// The names carry the content's hash: a changed file is a new name.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			assets.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// page serves one HTML page, never cached: it names the current bundles.
func page(w http.ResponseWriter, r *http.Request, files fs.FS, name string) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		http.Error(w, "The web app is not built into this binary (run make web).", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
