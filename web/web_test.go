package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/web"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

// The built pages name bundles that are embedded, and every reply carries the CSP; pages are
// never cached, hashed bundles forever.
func TestEmbeddedApp(t *testing.T) {
	t.Parallel()
	h := web.Handler(web.Files())
	for _, page := range []string{"/", "/admin"} {
		resp := get(t, h, page)
		require.Equal(t, http.StatusOK, resp.StatusCode, page)
		require.Equal(t, web.ContentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
		require.Contains(t, resp.Header.Get("Cache-Control"), "no-store")
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
		require.GreaterOrEqual(t, len(refs), 3, "icon, stylesheet and script: %s", body)
		for _, ref := range refs {
			asset := get(t, h, ref[1])
			require.Equal(t, http.StatusOK, asset.StatusCode, ref[1])
			require.Equal(t, "public, max-age=31536000, immutable", asset.Header.Get("Cache-Control"))
			require.Equal(t, web.ContentSecurityPolicy, asset.Header.Get("Content-Security-Policy"))
		}
		// Nothing inline: the CSP would refuse it.
		require.NotRegexp(t, `<script>|<script [^>]*>[^<]|<style|style=`, string(body))
	}
	require.NotContains(t, web.ContentSecurityPolicy, "unsafe-inline")
	require.NotContains(t, web.ContentSecurityPolicy, "unsafe-eval")
}

func TestUnknownPathsAnswer404(t *testing.T) {
	t.Parallel()
	h := web.Handler(web.Files())
	for _, p := range []string{"/assets/", "/assets/nope.js", "/assets/../index.html", "/index.html", "/admin/x"} {
		resp := get(t, h, p)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		require.Empty(t, resp.Header.Get("Cache-Control"), "%s: a 404 must not be cached forever", p)
	}
}

// A binary built before the bundle (dist without pages) says so instead of serving a blank page.
func TestMissingBuild(t *testing.T) {
	t.Parallel()
	h := web.Handler(fstest.MapFS{"assets/x.js": &fstest.MapFile{Data: []byte("x")}})
	resp := get(t, h, "/")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(body), "make web")
}

// Every file in dist is a page or a hashed bundle: nothing stale or unhashed is embedded.
func TestDistHoldsOnlyHashedAssets(t *testing.T) {
	t.Parallel()
	hashed := regexp.MustCompile(`^assets/[a-z]+-[A-Za-z0-9]{8,}\.(js|css|svg)$`)
	var n int
	require.NoError(t, fs.WalkDir(web.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		if p == "index.html" || p == "admin.html" || strings.HasSuffix(p, ".LEGAL.txt") {
			return nil
		}
		require.Regexp(t, hashed, p)
		return nil
	}))
	require.GreaterOrEqual(t, n, 5)
}
