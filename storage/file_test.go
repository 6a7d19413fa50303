package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFileWriteReadDelete(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	ctx := context.Background()
	key := "exports/alice/task-1/orders-20261122-153000.csv.gz"
	expires := time.Date(2026, 11, 29, 15, 30, 0, 0, time.UTC)

	writeObject(t, b, key, []byte("id,total\n1,9.50\n"), &WriterOptions{
		ExpiresAt: expires,
		Metadata:  map[string]string{"owner": "alice"},
	})
	require.Equal(t, "id,total\n1,9.50\n", string(readObject(t, b, key)))

	ok, err := b.Exists(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)

	info, err := b.Attributes(ctx, key)
	require.NoError(t, err)
	require.Equal(t, int64(16), info.Size)
	require.Equal(t, "text/csv", info.ContentType)
	require.Equal(t, "alice", info.Metadata["owner"])
	require.True(t, expires.Equal(info.ExpiresAt))
	require.NotEmpty(t, info.ETag)

	require.NoError(t, b.Delete(ctx, key))
	require.NoError(t, b.Delete(ctx, key), "deleting a missing object is not an error")
	ok, err = b.Exists(ctx, key)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = b.Attributes(ctx, key)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = b.NewReader(ctx, key)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestFileStreamsLargeObject(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	ctx := context.Background()
	const size = 50 << 20
	key := "exports/bob/task-2/big.bin"

	w, err := b.NewWriter(ctx, key, "application/octet-stream", nil)
	require.NoError(t, err)
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), pattern(size))
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	require.Equal(t, int64(size), w.Written())
	require.NoError(t, w.Close())

	r, err := b.NewReader(ctx, key)
	require.NoError(t, err)
	defer r.Close()
	got := sha256.New()
	n, err = io.Copy(got, r)
	require.NoError(t, err)
	require.Equal(t, int64(size), n)
	require.Equal(t, sum.Sum(nil), got.Sum(nil))
}

func TestFileCancelledUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setupFile(t)

	t.Run("context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		key := "exports/carol/task-3/partial.csv"
		w, err := b.NewWriter(ctx, key, "text/csv", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(3<<20))
		require.NoError(t, err)
		cancel()
		require.Error(t, w.Close())
		requireGone(t, b, key)
	})
	t.Run("abort", func(t *testing.T) {
		t.Parallel()
		key := "exports/carol/task-4/partial.csv"
		w, err := b.NewWriter(context.Background(), key, "text/csv", nil)
		require.NoError(t, err)
		_, err = io.Copy(w, pattern(1<<20))
		require.NoError(t, err)
		require.NoError(t, w.Abort())
		require.NoError(t, w.Abort(), "a second Abort does nothing")
		_, err = w.Write([]byte("x"))
		require.Error(t, err)
		requireGone(t, b, key)
	})
	t.Run("abort keeps the previous version", func(t *testing.T) {
		t.Parallel()
		key := "exports/carol/task-5/report.csv"
		writeObject(t, b, key, []byte("old"), nil)
		w, err := b.NewWriter(context.Background(), key, "text/csv", nil)
		require.NoError(t, err)
		_, err = w.Write([]byte("new and longer"))
		require.NoError(t, err)
		require.NoError(t, w.Abort())
		require.Equal(t, "old", string(readObject(t, b, key)))
	})
}

// Deleting or aborting the last object of a directory removes the directories it leaves empty,
// up to the key's first segment: a cancelled export leaves no exports/<task>/ behind.
func TestFileRemovesTheDirectoriesItEmpties(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Open(ctx, Config{URL: "file://" + filepath.ToSlash(dir), SigningKey: testSigningKey})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		require.NoError(t, err)
		return true
	}

	w, err := b.NewWriter(ctx, "exports/task-1/part/orders.csv", "text/csv", nil)
	require.NoError(t, err)
	_, err = w.Write([]byte("id\n1\n"))
	require.NoError(t, err)
	require.True(t, exists("exports/task-1/part"), "the upload made its directories")
	require.NoError(t, w.Abort())
	require.False(t, exists("exports/task-1"), "an aborted upload leaves no empty directory")
	require.True(t, exists("exports"), "the first segment stays: other uploads make their directories in it")

	writeObject(t, b, "exports/task-2/a.csv", []byte("a"), nil)
	writeObject(t, b, "exports/task-2/b.csv", []byte("b"), nil)
	require.NoError(t, b.Delete(ctx, "exports/task-2/a.csv"))
	require.True(t, exists("exports/task-2"), "a directory with an object left stays")
	require.Equal(t, "b", string(readObject(t, b, "exports/task-2/b.csv")))
	require.NoError(t, b.Delete(ctx, "exports/task-2/b.csv"))
	require.False(t, exists("exports/task-2"))

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "exports", "task-3"), 0o750))
	stranded := "exports/task-3/x.csv.18f2a3b4c5d6e7f8.tmp"
	require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(stranded)), []byte("half"), 0o600))
	require.NoError(t, b.DeleteAny(ctx, stranded))
	require.False(t, exists("exports/task-3"), "retention's DeleteAny removes the directory too")
	require.True(t, exists("exports"))
}

