package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/stretchr/testify/require"
)

var testSigningKey = bytes.Repeat([]byte("0123456789abcdef"), 2)

// setupFile opens file storage in a temp dir, closed at cleanup.
func setupFile(t *testing.T) *Bucket {
	t.Helper()
	b, err := Open(context.Background(), Config{DataDir: t.TempDir(), SigningKey: testSigningKey})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// Azurite's well-known development account (public, documented by Microsoft).
const (
	azuriteAddr    = "127.0.0.1:10000"
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var (
	azuriteOnce sync.Once
	azuriteErr  error
)

// requireAzurite skips (or fails under CI=true) when Azurite's blob service is down.
func requireAzurite(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: leaves out the Azure storage tests (make check)")
	}
	azuriteOnce.Do(func() {
		conn, err := net.DialTimeout("tcp", azuriteAddr, 2*time.Second)
		if err != nil {
			azuriteErr = err
			return
		}
		azuriteErr = conn.Close()
	})
	if azuriteErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Azurite at %s is unreachable and CI=true (start it with test/azurite/start.sh): %v", azuriteAddr, azuriteErr)
	}
	t.Skipf("!!!!! SKIPPING Azure storage tests: Azurite at %s unreachable (run test/azurite/start.sh): %v !!!!!", azuriteAddr, azuriteErr)
}

// azuriteEnv is the environment a user sets to point Herald at Azurite.
func azuriteEnv(extra map[string]string) func(string) (string, bool) {
	env := map[string]string{"AZURE_STORAGE_ACCOUNT": azuriteAccount, "AZURE_STORAGE_KEY": azuriteKey}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// setupAzure creates a unique container in Azurite and opens it, removing both at cleanup.
func setupAzure(t *testing.T, partSize int) *Bucket {
	t.Helper()
	requireAzurite(t)
	ctx := context.Background()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "herald-test-" + hex.EncodeToString(rnd[:])
	b, err := Open(ctx, Config{
		URL:            "azblob://" + name + "?protocol=http&domain=" + azuriteAddr,
		LookupEnv:      azuriteEnv(nil),
		UploadPartSize: partSize,
	})
	require.NoError(t, err)
	var cc *container.Client
	require.True(t, b.bucket.As(&cc))
	_, err = cc.Create(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := cc.Delete(context.Background(), nil)
		require.NoError(t, err)
		require.NoError(t, b.Close())
	})
	return b
}

// pattern yields n pseudo-random bytes generated on the fly, never held in memory.
func pattern(n int64) io.Reader {
	return io.LimitReader(mrand.NewChaCha8([32]byte{1, 2, 3}), n)
}

// writeObject writes data under key and requires success.
func writeObject(t *testing.T, b *Bucket, key string, data []byte, opts *WriterOptions) {
	t.Helper()
	w, err := b.NewWriter(context.Background(), key, "text/csv", opts)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

func readObject(t *testing.T, b *Bucket, key string) []byte {
	t.Helper()
	r, err := b.NewReader(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	return got
}
