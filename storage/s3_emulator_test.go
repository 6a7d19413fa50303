package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
)

// The S3 tests run against gofakes3 (an S3 server written in Go, in-memory backend) served by
// httptest on 127.0.0.1 inside the test process: the real S3 REST protocol goes over HTTP
// through gocloud's s3blob and the AWS SDK v2, with no external service to start.
//
// gofakes3 does not verify signatures, so these tests prove that requests, multipart uploads,
// metadata and presigned-URL query overrides work, not that the signatures are right (real
// S3 checks those; TestOpenS3ParsesURLAndPresigns checks the presigned link's shape).

// s3Emulator is one gofakes3 server plus a log of the requests it saw.
type s3Emulator struct {
	URL string

	mu   sync.Mutex
	reqs []s3Request
}

// s3Request is what s3Emulator records of one request.
type s3Request struct {
	Method string
	Path   string
	Query  map[string][]string
	Auth   string // Authorization header ("" on presigned requests)
}

func (e *s3Emulator) requests() []s3Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]s3Request(nil), e.reqs...)
}

// uploadParts counts the UploadPart requests made for path (PUT with partNumber and uploadId).
func (e *s3Emulator) uploadParts(path string) int {
	n := 0
	for _, r := range e.requests() {
		if r.Method == http.MethodPut && r.Path == path && r.Query["partNumber"] != nil && r.Query["uploadId"] != nil {
			n++
		}
	}
	return n
}

// multipartStarts counts the CreateMultipartUpload requests made for path (POST ?uploads).
func (e *s3Emulator) multipartStarts(path string) int {
	n := 0
	for _, r := range e.requests() {
		if r.Method == http.MethodPost && r.Path == path && r.Query["uploads"] != nil {
			n++
		}
	}
	return n
}

// startS3Emulator serves a fresh in-memory gofakes3 on 127.0.0.1, closed at cleanup.
func startS3Emulator(t *testing.T) *s3Emulator {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(false), gofakes3.WithLogger(gofakes3.DiscardLog()))
	handler := faker.Server()
	e := &s3Emulator{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.reqs = append(e.reqs, s3Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Auth: r.Header.Get("Authorization")})
		e.mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	// gofakes3 writes some error statuses twice ("superfluous response.WriteHeader call");
	// the server's log of it is noise.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// setS3TestCredentials points the AWS SDK's default chain at fixed fake credentials and away
