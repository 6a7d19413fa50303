package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"gocloud.dev/blob/s3blob"
)

// openS3 opens s3://BUCKET?… through gocloud's s3blob (AWS SDK v2). Query parameters are
// gocloud's: region, endpoint, use_path_style, disable_https, profile, anonymous,
// hostname_immutable, ssetype, kmskeyid, accelerate, dualstack, fips,
// request_checksum_calculation and response_checksum_validation (S3-compatible stores often
// want both "when_required"). Credentials come from the AWS SDK's default chain:
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, web identity, instance
// roles.
func openS3(ctx context.Context, u *url.URL, cfg Config) (*Bucket, error) {
	fail := func(err error) (*Bucket, error) {
		return nil, fmt.Errorf("storage URL %q: %w", redact(cfg.URL), err)
	}
	if u.Host == "" {
		return fail(errors.New("s3 URL needs a bucket, as in s3://herald-exports?region=eu-west-1"))
	}
	if cfg.UploadPartSize < minS3PartSize {
		return fail(fmt.Errorf("UploadPartSize %d is below S3's minimum part size of %d bytes", cfg.UploadPartSize, minS3PartSize))
	}
	bkt, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
	if err != nil {
		return fail(err)
	}
	return &Bucket{bucket: bkt, kind: KindS3, cfg: cfg}, nil
}
