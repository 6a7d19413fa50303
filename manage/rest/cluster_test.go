package rest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/manage"
)

// redisURL is the machine's Redis; the test fails without it in CI and skips loudly elsewhere.
func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("HERALD_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err != nil && os.Getenv("HERALD_TEST_REDIS") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required in CI: %v", err)
		}
		t.Skipf("SKIPPED: no Redis at %s (%v); start one with redis-server --port 6379", url, err)
	}
	if c != nil {
		_ = c.Close()
	}
	return url
}

// TestAcrossNodes: two nodes on Redis; every call goes to node A, every client is on node B.
func TestAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: leaves out the two-node Redis run")
	}
	t.Parallel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	cluster := app.ClusterConfig{RedisURL: redisURL(t), Prefix: "herald-test:" + hex.EncodeToString(b[:]) + ":"}
	nodeA := herald(t, app.Config{Cluster: cluster})
	nodeB := herald(t, app.Config{Cluster: cluster})
	onA, onB := sdk(t, nodeA), sdk(t, nodeB)
	h := onA.Hub("orders")
	ctx := context.Background()

	ivy := listen(t, onB, "orders", "ivy", "m")
	jay := listen(t, onB, "orders", "jay", "m")
	require.NoError(t, h.SendToUser(ctx, "ivy", msg("cross")))
	ivy.waitFor(t, "m:cross")
	jay.quiet(t, h, "jay-1")

	ok, err := h.UserExists(ctx, "ivy")
	require.NoError(t, err)
	require.True(t, ok, "node A sees ivy on node B")
	ok, err = h.ConnectionExists(ctx, jay.c.ConnectionID())
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, h.AddToGroup(ctx, "g", jay.c.ConnectionID()))
	require.NoError(t, h.SendToGroup(ctx, "g", msg("group")))
	jay.waitFor(t, "m:group")
	ok, err = h.GroupExists(ctx, "g")
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, h.AddUserToGroup(ctx, "team", "ivy", manage.Forever))
	ivyLater := listen(t, onB, "orders", "ivy", "m")
	require.NoError(t, h.SendToGroup(ctx, "team", msg("team")))
	ivy.waitFor(t, "m:team")
	ivyLater.waitFor(t, "m:team")
	in, err := onB.Hub("orders").UserInGroup(ctx, "team", "ivy")
	require.NoError(t, err)
	require.True(t, in)

	require.NoError(t, h.SendToUser(ctx, "ivy", msg("once"), manage.SendOptions{IdempotencyKey: "k1"}))
	require.NoError(t, onB.Hub("orders").SendToUser(ctx, "ivy", msg("once"), manage.SendOptions{IdempotencyKey: "k1"}))
	require.NoError(t, h.SendToConnection(ctx, ivy.c.ConnectionID(), msg("after")))
	ivy.waitFor(t, "m:after")
	n := 0
	for _, g := range ivy.received() {
		if g == "m:once" {
			n++
		}
	}
	require.Equal(t, 1, n, "the key is shared by the nodes")

	require.NoError(t, h.CloseUserConnections(ctx, "ivy", "bye"))
	for _, l := range []*listener{ivy, ivyLater} {
		select {
		case err := <-l.closed:
			require.ErrorContains(t, err, "bye")
		case <-time.After(5 * time.Second):
			t.Fatal("ivy's connection on node B was not closed")
		}
	}
	jay.quiet(t, h, "jay-alive")
}