// from any ~/.aws files. It uses t.Setenv, so the test must not be parallel.
func setS3TestCredentials(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAHERALDEMULATOR")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "herald-emulator-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// setupS3 creates a unique bucket in the emulator through the SDK and opens it with an s3://
// URL as a user would write it; extra is appended to the URL's query.
func setupS3(t *testing.T, e *s3Emulator, partSize int, extra string) *Bucket {
	t.Helper()
	ctx := context.Background()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "herald-test-" + hex.EncodeToString(rnd[:])
	raw := "s3://" + name + "?region=eu-west-1&use_path_style=true&endpoint=" + e.URL + extra
	b, err := Open(ctx, Config{URL: raw, UploadPartSize: partSize})
	require.NoError(t, err)
	var client *s3.Client
	require.True(t, b.bucket.As(&client))
	_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// requireNoMultipartUploads checks the emulator holds no unfinished multipart upload.
func requireNoMultipartUploads(t *testing.T, b *Bucket) {
	t.Helper()
	var client *s3.Client
	require.True(t, b.bucket.As(&client))
	out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucketName(b))})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload" {
		return // gofakes3's answer for a bucket that never had a multipart upload
	}
	require.NoError(t, err)
	for _, u := range out.Uploads {
		t.Errorf("unfinished multipart upload left behind: key %q, id %q", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

// Not parallel: the AWS SDK reads credentials from the process environment only (t.Setenv).
func TestS3Emulator(t *testing.T) {
	setS3TestCredentials(t)
	e := startS3Emulator(t)

	// The default checksum settings (the SDK adds CRC checksums to uploads) and the ones
	// doc.go recommends for S3-compatible stores must both work.
	for _, variant := range []struct{ name, query string }{
		{"default", ""},
		{"when_required", "&request_checksum_calculation=when_required&response_checksum_validation=when_required"},
	} {
		t.Run(variant.name, func(t *testing.T) {
			t.Run("WriteReadListDelete", func(t *testing.T) { testS3WriteReadListDelete(t, e, variant.query) })
			t.Run("Multipart", func(t *testing.T) { testS3Multipart(t, e, variant.query) })
			t.Run("CancelledUploadLeavesNothing", func(t *testing.T) { testS3CancelledUpload(t, e, variant.query) })
			t.Run("SignedURL", func(t *testing.T) { testS3SignedURL(t, e, variant.query) })
		})
	}

	// Every request the SDK sent was signed with the configured credentials, either in the
	// Authorization header or, for the presigned links, in the query.
	reqs := e.requests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		cred := r.Auth
		if cred == "" && r.Query["X-Amz-Credential"] != nil {
			cred = r.Query["X-Amz-Credential"][0]
		}
		require.Contains(t, cred, "AKIAHERALDEMULATOR/", "%s %s unsigned", r.Method, r.Path)
		require.Contains(t, cred, "/eu-west-1/s3/", "%s %s", r.Method, r.Path)
	}
}

func testS3WriteReadListDelete(t *testing.T, e *s3Emulator, query string) {
	b := setupS3(t, e, 0, query)
	ctx := context.Background()
	expires := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
	key := "exports/alice/task-1/orders.csv"

	writeObject(t, b, key, []byte("id\n1\n"), &WriterOptions{
		ExpiresAt:          expires,
		Metadata:           map[string]string{"owner": "alice"},
		ContentDisposition: `attachment; filename="orders.csv"`,
	})
	writeObject(t, b, "exports/alice/task-2/other.csv", []byte("x"), nil)
	writeObject(t, b, "exports/bob/task-3/b.csv", []byte("y"), nil)
	require.Equal(t, "id\n1\n", string(readObject(t, b, key)))

	ok, err := b.Exists(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)

	info, err := b.Attributes(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(5), info.Size)
	require.Equal(t, "text/csv", info.ContentType)
	require.Equal(t, "alice", info.Metadata["owner"])
	require.True(t, expires.Equal(info.ExpiresAt), "got %v", info.ExpiresAt)
	require.NotEmpty(t, info.ETag)

	var listed []ObjectInfo
	for info, err := range b.List(ctx, "exports/alice/", &ListOptions{WithMetadata: true}) {
		require.NoError(t, err)
		listed = append(listed, info)
	}
	require.Len(t, listed, 2)
	require.Equal(t, key, listed[0].Key)
	require.Equal(t, int64(5), listed[0].Size)
	require.True(t, expires.Equal(listed[0].ExpiresAt), "got %v", listed[0].ExpiresAt)
	require.Equal(t, "alice", listed[0].Metadata["owner"])
	require.Equal(t, "text/csv", listed[0].ContentType)
	require.False(t, listed[0].ModTime.IsZero())
	require.Equal(t, "exports/alice/task-2/other.csv", listed[1].Key)
	require.True(t, listed[1].ExpiresAt.IsZero())

	// Without metadata: keys and sizes only, every object under the prefix, in key order.
	var keys []string
	for info, err := range b.List(ctx, "exports/", nil) {
		require.NoError(t, err)
		require.Nil(t, info.Metadata)
		keys = append(keys, info.Key)
	}
	require.Equal(t, []string{key, "exports/alice/task-2/other.csv", "exports/bob/task-3/b.csv"}, keys)

	require.NoError(t, b.Delete(ctx, key))
	require.NoError(t, b.Delete(ctx, key), "deleting a missing object is not an error")
	ok, err = b.Exists(ctx, key)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = b.Attributes(ctx, key)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = b.NewReader(ctx, key)
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, b.DeleteAny(ctx, "exports/bob/task-3/b.csv"))
	requireGone(t, b, "exports/bob/task-3/b.csv")
}

func testS3Multipart(t *testing.T, e *s3Emulator, query string) {
	// 5 MiB parts (S3's minimum). gocloud's s3blob hands the stream to the AWS SDK's transfer
	// manager, which reads the first 16 MiB (its MultipartUploadThreshold, which gocloud
	// leaves at the default) before deciding: anything shorter goes up as one PutObject, so
	// only objects over 16 MiB are uploaded in UploadPartSize parts. 18 MiB makes 5+5+5+3.
	const partSize = 5 << 20
	const size = 18 << 20
	b := setupS3(t, e, partSize, query)
	ctx := context.Background()
	key := "exports/u/t/multipart.bin"
	data, err := io.ReadAll(pattern(size))
	require.NoError(t, err)

	w, err := b.NewWriter(ctx, key, "application/octet-stream", &WriterOptions{ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	// Small writes, as an exporter makes them: the writer must buffer them into parts.
	for chunk := range slices.Chunk(data, 64<<10) {
		_, err := w.Write(chunk)
		require.NoError(t, err)
	}
	require.Equal(t, int64(size), w.Written())
	require.NoError(t, w.Close())

	path := "/" + bucketName(b) + "/" + key
	require.Equal(t, 4, e.uploadParts(path), "a %d-byte object in %d-byte parts", size, partSize)
	requireNoMultipartUploads(t, b)

	got := readObject(t, b, key)
	require.Equal(t, len(data), len(got))
	require.True(t, bytes.Equal(data, got), "the object read back differs from what was written")

	info, err := b.Attributes(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(size), info.Size)
	require.False(t, info.ExpiresAt.IsZero())

	// Seeking costs a ranged GET that must start at the right byte.
	r, err := b.NewReader(ctx, key)
	require.NoError(t, err)
	defer r.Close()
	const off = 15<<20 + 12345
	pos, err := r.Seek(off, io.SeekStart)
	require.NoError(t, err)
	require.Equal(t, int64(off), pos)
	tail, err := io.ReadAll(r)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data[off:], tail), "the ranged read differs")

	// Below the transfer manager's 16 MiB threshold the upload is a single PutObject even
	// when it spans several UploadPartSize parts. This pins the behaviour doc.go's memory
	// bound has to account for; if it changes (gocloud exposing the threshold), update both.
	small := "exports/u/t/below-threshold.bin"
	w, err = b.NewWriter(ctx, small, "application/octet-stream", nil)
	require.NoError(t, err)
	_, err = w.Write(data[:12<<20])
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Equal(t, 0, e.uploadParts("/"+bucketName(b)+"/"+small), "12 MiB: no multipart upload")
	require.True(t, bytes.Equal(data[:12<<20], readObject(t, b, small)))
}

