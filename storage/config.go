package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Defaults used by Config.WithDefaults.
const (
	// DefaultDownloadPath is where the lead mounts DownloadHandler and what file links point at.
	DefaultDownloadPath = "/api/downloads/"
	// DefaultUploadPartSize is the size of one block (Azure) or part (S3) of a streaming upload.
	// With DefaultUploadConcurrency it bounds the memory one upload holds (about 2 × 8 MiB),
	// and it bounds the object size: S3 allows 10,000 parts (about 78 GiB at 8 MiB),
	// Azure 50,000 blocks (about 390 GiB).
	DefaultUploadPartSize = 8 << 20
	// DefaultUploadConcurrency is how many parts of one upload are in flight at once.
	DefaultUploadConcurrency = 2
	// MinSigningKeyLen is the shortest SigningKey accepted: 256 bits, the HMAC-SHA256 block
	// strength.
	MinSigningKeyLen = 32
	// minS3PartSize is S3's lower limit for every part but the last.
	minS3PartSize = 5 << 20
)

// Config says which bucket to open and how to sign links to it.
type Config struct {
	// URL selects the bucket:
	//   - "" (default): file storage in DataDir/files (DefaultFileDir), created when missing;
	//     Open renames the earlier default, DataDir/exports, to it.
	//   - file:///abs/dir (or file://./rel/dir): file storage in that directory, created when missing.
	//   - azblob://CONTAINER?protocol=http&domain=127.0.0.1:10000&storage_account=NAME: Azure Blob
	//     (or Azurite); credentials come from the AZURE_STORAGE_* environment, see doc.go.
	//   - s3://BUCKET?region=R&endpoint=URL&use_path_style=true: S3 or an S3-compatible store;
	//     credentials come from the usual AWS environment and files, see doc.go.
	// The container or bucket must already exist for azblob and s3.
	URL string

	// DataDir is Herald's data directory; file storage defaults to DataDir/files.
	// Default: "./herald-data".
	DataDir string

	// SigningKey signs file storage's download links (HMAC-SHA256). Required for file storage,
	// at least MinSigningKeyLen bytes; unused by azblob and s3, whose links the provider signs.
	// Keep it stable across restarts and equal on every node, or issued links stop working.
	SigningKey []byte

	// PublicBaseURL is the scheme and host that file links start with, such as
	// "https://herald.example.com". Default: "" (links are relative: "/api/downloads/…").
	PublicBaseURL string

	// DownloadPath is the path DownloadHandler is mounted at. Default: DefaultDownloadPath.
	DownloadPath string

	// UploadPartSize is the block (Azure) or part (S3) size of streaming uploads, in bytes.
	// Default: DefaultUploadPartSize. S3 needs at least 5 MiB.
	UploadPartSize int

	// UploadConcurrency is how many parts of one upload are sent at once.
	// Default: DefaultUploadConcurrency.
	UploadConcurrency int

	// LookupEnv reads the provider settings (AZURE_STORAGE_*); tests set it to avoid touching
	// the process environment. Default: os.LookupEnv. The AWS SDK reads its environment itself.
	LookupEnv func(key string) (string, bool)

	// Logger receives errors DownloadHandler cannot show to the client. Default: discards.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "./herald-data"
	}
	if c.DownloadPath == "" {
		c.DownloadPath = DefaultDownloadPath
	}
	if !strings.HasSuffix(c.DownloadPath, "/") {
		c.DownloadPath += "/"
	}
	if c.UploadPartSize == 0 {
		c.UploadPartSize = DefaultUploadPartSize
	}
	if c.UploadConcurrency == 0 {
		c.UploadConcurrency = DefaultUploadConcurrency
	}
	if c.LookupEnv == nil {
		c.LookupEnv = os.LookupEnv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.PublicBaseURL = strings.TrimSuffix(c.PublicBaseURL, "/")
	return c
}

// validate checks a defaulted config; scheme-specific checks happen in Open.
func (c Config) validate() error {
	var errs []error
	if !strings.HasPrefix(c.DownloadPath, "/") {
		errs = append(errs, fmt.Errorf("DownloadPath %q must start with /", c.DownloadPath))
	}
	if c.UploadPartSize < 0 {
		errs = append(errs, fmt.Errorf("UploadPartSize %d must not be negative", c.UploadPartSize))
	}
	if c.UploadConcurrency < 0 {
		errs = append(errs, fmt.Errorf("UploadConcurrency %d must not be negative", c.UploadConcurrency))
	}
	if c.PublicBaseURL != "" && !strings.HasPrefix(c.PublicBaseURL, "http://") &&
		!strings.HasPrefix(c.PublicBaseURL, "https://") {
		errs = append(errs, fmt.Errorf("PublicBaseURL %q must start with http:// or https://", c.PublicBaseURL))
	}
	return errors.Join(errs...)
}

func (c Config) getenv(key string) string {
	v, _ := c.LookupEnv(key)
	return v
}
