package storage

import (
	"context"
	"fmt"
	"io"
	"maps"
	"time"

	"gocloud.dev/blob"
)

// WriterOptions are optional settings for NewWriter.
type WriterOptions struct {
	// Metadata is stored with the object and returned by Attributes and metadata listings.
	// Keys are 1 to 64 of [a-z0-9-], starting with a letter: what every provider stores
	// unchanged or escapes reversibly.
	Metadata map[string]string
	// ExpiresAt, when set, is stored as Metadata[MetaExpiresAt] for the retention job.
	ExpiresAt time.Time
	// ContentDisposition is stored with the object and served by providers on plain GETs;
	// SignedURL sets its own for the link it makes.
	ContentDisposition string
}

// Writer streams one object into the bucket. Nothing is visible under the key until Close
// returns nil; Abort (or cancelling the context given to NewWriter) discards the upload.
// It is not safe for concurrent use.
type Writer struct {
	w      io.WriteCloser // *blob.Writer, or *azureUpload on Azure
	b      *Bucket
	cancel context.CancelFunc
	key    string
	n      int64
	done   bool
}

var _ io.WriteCloser = (*Writer)(nil)

// NewWriter starts a streaming upload to key. Memory stays bounded: file storage writes to
// a temp file beside the target and renames it on Close; Azure and S3 upload blocks/parts of
// Config.UploadPartSize, at most Config.UploadConcurrency at a time, so one upload holds
// about UploadPartSize × (UploadConcurrency+1) bytes whatever the object's size (on S3 plus the
// 16 MiB the AWS upload manager reads first: about 40 MiB in all).
//
// contentType defaults to application/octet-stream (no sniffing, which would buffer).
// Cancelling ctx before Close aborts the upload: Close then fails and no object is left.
func (b *Bucket) NewWriter(ctx context.Context, key, contentType string, opts *WriterOptions) (*Writer, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &WriterOptions{}
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	md := make(map[string]string, len(opts.Metadata)+1)
	for k, v := range opts.Metadata {
		if err := checkMetaKey(k); err != nil {
			return nil, fmt.Errorf("storage: upload %q: %w", key, err)
		}
		md[k] = v
	}
	if !opts.ExpiresAt.IsZero() {
		md[MetaExpiresAt] = opts.ExpiresAt.UTC().Format(time.RFC3339)
	}
	// Our own cancel lets Abort discard the upload even when the caller's ctx lives on.
	ctx, cancel := context.WithCancel(ctx)
	if b.kind == KindAzure {
		up := b.azure.newUpload(ctx, key, contentType, opts.ContentDisposition, md, b.cfg)
		return &Writer{w: up, b: b, cancel: cancel, key: key}, nil
	}
	w, err := b.bucket.NewWriter(ctx, key, &blob.WriterOptions{
		BufferSize:         b.cfg.UploadPartSize,
		MaxConcurrency:     b.cfg.UploadConcurrency,
		ContentType:        contentType,
		ContentDisposition: opts.ContentDisposition,
		Metadata:           nilIfEmpty(md),
	})
	if err != nil {
		cancel()
		return nil, wrap(err, "storage: start upload of %q", key)
	}
	return &Writer{w: w, b: b, cancel: cancel, key: key}, nil
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// Write appends p to the object. Providers upload asynchronously: an error may only show
// at Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("storage: write to %q after Close or Abort", w.key)
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("storage: write %q: %w", w.key, err)
	}
	return n, nil
}

// Written is the number of bytes accepted by Write so far.
func (w *Writer) Written() int64 { return w.n }

// Close completes the upload. Only a nil error means the object exists in full. When it
// fails, nothing is left under the key (the provider discards the staged parts, or leaves
// uncommitted Azure blocks that the service drops within a week).
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("storage: finish upload of %q: %w", w.key, err)
	}
	return nil
}

// Abort discards the upload: the key is left as it was before NewWriter (in file storage, with
// the directories the upload made and left empty removed, as Delete does). It returns an error
// only when the provider failed to clean up; calling it after Close does nothing.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.cancel()
	// Close after cancel fails (that failure is what leaves no object), so its error is
	// expected and says nothing useful; only a success is surprising.
	if err := w.w.Close(); err == nil {
		return fmt.Errorf("storage: abort upload of %q: the object was committed anyway", w.key)
	}
	w.b.removeEmptyDirs(w.key)
	return nil
}

// checkMetaKey enforces the portable metadata key form described at WriterOptions.Metadata.
func checkMetaKey(k string) error {
	if k == "" || len(k) > 64 || k[0] < 'a' || k[0] > 'z' {
		return fmt.Errorf("metadata key %q: want 1 to 64 of [a-z0-9-] starting with a letter", k)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("metadata key %q: want 1 to 64 of [a-z0-9-] starting with a letter", k)
		}
	}
	return nil
}
