package storage

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAzureWriteReadListDelete(t *testing.T) {
	t.Parallel()
	b := setupAzure(t, 0)
	ctx := context.Background()
	expires := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
	key := "exports/alice/task-1/orders.csv"

	writeObject(t, b, key, []byte("id\n1\n"), &WriterOptions{ExpiresAt: expires, Metadata: map[string]string{"owner": "alice"}})
	writeObject(t, b, "exports/alice/task-2/other.csv", []byte("x"), nil)
	writeObject(t, b, "exports/bob/task-3/b.csv", []byte("y"), nil)
	require.Equal(t, "id\n1\n", string(readObject(t, b, key)))

	info, err := b.Attributes(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(5), info.Size)
	require.Equal(t, "text/csv", info.ContentType)
	require.Equal(t, "alice", info.Metadata["owner"])
	require.True(t, expires.Equal(info.ExpiresAt), "got %v", info.ExpiresAt)

	var listed []ObjectInfo
	for info, err := range b.List(ctx, "exports/alice/", &ListOptions{WithMetadata: true}) {
		require.NoError(t, err)
		listed = append(listed, info)
	}
	require.Len(t, listed, 2)
	require.Equal(t, key, listed[0].Key)
	require.True(t, expires.Equal(listed[0].ExpiresAt))
	require.False(t, listed[0].ModTime.IsZero())
	require.True(t, listed[1].ExpiresAt.IsZero())

	require.NoError(t, b.Delete(ctx, key))
	require.NoError(t, b.Delete(ctx, key), "deleting a missing object is not an error")
	ok, err := b.Exists(ctx, key)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = b.Attributes(ctx, key)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestAzureStreamsInBlocks(t *testing.T) {
	t.Parallel()
	// 1 MiB blocks so a 5.5 MiB object takes several staged blocks and a commit.
	b := setupAzure(t, 1<<20)
	ctx := context.Background()
	const size = 5<<20 + 512<<10
	key := "exports/u/t/blocks.bin"
	w, err := b.NewWriter(ctx, key, "application/octet-stream", nil)
	require.NoError(t, err)
	sum := sha256.New()
	_, err = io.Copy(io.MultiWriter(w, sum), pattern(size))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	r, err := b.NewReader(ctx, key)
	require.NoError(t, err)
	defer r.Close()
	got := sha256.New()
	n, err := io.Copy(got, r)
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	require.Equal(t, sum.Sum(nil), got.Sum(nil))
}

func TestAzureCancelledUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setupAzure(t, 1<<20)

	t.Run("context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		key := "exports/u/t/cancelled.bin"
		w, err := b.NewWriter(ctx, key, "application/octet-stream", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(3<<20)) // some blocks staged already
		require.NoError(t, err)
		cancel()
		require.Error(t, w.Close())
		requireGone(t, b, key)
	})
	t.Run("abort", func(t *testing.T) {
		t.Parallel()
		key := "exports/u/t/aborted.bin"
		w, err := b.NewWriter(context.Background(), key, "application/octet-stream", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(2<<20+100))
		require.NoError(t, err)
		require.NoError(t, w.Abort())
		requireGone(t, b, key)
	})
}

func TestAzureSignedURL(t *testing.T) {
	t.Parallel()
	b := setupAzure(t, 0)
	ctx := context.Background()
	key := "exports/alice/task-1/orders-20261122-153000.csv.gz"
	data := []byte(strings.Repeat("azure,", 1000))
	writeObject(t, b, key, data, nil)

	link, err := b.SignedURL(ctx, key, time.Now().Add(time.Hour), "Bestellungen März.csv.gz")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, "http://"+azuriteAddr+"/"+azuriteAccount+"/"), link)

	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(link)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, data, body)
	require.Equal(t, attachment("Bestellungen März.csv.gz"), resp.Header.Get("Content-Disposition"))

	// The SAS is read-only: the same link cannot overwrite the blob.
	req, err := http.NewRequest(http.MethodPut, link, strings.NewReader("evil"))
	require.NoError(t, err)
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	resp, err = client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// A tampered signature is refused by the service.
	u, err := url.Parse(link)
	require.NoError(t, err)
	q := u.Query()
	q.Set("se", time.Now().Add(48*time.Hour).UTC().Format("2006-01-02T15:04:05Z"))
	u.RawQuery = q.Encode()
	resp, err = client.Get(u.String())
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// File storage's handler does not serve Azure buckets.
	rec := serve(b, http.MethodGet, "/api/downloads/"+key, nil)
	requireErrorCode(t, rec, http.StatusNotFound, CodeNotFound)
}

func TestAzureConnectionString(t *testing.T) {
	t.Parallel()
	requireAzurite(t)
	ctx := context.Background()
	cs := "DefaultEndpointsProtocol=http;AccountName=" + azuriteAccount + ";AccountKey=" + azuriteKey +
		";BlobEndpoint=http://" + azuriteAddr + "/" + azuriteAccount + ";"
	seed := setupAzure(t, 0) // makes the container
	writeObject(t, seed, "exports/x/y/z.csv", []byte("via key"), nil)

	b, err := Open(ctx, Config{
		URL: "azblob://" + seed.azure.container,
		LookupEnv: func(k string) (string, bool) {
			if k == "AZURE_STORAGE_CONNECTION_STRING" {
				return cs, true
			}
			return "", false
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	require.Equal(t, "via key", string(readObject(t, b, "exports/x/y/z.csv")))
	link, err := b.SignedURL(ctx, "exports/x/y/z.csv", time.Now().Add(time.Minute), "")
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(link)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "via key", string(body))
}
