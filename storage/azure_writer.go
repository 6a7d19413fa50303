package storage

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
)

// azureUpload streams one blob with the Azure SDK's UploadStream (staged blocks of
// BlockSize, at most Concurrency buffers, then a block-list commit) fed through a pipe.
//
// We do not use gocloud's azureblob writer here: in v0.47.0 its Close dereferences a pipe
// reader that its upload goroutine sets to nil when the upload fails, so a cancelled or
// failed upload panics (and earlier versions race on the same field). Reads, listing and
// deletes still go through gocloud, so metadata is encoded the way gocloud decodes it.
type azureUpload struct {
	pw   *io.PipeWriter
	done chan struct{}
	err  error // set before done closes
}

func (s *azureSigner) newUpload(ctx context.Context, key, contentType, disposition string, md map[string]string, cfg Config) *azureUpload {
	meta := make(map[string]*string, len(md))
	for k, v := range md {
		ev := url.PathEscape(v) // gocloud's azureblob URL-unescapes values on read
		meta[azureMetaKey(k)] = &ev
	}
	headers := &azblobblob.HTTPHeaders{BlobContentType: &contentType}
	if disposition != "" {
		headers.BlobContentDisposition = &disposition
	}
	opts := &azblob.UploadStreamOptions{
		BlockSize:   int64(cfg.UploadPartSize),
		Concurrency: cfg.UploadConcurrency,
		Metadata:    meta,
		HTTPHeaders: headers,
	}
	pr, pw := io.Pipe()
	u := &azureUpload{pw: pw, done: make(chan struct{})}
	client := s.client.NewBlockBlobClient(key) // ValidateKey'd keys need no gocloud escaping
	go func() {
		defer close(u.done)
		_, err := client.UploadStream(ctx, pr, opts)
		u.err = err
		if err == nil {
			err = io.ErrClosedPipe // nothing should write after a finished upload
		}
		// Unblocks a Write waiting on a reader that has stopped reading.
		_ = pr.CloseWithError(err)
	}()
	return u
}

// Write feeds the upload; it fails once the upload has failed.
func (u *azureUpload) Write(p []byte) (int, error) { return u.pw.Write(p) }

// Close ends the stream and waits for the commit (or the failure).
func (u *azureUpload) Close() error {
	_ = u.pw.Close() // PipeWriter.Close never fails
	<-u.done
	return u.err
}

// azureMetaKey encodes a metadata key the way gocloud's azureblob does (Azure allows only C#
// identifiers): characters other than letters, digits and '_' become "__0x<hex>__", as does
// a leading digit. checkMetaKey limits keys to [a-z0-9-], so no key contains "__0x…__" that
// would need escaping of its own.
func azureMetaKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
		if !alnum || (i == 0 && '0' <= c && c <= '9') {
			b.WriteString("__0x")
			b.WriteString(strconv.FormatUint(uint64(c), 16))
			b.WriteString("__")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
