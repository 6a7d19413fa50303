package storage

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown scheme", Config{URL: "gs://bucket", SigningKey: testSigningKey}, `unknown scheme "gs"`},
		{"no scheme", Config{URL: "just-a-dir", SigningKey: testSigningKey}, "unknown scheme"},
		{"bad URL", Config{URL: "file://%zz", SigningKey: testSigningKey}, "storage URL"},
		{"short signing key", Config{DataDir: dir, SigningKey: []byte("short")}, "SigningKey of at least 32 bytes"},
		{"no signing key", Config{URL: "file://" + filepath.ToSlash(dir)}, "SigningKey"},
		{"file params", Config{URL: "file://" + filepath.ToSlash(dir) + "?base_url=/x", SigningKey: testSigningKey}, "no query parameters"},
		{"file host", Config{URL: "file://example.com/x", SigningKey: testSigningKey}, "file URL host"},
		{"file no dir", Config{URL: "file://", SigningKey: testSigningKey}, "needs a directory"},
		{"azure no container", Config{URL: "azblob://?protocol=http", LookupEnv: azuriteEnv(nil)}, "needs a container"},
		{"azure unknown param", Config{URL: "azblob://c?bogus=1", LookupEnv: azuriteEnv(nil)}, `unknown query parameter "bogus"`},
		{"azure bad protocol", Config{URL: "azblob://c?protocol=ftp", LookupEnv: azuriteEnv(nil)}, "invalid protocol"},
		{"s3 no bucket", Config{URL: "s3://?region=eu-west-1"}, "needs a bucket"},
		{"s3 small parts", Config{URL: "s3://b?region=eu-west-1", UploadPartSize: 1 << 20}, "minimum part size"},
		{"s3 unknown param", Config{URL: "s3://b?region=eu-west-1&bogus=1"}, "bogus"},
		{"public base", Config{DataDir: dir, SigningKey: testSigningKey, PublicBaseURL: "herald.example.com"}, "PublicBaseURL"},
		{"download path", Config{DataDir: dir, SigningKey: testSigningKey, DownloadPath: "api/dl"}, "DownloadPath"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Open(context.Background(), tc.cfg)
			if err == nil {
				_ = b.Close()
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOpenRedactsQueryInErrors(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), Config{URL: "azblob://c?bogus=secret-token", LookupEnv: azuriteEnv(nil)})
	require.Error(t, err)
	require.NotContains(t, err.Error(), `"azblob://c?bogus=secret-token"`)
}

func TestOpenFileDefaultsAndForms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	b, err := Open(ctx, Config{DataDir: data, SigningKey: testSigningKey})
	require.NoError(t, err)
	require.Equal(t, KindFile, b.Kind())
	writeObject(t, b, "exports/a/b/c.csv", []byte("x"), nil)
	require.NoError(t, b.Close())
	_, err = os.Stat(filepath.Join(data, "files", "exports", "a", "b", "c.csv"))
	require.NoError(t, err, "default bucket is DataDir/files, so an export's key does not say exports twice")

	// file:///abs creates a missing directory.
	abs := filepath.Join(t.TempDir(), "deep", "er")
	b, err = Open(ctx, Config{URL: "file://" + filepath.ToSlash(abs), SigningKey: testSigningKey})
	require.NoError(t, err)
	require.NoError(t, b.Close())
	_, err = os.Stat(abs)
	require.NoError(t, err)
}

// The default directory of earlier versions, DataDir/exports (where an export's file was
// exports/exports/<task>/<file>), becomes DataDir/files at Open: its files keep their keys, and
// so their links.
func TestOpenFileMovesTheLegacyDefaultDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	legacy := filepath.Join(data, "exports", "exports", "task-1")
	require.NoError(t, os.MkdirAll(legacy, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(legacy, "orders.csv"), []byte("id\n"), 0o600))

	b, err := Open(ctx, Config{DataDir: data, SigningKey: testSigningKey})
	require.NoError(t, err)
	require.Equal(t, "id\n", string(readObject(t, b, "exports/task-1/orders.csv")))
	require.NoError(t, b.Close())
	_, err = os.Stat(filepath.Join(data, "exports"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// Once DataDir/files exists, a directory named exports is not the bucket's and stays.
	require.NoError(t, os.MkdirAll(filepath.Join(data, "exports"), 0o750))
	b, err = Open(ctx, Config{DataDir: data, SigningKey: testSigningKey})
	require.NoError(t, err)
	require.NoError(t, b.Close())
	_, err = os.Stat(filepath.Join(data, "exports"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(data, "files", "exports", "task-1", "orders.csv"))
	require.NoError(t, err)
}

// Not parallel: the AWS SDK reads credentials from the process environment only, and
// t.Setenv is safe only while no parallel test runs.
func TestOpenS3ParsesURLAndPresigns(t *testing.T) {
	// No S3 emulator here: check that the URL parameters reach the SDK and that a presigned
	// link carries the bucket, key, expiry and Content-Disposition override. Presigning is
	// local computation, so fake credentials do.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAHERALDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "herald-test-secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	b, err := Open(ctx, Config{URL: "s3://herald-exports?region=eu-west-1&endpoint=http://127.0.0.1:9000&use_path_style=true"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	require.Equal(t, KindS3, b.Kind())

	link, err := b.SignedURL(ctx, "exports/u/t/orders.csv.gz", time.Now().Add(time.Hour), "Bestellungen März.csv.gz")
	require.NoError(t, err)
	u, err := url.Parse(link)
	require.NoError(t, err)
	q := u.Query()
	require.Equal(t, "127.0.0.1:9000", u.Host)
	require.Equal(t, "/herald-exports/exports/u/t/orders.csv.gz", u.Path)
	require.Equal(t, attachment("Bestellungen März.csv.gz"), q.Get("response-content-disposition"))
	require.Contains(t, q.Get("X-Amz-Credential"), "AKIAHERALDTEST/")
	require.Contains(t, q.Get("X-Amz-Credential"), "/eu-west-1/s3/")
	require.NotEmpty(t, q.Get("X-Amz-Signature"))
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	require.NoError(t, err)
	require.InDelta(t, 3600, expires, 5)
}