func testS3CancelledUpload(t *testing.T, e *s3Emulator, query string) {
	const partSize = 5 << 20
	// Over the transfer manager's 16 MiB threshold (see testS3Multipart), so a multipart
	// upload is created and parts are sent before the upload is given up.
	const multipartSize = 4*partSize + 100
	b := setupS3(t, e, partSize, query)

	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		key := "exports/u/t/cancelled.bin"
		w, err := b.NewWriter(ctx, key, "application/octet-stream", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(multipartSize)) // parts already on their way
		require.NoError(t, err)
		cancel()
		require.Error(t, w.Close())
		require.Equal(t, 1, e.multipartStarts("/"+bucketName(b)+"/"+key), "a multipart upload was started")
		requireGone(t, b, key)
	})
	t.Run("abort", func(t *testing.T) {
		key := "exports/u/t/aborted.bin"
		w, err := b.NewWriter(context.Background(), key, "application/octet-stream", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(multipartSize))
		require.NoError(t, err)
		require.NoError(t, w.Abort())
		require.Equal(t, 1, e.multipartStarts("/"+bucketName(b)+"/"+key), "a multipart upload was started")
		requireGone(t, b, key)
	})
	t.Run("abort small", func(t *testing.T) {
		// Below one part: a single PutObject that must not be sent.
		key := "exports/u/t/aborted-small.csv"
		w, err := b.NewWriter(context.Background(), key, "text/csv", nil)
		require.NoError(t, err)
		_, err = w.Write([]byte("id\n1\n"))
		require.NoError(t, err)
		require.NoError(t, w.Abort())
		requireGone(t, b, key)
	})
	t.Run("abort keeps the old object", func(t *testing.T) {
		key := "exports/u/t/kept.csv"
		writeObject(t, b, key, []byte("old"), nil)
		w, err := b.NewWriter(context.Background(), key, "application/octet-stream", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(multipartSize))
		require.NoError(t, err)
		require.NoError(t, w.Abort())
		require.Equal(t, "old", string(readObject(t, b, key)))
	})
	// The SDK aborts the multipart uploads it started: nothing stays staged in the bucket.
	// This runs after all subtests (they are sequential).
	requireNoMultipartUploads(t, b)
}

func testS3SignedURL(t *testing.T, e *s3Emulator, query string) {
	b := setupS3(t, e, 0, query)
	ctx := context.Background()
	key := "exports/alice/task-1/orders-20261122-153000.csv.gz"
	data := []byte(strings.Repeat("s3,", 1000))
	writeObject(t, b, key, data, nil)

	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	get := func(link string) (*http.Response, []byte) {
		t.Helper()
		resp, err := client.Get(link)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp, body
	}

	for _, name := range []string{"Bestellungen März.csv.gz", "orders.csv.gz", ""} {
		link, err := b.SignedURL(ctx, key, time.Now().Add(time.Hour), name)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(link, e.URL+"/"+bucketName(b)+"/"+key+"?"), link)
		resp, body := get(link)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		require.Equal(t, data, body)
		want := name
		if want == "" {
			want = "orders-20261122-153000.csv.gz" // the key's last segment
		}
		require.Equal(t, attachment(want), resp.Header.Get("Content-Disposition"), "name %q", name)
	}

	// A link to a missing object fails at the provider, not when signing.
	link, err := b.SignedURL(ctx, "exports/alice/task-1/missing.csv", time.Now().Add(time.Hour), "")
	require.NoError(t, err)
	resp, _ := get(link)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// File storage's handler does not serve S3 buckets.
	rec := serve(b, http.MethodGet, "/api/downloads/"+key, nil)
	requireErrorCode(t, rec, http.StatusNotFound, CodeNotFound)
}

// bucketName is the bucket an s3:// Bucket was opened on.
func bucketName(b *Bucket) string {
	return strings.TrimPrefix(strings.SplitN(b.cfg.URL, "?", 2)[0], "s3://")
}
