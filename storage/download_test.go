package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/internal/httpx"
)

const dlKey = "exports/5f2c/task-9/orders-20261122-153000.csv"

// setupDownload writes a 100-byte object and returns the bucket and a signed link to it.
func setupDownload(t *testing.T) (*Bucket, string, []byte) {
	t.Helper()
	b := setupFile(t)
	data := []byte(strings.Repeat("0123456789", 10))
	writeObject(t, b, dlKey, data, nil)
	link, err := b.SignedURL(context.Background(), dlKey, time.Now().Add(time.Hour), "Bestellungen März.csv")
	require.NoError(t, err)
	return b, link, data
}

func serve(b *Bucket, method, target string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	b.DownloadHandler().ServeHTTP(rec, req)
	return rec
}

func requireErrorCode(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	require.Equal(t, status, rec.Code, rec.Body.String())
	var body httpx.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	require.Equal(t, code, body.Error.Code)
	require.NotEmpty(t, body.Error.Message)
}

func TestDownloadHappyPath(t *testing.T) {
	t.Parallel()
	b, link, data := setupDownload(t)
	require.True(t, strings.HasPrefix(link, "/api/downloads/"+dlKey+"?"), link)

	rec := serve(b, http.MethodGet, link, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, data, rec.Body.Bytes())
	h := rec.Result().Header
	require.Equal(t, "text/csv", h.Get("Content-Type"))
	require.Equal(t, "100", h.Get("Content-Length"))
	require.Equal(t, "bytes", h.Get("Accept-Ranges"))
	require.NotEmpty(t, h.Get("Last-Modified"))
	require.NotEmpty(t, h.Get("ETag"))
	require.Equal(t, `attachment; filename="Bestellungen M_rz.csv"; filename*=UTF-8''Bestellungen%20M%C3%A4rz.csv`,
		h.Get("Content-Disposition"))

	t.Run("HEAD", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodHead, link, nil)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Empty(t, rec.Body.Bytes())
		require.Equal(t, "100", rec.Result().Header.Get("Content-Length"))
	})
	t.Run("range", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodGet, link, http.Header{"Range": {"bytes=0-9"}})
		require.Equal(t, http.StatusPartialContent, rec.Code)
		require.Equal(t, "bytes 0-9/100", rec.Result().Header.Get("Content-Range"))
		require.Equal(t, data[:10], rec.Body.Bytes())
	})
	t.Run("middle range", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodGet, link, http.Header{"Range": {"bytes=42-57"}})
		require.Equal(t, http.StatusPartialContent, rec.Code)
		require.Equal(t, data[42:58], rec.Body.Bytes())
	})
	t.Run("suffix range", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodGet, link, http.Header{"Range": {"bytes=-7"}})
		require.Equal(t, http.StatusPartialContent, rec.Code)
		require.Equal(t, "bytes 93-99/100", rec.Result().Header.Get("Content-Range"))
		require.Equal(t, data[93:], rec.Body.Bytes())
	})
	t.Run("unsatisfiable range", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodGet, link, http.Header{"Range": {"bytes=200-300"}})
		require.Equal(t, http.StatusRequestedRangeNotSatisfiable, rec.Code)
	})
	t.Run("conditional", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodGet, link, http.Header{"If-None-Match": {h.Get("ETag")}})
		require.Equal(t, http.StatusNotModified, rec.Code)
	})
	t.Run("stripped prefix", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodGet, strings.TrimPrefix(link, "/api/downloads"), nil)
		require.Equal(t, http.StatusOK, rec.Code)
	})
	t.Run("method", func(t *testing.T) {
		t.Parallel()
		rec := serve(b, http.MethodPost, link, nil)
		requireErrorCode(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
	})
}

