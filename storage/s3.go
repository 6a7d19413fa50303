package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"gocloud.dev/blob/s3blob"
)

// s3AbortTimeout bounds the AbortMultipartUpload sent after the upload's context ended.
const s3AbortTimeout = 30 * time.Second

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
	// gocloud parses the URL into a client and s3blob.Options (left in opener.Options); the
	// bucket is then reopened on a copy of that client with detachAbort added.
	opener := &s3blob.URLOpener{}
	parsed, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		return fail(err)
	}
	var client *s3.Client
	ok := parsed.As(&client)
	if err := parsed.Close(); err != nil {
		return fail(err)
	}
	if !ok {
		return fail(errors.New("s3blob did not expose its *s3.Client"))
	}
	client = s3.New(client.Options(), func(o *s3.Options) {
		o.APIOptions = append(slices.Clone(o.APIOptions), detachAbort)
	})
	bkt, err := s3blob.OpenBucket(ctx, client, u.Host, &opener.Options)
	if err != nil {
		return fail(err)
	}
	return &Bucket{bucket: bkt, kind: KindS3, cfg: cfg}, nil
}

// detachAbort lets AbortMultipartUpload run after the upload's context was cancelled.
//
// The SDK's transfer manager (which s3blob streams uploads through) aborts a failed multipart
// upload with the upload's own context. When the failure is that context's cancellation,
// which is how Writer.Abort and a cancelled NewWriter context discard an upload, the abort
// request fails at once and the parts already sent stay staged in the bucket, invisible to
// List but billed, until a lifecycle rule removes them. This sends the abort on a context
// that keeps the values but not the cancellation, for at most s3AbortTimeout.
func detachAbort(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("HeraldDetachAbort",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
			middleware.InitializeOutput, middleware.Metadata, error,
		) {
			if _, ok := in.Parameters.(*s3.AbortMultipartUploadInput); ok && ctx.Err() != nil {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s3AbortTimeout)
				defer cancel()
				return next.HandleInitialize(ctx, in)
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}
