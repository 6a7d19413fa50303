package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// Kind names the provider behind a Bucket.
type Kind string

// The providers Open knows.
const (
	KindFile  Kind = "file"
	KindAzure Kind = "azblob"
	KindS3    Kind = "s3"
)

// MetaExpiresAt is the metadata key WriterOptions.ExpiresAt is stored under, as RFC 3339 UTC.
const MetaExpiresAt = "expires-at"

// DefaultFileDir is the directory under Config.DataDir that file storage uses when Config.URL is
// empty. Keys carry their own prefix (exports/<task>/<file>), so the directory is not named
// after what it holds: <data-dir>/files/exports/<task>/<file>.
const DefaultFileDir = "files"

// legacyFileDir was DefaultFileDir's name until the export keys' "exports/" made it
// <data-dir>/exports/exports/<task>/…; Open renames it to DefaultFileDir once.
const legacyFileDir = "exports"

// Bucket is one opened bucket: file, Azure Blob or S3. It is safe for concurrent use.
type Bucket struct {
	bucket *blob.Bucket
	kind   Kind
	cfg    Config
	// dir is file storage's directory; "" for other kinds.
	dir string
	// fileSigner signs file links; nil for other kinds.
	fileSigner *linkSigner
	// azure signs SAS links; nil for other kinds.
	azure *azureSigner
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key.
	Key string
	// Size is its length in bytes.
	Size int64
	// ModTime is when it was last written.
	ModTime time.Time
	// ContentType is its MIME type; empty in listings without metadata.
	ContentType string
	// ETag is the provider's entity tag; empty in listings without metadata.
	ETag string
	// Metadata holds the metadata written with it (keys lower-cased); nil in listings without
	// metadata.
	Metadata map[string]string
	// ExpiresAt is Metadata[MetaExpiresAt] parsed; zero when absent or unparsable.
	ExpiresAt time.Time
}

// Open opens the bucket cfg.URL names (file storage in cfg.DataDir/DefaultFileDir when empty).
// The error says which setting is wrong for an unknown scheme, a bad URL, a missing signing
// key or unusable credentials.
func Open(ctx context.Context, cfg Config) (*Bucket, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("storage config: %w", err)
	}
	if cfg.URL == "" {
		if err := moveLegacyFileDir(cfg.DataDir); err != nil {
			return nil, err
		}
		return openFile(filepath.Join(cfg.DataDir, DefaultFileDir), cfg)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("storage URL %q: %w", redact(cfg.URL), err)
	}
	switch Kind(u.Scheme) {
	case KindFile:
		dir, err := fileDir(u)
		if err != nil {
			return nil, fmt.Errorf("storage URL %q: %w", redact(cfg.URL), err)
		}
		return openFile(dir, cfg)
	case KindAzure:
		return openAzure(ctx, u, cfg)
	case KindS3:
		return openS3(ctx, u, cfg)
	default:
		return nil, fmt.Errorf("storage URL %q: unknown scheme %q (want file://, azblob:// or s3://)",
			redact(cfg.URL), u.Scheme)
	}
}

// redact drops the query, which may carry credentials, from a URL shown in errors.
func redact(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}

// fileDir turns file:///abs/dir or file://./rel/dir into a directory. No query parameters are
// taken: fileblob's own signer options would bypass Herald's download handler.
func fileDir(u *url.URL) (string, error) {
	if u.RawQuery != "" {
		return "", errors.New("file URLs take no query parameters")
	}
	switch u.Host {
	case "", "localhost":
		if u.Path == "" {
			return "", errors.New("file URL needs a directory, as in file:///var/lib/herald/exports")
		}
		return filepath.FromSlash(u.Path), nil
	case ".":
		return filepath.FromSlash(strings.TrimPrefix(u.Path, "/")), nil
	default:
		return "", fmt.Errorf("file URL host %q: use file:///abs/dir or file://./rel/dir", u.Host)
	}
}

// moveLegacyFileDir renames the default file storage directory of earlier versions,
// dataDir/exports, to dataDir/DefaultFileDir when only the former exists. The keys stay the
// same, so the files it holds keep their links and their retention.
func moveLegacyFileDir(dataDir string) error {
	legacy, dir := filepath.Join(dataDir, legacyFileDir), filepath.Join(dataDir, DefaultFileDir)
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return nil // in use already (or unreadable, which openFile reports)
	}
	if fi, err := os.Stat(legacy); err != nil || !fi.IsDir() {
		return nil
	}
	// Another process starting on the same data dir may have moved it first.
	if err := os.Rename(legacy, dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: move %s to %s: %w", legacy, dir, err)
	}
	return nil
}

