package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/test/clusterenv"
)

const clusterSecret = "a-secret-shared-by-every-node-of-the-test-clusters"

// listen connects user to a node's notifications hub and collects the ids of the tasks in the
// taskUpdated messages it receives.
func listen(t *testing.T, base, user string) <-chan string {
	t.Helper()
	tokens, err := auth.New(context.Background(), auth.Config{Secret: clusterSecret})
	require.NoError(t, err)
	defer tokens.Close()
	token, err := tokens.Mint(user, nil, time.Hour)
	require.NoError(t, err)
	ids := make(chan string, 256)
	c, err := client.New(base+"/hubs/notifications", client.Options{AccessToken: client.StaticToken(token)})
	require.NoError(t, err)
	c.On("taskUpdated", func(_ context.Context, a client.Args) (any, error) {
		var v struct{ ID string }
		if err := a.Decode(0, &v); err == nil {
			ids <- v.ID
		}
		return nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return ids
}

// The seed's incident: a test environment and production share a Redis. Each runs two nodes,
// with the same user ids; a task's updates reach its owner's connections on both nodes of its
// own environment, and nothing of the other.
func TestEnvironmentsAreIsolated(t *testing.T) {
	t.Parallel()
	redisURL := "redis://" + clusterenv.Redis(t) + "/0"
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	node := func(env string) string {
		return setup(t, app.Config{
			Auth:      auth.Config{Secret: clusterSecret},
			DemoTasks: true,
			Cluster:   app.ClusterConfig{RedisURL: redisURL, Env: env + "-" + hex.EncodeToString(suffix[:])},
		})
	}
	test1, test2 := node("test"), node("test")
	prod1, prod2 := node("production"), node("production")
	onTest1, onTest2 := listen(t, test1, "alice"), listen(t, test2, "alice")
	onProd1, onProd2 := listen(t, prod1, "alice"), listen(t, prod2, "alice")

	tokens, err := auth.New(context.Background(), auth.Config{Secret: clusterSecret})
	require.NoError(t, err)
	defer tokens.Close()
	alice, err := tokens.Mint("alice", nil, time.Hour)
	require.NoError(t, err)
	start := func(base string) string {
		status, task := call(t, http.MethodPost, base+"/api/demo/tasks", alice, `{"steps":2,"stepMs":10}`)
		require.Equal(t, http.StatusAccepted, status, task)
		return task["id"].(string)
	}
	// first returns the first task id a connection hears of.
	first := func(ch <-chan string) string {
		select {
		case id := <-ch:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("no taskUpdated")
			return ""
		}
	}
	inTest := start(test1)
	require.Equal(t, inTest, first(onTest1))
	require.Equal(t, inTest, first(onTest2), "the other node of the environment hears of it")
	inProd := start(prod2)
	// The production connections' first update is production's task: the test task never
	// reached them.
	require.Equal(t, inProd, first(onProd1))
	require.Equal(t, inProd, first(onProd2))
	for _, ch := range []<-chan string{onTest1, onTest2} {
		for id := range drain(ch, 500*time.Millisecond) {
			require.Equal(t, inTest, id, "a production task reached the test environment")
		}
	}
}

// drain returns what arrives on ch until it is quiet for quiet.
func drain(ch <-chan string, quiet time.Duration) map[string]bool {
	seen := map[string]bool{}
	for {
		select {
		case id := <-ch:
			seen[id] = true
		case <-time.After(quiet):
			return seen
		}
	}
}
