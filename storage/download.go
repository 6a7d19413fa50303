package storage

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gocloud.dev/gcerrors"

	"github.com/heraldhq/herald/internal/httpx"
)

// Error codes DownloadHandler answers with, in {"error":{"code":…}}.
const (
	// CodeLinkInvalid: the link was not issued by this Herald or was altered (403).
	CodeLinkInvalid = "link_invalid"
	// CodeLinkExpired: the link was genuine but its time is up (403).
	CodeLinkExpired = "link_expired"
	// CodeNotFound: the link was valid but the file is gone, removed by retention say (404).
	CodeNotFound = "not_found"
)

// DownloadHandler serves file storage's signed links: GET and HEAD on
// DownloadPath + key + "?expires=…&name=…&sig=…". Mount it at "GET /api/downloads/"
// (the pattern's GET also admits HEAD), with or without http.StripPrefix.
//
// It answers 403 link_invalid for a tampered, truncated or foreign link (including keys
// with "..", absolute paths or backslashes, which no link is ever signed for), 403
// link_expired for a genuine link past its time, 404 not_found when the object is gone, and
// otherwise the file with Range/If-Range/conditional support (http.ServeContent over the
// blob reader, which seeks by issuing ranged reads), Content-Length, Last-Modified, ETag and
// Content-Disposition: attachment. On buckets other than file it answers 404: their links
// go to the provider.
func (b *Bucket) DownloadHandler() http.Handler {
	return http.HandlerFunc(b.serveDownload)
}

func (b *Bucket) serveDownload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpx.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Downloads accept GET and HEAD only.")
		return
	}
	if b.kind != KindFile {
		httpx.WriteError(w, http.StatusNotFound, CodeNotFound, "This server does not serve downloads itself.")
		return
	}
	key := b.keyFromPath(r.URL.Path)
	if ValidateKey(key) != nil {
		httpx.WriteError(w, http.StatusForbidden, CodeLinkInvalid, "This download link is not valid.")
		return
	}
	name, err := b.fileSigner.verify(key, r.URL.Query(), time.Now())
	switch {
	case errors.Is(err, errLinkExpired):
		httpx.WriteError(w, http.StatusForbidden, CodeLinkExpired, "This download link has expired; ask for a new one.")
		return
	case err != nil:
		httpx.WriteError(w, http.StatusForbidden, CodeLinkInvalid, "This download link is not valid.")
		return
	}
	rd, err := b.bucket.NewReader(r.Context(), key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			httpx.WriteError(w, http.StatusNotFound, CodeNotFound, "The file of this link no longer exists.")
			return
		}
		b.cfg.Logger.ErrorContext(r.Context(), "storage: open download", "key", key, "err", err)
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "The file could not be read; it has been logged.")
		return
	}
	defer func() {
		if err := rd.Close(); err != nil {
			b.cfg.Logger.WarnContext(r.Context(), "storage: close download", "key", key, "err", err)
		}
	}()
	h := w.Header()
	ct := rd.ContentType()
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", attachment(defaultName(key, name)))
	// The same ETag form fileblob's Attributes uses, computed from what the reader already
	// knows rather than by a second stat and sidecar read.
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, rd.ModTime().UnixNano(), rd.Size()))
	h.Set("Cache-Control", "private, no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// ServeContent handles Range, If-Range, If-None-Match/If-Modified-Since, HEAD and
	// Content-Length; the empty name keeps it from guessing a type, which we set above.
	http.ServeContent(w, r, "", rd.ModTime(), rd)
}

// keyFromPath accepts the request path with or without DownloadPath in front (the lead may
// mount the handler under http.StripPrefix or not).
func (b *Bucket) keyFromPath(p string) string {
	if k, ok := strings.CutPrefix(p, b.cfg.DownloadPath); ok {
		return k
	}
	return strings.TrimPrefix(p, "/")
}
