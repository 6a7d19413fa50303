package storage

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// SignedURL returns a link that downloads key until expires, with no other credential,
// offering it to the browser as downloadName (default: the key's last segment).
//
//   - file: PublicBaseURL + DownloadPath + key + "?expires=<unix>&name=…&sig=<HMAC>", served by
//     DownloadHandler; the name is signed too, so it cannot be changed.
//   - azblob: a read-only service SAS for the blob, with the Content-Disposition override
//     (rscd) signed in; needs a shared key (account key or connection string) or an Azure AD
//     credential allowed to get a user delegation key.
//   - s3: a presigned GET with response-content-disposition; SigV4 allows at most 7 days.
//
// Anyone holding the link can download until it expires: hand it only to the owner.
func (b *Bucket) SignedURL(ctx context.Context, key string, expires time.Time, downloadName string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	ttl := time.Until(expires)
	if ttl <= 0 {
		return "", fmt.Errorf("storage: sign %q: expiry %s is not in the future", key, expires.UTC().Format(time.RFC3339))
	}
	disposition := attachment(defaultName(key, downloadName))
	switch b.kind {
	case KindFile:
		return b.cfg.PublicBaseURL + b.cfg.DownloadPath + key + "?" +
			b.fileSigner.query(key, expires, defaultName(key, downloadName)), nil
	case KindAzure:
		u, err := b.azure.signedURL(ctx, key, expires, disposition)
		if err != nil {
			return "", fmt.Errorf("storage: sign %q: %w", key, err)
		}
		return u, nil
	default:
		u, err := b.bucket.SignedURL(ctx, key, &blob.SignedURLOptions{
			Expiry: ttl,
			Method: http.MethodGet,
			BeforeSign: func(as func(any) bool) error {
				var in *s3.GetObjectInput
				if as(&in) {
					in.ResponseContentDisposition = &disposition
				}
				return nil
			},
		})
		if err != nil {
			return "", fmt.Errorf("storage: sign %q: %w", key, err)
		}
		return u, nil
	}
}