// requireGone checks that key is absent and that no temp file is left in the bucket.
func requireGone(t *testing.T, b *Bucket, key string) {
	t.Helper()
	ok, err := b.Exists(context.Background(), key)
	require.NoError(t, err)
	require.False(t, ok)
	for info, err := range b.List(context.Background(), key, nil) {
		require.NoError(t, err)
		t.Fatalf("left behind: %s", info.Key)
	}
}

func TestFileListWithMetadata(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	writeObject(t, b, "exports/u1/t1/a.csv", []byte("a"), &WriterOptions{ExpiresAt: past})
	writeObject(t, b, "exports/u1/t2/b.csv", []byte("bb"), nil)
	writeObject(t, b, "exports/u2/t3/c.csv", []byte("ccc"), nil)

	var keys []string
	for info, err := range b.List(ctx, "exports/u1/", &ListOptions{WithMetadata: true}) {
		require.NoError(t, err)
		keys = append(keys, info.Key)
		if info.Key == "exports/u1/t1/a.csv" {
			require.True(t, past.Equal(info.ExpiresAt), "got %v", info.ExpiresAt)
			require.Equal(t, int64(1), info.Size)
			require.False(t, info.ModTime.IsZero())
		} else {
			require.True(t, info.ExpiresAt.IsZero())
		}
	}
	require.Equal(t, []string{"exports/u1/t1/a.csv", "exports/u1/t2/b.csv"}, keys)

	// Breaking out early stops the iteration cleanly.
	n := 0
	for _, err := range b.List(ctx, "", nil) {
		require.NoError(t, err)
		n++
		break
	}
	require.Equal(t, 1, n)

	for _, err := range b.List(ctx, "../", nil) {
		require.ErrorIs(t, err, ErrInvalidKey)
	}
}

func TestFileStrandedTempFileIsListedAndDeletable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := Open(context.Background(), Config{URL: "file://" + filepath.ToSlash(dir), SigningKey: testSigningKey})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	// What a crash during an upload leaves behind (fileblob's NoTempDir naming).
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "exports/u"), 0o750))
	stranded := "exports/u/x.csv.18f2a3b4c5d6e7f8.tmp"
	require.NoError(t, os.WriteFile(filepath.Join(dir, stranded), []byte("half"), 0o600))

	var found []string
	for info, err := range b.List(context.Background(), "exports/", &ListOptions{WithMetadata: true}) {
		require.NoError(t, err)
		found = append(found, info.Key)
	}
	require.Equal(t, []string{stranded}, found)
	require.ErrorIs(t, b.Delete(context.Background(), stranded), ErrInvalidKey)
	require.NoError(t, b.DeleteAny(context.Background(), stranded))
	_, err = os.Stat(filepath.Join(dir, stranded))
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestFileRejectsUnsafeKeys(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	ctx := context.Background()
	for _, key := range []string{"../escape", "/etc/passwd", `exports\..\x`, "exports/../../x", "exports//x", ""} {
		_, err := b.NewWriter(ctx, key, "", nil)
		require.ErrorIs(t, err, ErrInvalidKey, key)
		_, err = b.NewReader(ctx, key)
		require.ErrorIs(t, err, ErrInvalidKey, key)
		require.ErrorIs(t, b.Delete(ctx, key), ErrInvalidKey, key)
		_, err = b.SignedURL(ctx, key, time.Now().Add(time.Hour), "")
		require.ErrorIs(t, err, ErrInvalidKey, key)
	}
}

func TestFileDeleteAnyStaysInsideBucket(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	b, err := Open(context.Background(), Config{URL: "file://" + filepath.ToSlash(root) + "/bucket", SigningKey: testSigningKey})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	outside := filepath.Join(root, "victim.txt")
	require.NoError(t, os.WriteFile(outside, []byte("keep"), 0o600))

	// fileblob escapes the "/" of "../", so the key names a file inside the bucket.
	require.NoError(t, b.DeleteAny(context.Background(), "../victim.txt"))
	_, err = os.Stat(outside)
	require.NoError(t, err)
}

func TestMetadataKeysArePortable(t *testing.T) {
	t.Parallel()
	b := setupFile(t)
	for _, k := range []string{"Owner", "9lives", "a_b", "", "x y", "__0x2d__"} {
		_, err := b.NewWriter(context.Background(), "exports/u/t/m.csv", "", &WriterOptions{Metadata: map[string]string{k: "v"}})
		require.ErrorContains(t, err, "metadata key", "%q", k)
	}
	require.Equal(t, "expires__0x2d__at", azureMetaKey(MetaExpiresAt), "gocloud's azureblob encoding")
}
