package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/backplane/backplanetest"
	"github.com/heraldhq/herald/backplane/redis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisURL is the machine's Redis; a test that cannot reach it fails in CI and skips elsewhere.
func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("HERALD_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: "herald-test-probe:"})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required in CI: %v", err)
		}
		t.Skipf("SKIPPED: no Redis at %s (%v); start one with redis-server --port 6379", url, err)
	}
	require.NoError(t, b.Close())
	return url
}

func uniquePrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "herald-test:" + hex.EncodeToString(b[:]) + ":"
}

func TestConformance(t *testing.T) {
	url := redisURL(t)
	backplanetest.Run(t, func(t *testing.T) func() backplane.Backplane {
		prefix := uniquePrefix() // each cluster of the suite under its own prefix
		return func() backplane.Backplane {
			b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: prefix})
			require.NoError(t, err)
			return b
		}
	})
}

func TestRefusesBadOptions(t *testing.T) {
	_, err := redis.New(context.Background(), redis.Options{URL: "redis://127.0.0.1:6379"})
	require.ErrorContains(t, err, "prefix is required")
	_, err = redis.New(context.Background(), redis.Options{URL: "redis://127.0.0.1:6379", Prefix: "a{b}:"})
	require.ErrorContains(t, err, "must not contain")
	_, err = redis.New(context.Background(), redis.Options{URL: "http://x", Prefix: "p:"})
	require.Error(t, err)
	_, err = redis.New(context.Background(), redis.Options{URL: "redis://:secret@127.0.0.1:1/0", Prefix: "p:"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the password is not in the error")
}