func TestDownloadRejectsBadLinks(t *testing.T) {
	t.Parallel()
	b, link, _ := setupDownload(t)
	u, err := url.Parse(link)
	require.NoError(t, err)
	q := u.Query()
	with := func(mod func(q url.Values)) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = append([]string(nil), v...)
		}
		mod(q2)
		return u.Path + "?" + q2.Encode()
	}

	cases := map[string]string{
		"tampered sig":   with(func(q url.Values) { q.Set(paramSig, flipLast(q.Get(paramSig))) }),
		"missing sig":    with(func(q url.Values) { q.Del(paramSig) }),
		"garbage sig":    with(func(q url.Values) { q.Set(paramSig, "!!!") }),
		"later expiry":   with(func(q url.Values) { q.Set(paramExpires, fmt.Sprint(time.Now().Add(48*time.Hour).Unix())) }),
		"padded expiry":  with(func(q url.Values) { q.Set(paramExpires, "0"+q.Get(paramExpires)) }),
		"other name":     with(func(q url.Values) { q.Set(paramName, "evil.html") }),
		"dropped name":   with(func(q url.Values) { q.Del(paramName) }),
		"tampered key":   strings.Replace(link, "task-9", "task-8", 1),
		"other owner":    strings.Replace(link, "5f2c", "5f2d", 1),
		"traversal":      strings.Replace(link, dlKey, "exports/../../../etc/passwd", 1),
		"encoded dotdot": strings.Replace(link, dlKey, "exports/%2e%2e/%2e%2e/etc/passwd", 1),
		"backslash":      strings.Replace(link, dlKey, `exports\..\x`, 1),
		"absolute":       strings.Replace(link, "/api/downloads/"+dlKey, "/api/downloads//etc/passwd", 1),
		"empty key":      strings.Replace(link, dlKey, "", 1),
		"other signing key": func() string {
			other, err := Open(context.Background(), Config{DataDir: t.TempDir(), SigningKey: []byte(strings.Repeat("z", 32))})
			require.NoError(t, err)
			defer other.Close()
			l, err := other.SignedURL(context.Background(), dlKey, time.Now().Add(time.Hour), "")
			require.NoError(t, err)
			return l
		}(),
	}
	for name, target := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := serve(b, http.MethodGet, target, nil)
			requireErrorCode(t, rec, http.StatusForbidden, CodeLinkInvalid)
		})
	}
}

func flipLast(s string) string {
	if strings.HasSuffix(s, "A") {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

func TestDownloadExpiredLink(t *testing.T) {
	t.Parallel()
	b, _, _ := setupDownload(t)
	// A genuinely signed link whose time is up (SignedURL refuses past expiries, so sign
	// directly).
	exp := time.Now().Add(-time.Second)
	link := "/api/downloads/" + dlKey + "?" + b.fileSigner.query(dlKey, exp, "orders.csv")
	rec := serve(b, http.MethodGet, link, nil)
	requireErrorCode(t, rec, http.StatusForbidden, CodeLinkExpired)

	_, err := b.SignedURL(context.Background(), dlKey, exp, "")
	require.Error(t, err)
}

func TestDownloadMissingObject(t *testing.T) {
	t.Parallel()
	b, link, _ := setupDownload(t)
	require.NoError(t, b.Delete(context.Background(), dlKey))
	rec := serve(b, http.MethodGet, link, nil)
	requireErrorCode(t, rec, http.StatusNotFound, CodeNotFound)
}

func TestDownloadThroughServer(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	writeObject(t, b, "exports/u/t/x.csv", []byte("hello"), nil)
	mux := http.NewServeMux()
	mux.Handle("GET /api/downloads/", b.DownloadHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b.cfg.PublicBaseURL = srv.URL // what Config.PublicBaseURL would say
	link, err := b.SignedURL(context.Background(), "exports/u/t/x.csv", time.Now().Add(time.Minute), "")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, srv.URL+"/api/downloads/exports/u/t/x.csv?"), link)

	client := srv.Client()
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(link)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "hello", string(body))
	require.Equal(t, `attachment; filename="x.csv"`, resp.Header.Get("Content-Disposition"))

	// The mux cleans ".." before the handler sees it; either way nothing leaks.
	resp2, err := client.Get(srv.URL + "/api/downloads/exports/../../etc/passwd?" + strings.SplitN(link, "?", 2)[1])
	require.NoError(t, err)
	defer resp2.Body.Close()
	require.GreaterOrEqual(t, resp2.StatusCode, 300)
	require.NotEqual(t, http.StatusOK, resp2.StatusCode)
}
