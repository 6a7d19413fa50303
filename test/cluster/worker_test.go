package cluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/test/cluster"
)

// A `herald worker` takes part in the operators' view as a node of its own: the counts list it,
// and the live trace, watched on a serve node, shows the sends of a task that ran on the worker.
func TestWorkerIsInTheTraceAndTheCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := start(ctx, t, cluster.Config{Herald: herald, Env: "wtrace", Nodes: 1, DemoRows: 10, Log: logWriter{t}})
	defer c.Close()
	info := c.Info()
	require.True(t, info.Worker)
	node := info.Nodes[0]

	a, err := auth.New(ctx, auth.Config{Secret: info.JWTSecret})
	require.NoError(t, err)
	admin, err := a.Mint("olga", []string{auth.AdminRole}, time.Hour)
	require.NoError(t, err)
	alice, err := a.Mint("alice", nil, time.Hour)
	require.NoError(t, err)

	// The counts: the serve node and the worker.
	require.Eventually(t, func() bool {
		var stats struct {
			Nodes []struct {
				ID string `json:"id"`
			} `json:"nodes"`
		}
		getJSON(t, node+"/api/admin/stats", admin, &stats)
		for _, n := range stats.Nodes {
			if n.ID == "worker" {
				return len(stats.Nodes) == 2
			}
		}
		return false
	}, 20*time.Second, 200*time.Millisecond, "the worker among the nodes of /api/admin/stats")

	// The trace of alice's sends, watched on the serve node; the task runs on the worker.
	resp := authed(ctx, t, http.MethodGet, node+"/api/admin/trace?user=alice&type=send", admin, "")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// The worker hears of the watcher through the lease the serve node announces, renewed every
	// 2 s: wait for one renewal before starting the task.
	time.Sleep(3 * time.Second)

	created := authed(ctx, t, http.MethodPost, node+"/api/exports", alice, `{"dataset":"orders","format":"csv"}`)
	require.NoError(t, created.Body.Close())
	require.Equal(t, http.StatusAccepted, created.StatusCode)

	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type, Node, Target, Scope, To string
		}
		require.NoError(t, json.Unmarshal([]byte(data), &ev), data)
		if ev.Type == "send" && ev.Node == "worker" {
			require.Equal(t, "user", ev.Scope, data)
			require.Equal(t, "alice", ev.To, data)
			require.Contains(t, []string{"taskUpdated", "notification"}, ev.Target, data)
			return
		}
	}
	t.Fatalf("no send from the worker in the trace: %v", lines.Err())
}

// authed makes a request with a bearer token (and a JSON body unless empty).
func authed(ctx context.Context, t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	resp := authed(context.Background(), t, http.MethodGet, url, token, "")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}