func openFile(dir string, cfg Config) (*Bucket, error) {
	if len(cfg.SigningKey) < MinSigningKeyLen {
		return nil, fmt.Errorf("storage: file storage signs its own download links and needs a SigningKey of at least %d bytes (got %d)",
			MinSigningKeyLen, len(cfg.SigningKey))
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", dir, err)
	}
	bkt, err := fileblob.OpenBucket(dir, &fileblob.Options{
		// Temp files next to the target: a rename from os.TempDir fails when the data
		// directory is on another file system. A crash can strand "<key>.<hex>.tmp" files;
		// they show up in List (ValidateKey never yields such keys) for retention to remove.
		NoTempDir:   true,
		DirFileMode: 0o750,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open file bucket %s: %w", dir, err)
	}
	return &Bucket{
		bucket:     bkt,
		kind:       KindFile,
		cfg:        cfg,
		dir:        dir,
		fileSigner: newLinkSigner(cfg.SigningKey),
	}, nil
}

// Kind says which provider the bucket is on.
func (b *Bucket) Kind() Kind { return b.kind }

// Close releases the bucket's resources.
func (b *Bucket) Close() error {
	if err := b.bucket.Close(); err != nil {
		return fmt.Errorf("storage: close bucket: %w", err)
	}
	return nil
}

// NewReader opens key for reading from the start; the caller closes it. The reader also
// implements io.Seeker, each seek followed by a read costing a new ranged request.
func (b *Bucket) NewReader(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	r, err := b.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, wrap(err, "storage: read %q", key)
	}
	return r, nil
}

// Delete removes key, and in file storage the directories that leaves empty (see
// removeEmptyDirs). A missing object is not an error, so callers can clean up partial uploads
// without checking first.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	err := b.bucket.Delete(ctx, key)
	if err == nil || gcerrors.Code(err) == gcerrors.NotFound {
		b.removeEmptyDirs(key)
		return nil
	}
	return wrap(err, "storage: delete %q", key)
}

// removeEmptyDirs removes the directories of key that are left empty, deepest first, in file
// storage (the other providers have no directories): deleting exports/<task>/<file> removes
// exports/<task>/ with it. It stops at key's first segment, which is left in place: other
// uploads under exports/ may be creating their own directories in it at that moment.
func (b *Bucket) removeEmptyDirs(key string) {
	segs := strings.Split(key, "/")
	// A key DeleteAny took from another tool may name its file otherwise (fileblob escapes what
	// ValidateKey refuses): only directories named as Herald names them are removed.
	if b.kind != KindFile || len(segs) < 3 || ValidateKey(strings.Join(segs[:len(segs)-1], "/")) != nil {
		return
	}
	for i := len(segs) - 1; i >= 2; i-- {
		// Fails on a directory that is not empty, or gone: either way nothing above it is.
		if os.Remove(filepath.Join(b.dir, filepath.FromSlash(strings.Join(segs[:i], "/")))) != nil {
			return
		}
	}
}

// Exists reports whether key names an object.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	if err := ValidateKey(key); err != nil {
		return false, err
	}
	ok, err := b.bucket.Exists(ctx, key)
	if err != nil {
		return false, wrap(err, "storage: check %q", key)
	}
	return ok, nil
}

// Attributes describes key; the error wraps ErrNotFound when it does not exist.
func (b *Bucket) Attributes(ctx context.Context, key string) (*ObjectInfo, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	a, err := b.bucket.Attributes(ctx, key)
	if err != nil {
		return nil, wrap(err, "storage: attributes of %q", key)
	}
	info := &ObjectInfo{
		Key:         key,
		Size:        a.Size,
		ModTime:     a.ModTime,
		ContentType: a.ContentType,
		ETag:        a.ETag,
		Metadata:    a.Metadata,
	}
	info.ExpiresAt = parseExpiresAt(a.Metadata)
	return info, nil
}

func parseExpiresAt(md map[string]string) time.Time {
	v, ok := md[MetaExpiresAt]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}
	}
	return t
}
