package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/test/cluster"
	"github.com/heraldhq/herald/test/clusterenv"

	"github.com/heraldhq/herald/test/heraldtest"
)

var herald string // the binary the cluster runs: $HERALD_BIN, or built once in TestMain

func TestMain(m *testing.M) { heraldtest.Main(m, &herald, "the cluster runner's test") }

// logWriter sends the cluster's log to the test's log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start starts a cluster; one that cannot (a service or nginx missing) fails the test under
// CI=true and skips it loudly elsewhere.
func start(ctx context.Context, t *testing.T, cfg cluster.Config) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Start(ctx, cfg)
	var missing *clusterenv.MissingError
	if errors.As(err, &missing) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v, and CI=true", missing)
		}
		t.Skipf("!!!!! SKIPPING: %v (under CI=true this test fails instead) !!!!!", missing)
	}
	require.NoError(t, err)
	return c
}

// post sends a control request and decodes its JSON reply.
func post(t *testing.T, base, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(base+path, "", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestStartControlClose runs a small cluster through its life: start, the control API, close.
// test/interop/cluster*.test.mjs drive full ones with the official client.
func TestStartControlClose(t *testing.T) {
	ctx := context.Background()
	c := start(ctx, t, cluster.Config{
		Herald: herald, Env: "ctl", Nodes: 2, SecondEnv: "ctl2", SecondNodes: 1, DemoRows: 10, Log: logWriter{t},
	})
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()
	info := c.Info()
	require.Len(t, info.Nodes, 2)
	require.Len(t, info.Nodes2, 1)
	require.NotEmpty(t, info.LB)
	require.NotEmpty(t, info.LB2)
	require.Len(t, info.JWTSecret, 64)

	for _, n := range append(append([]string{}, info.Nodes...), info.LB) {
		code, body := get(t, n+"/readyz")
		require.Equal(t, http.StatusOK, code, n)
		require.JSONEq(t, `{"status":"ready"}`, body, n)
	}

	ctl := httptest.NewServer(c.Handler())
	defer ctl.Close()

	code, body := post(t, ctl.URL, "/redis/stop")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		_, b := get(t, info.Nodes[0]+"/readyz")
		return strings.Contains(b, `"degraded"`)
	}, 10*time.Second, 50*time.Millisecond, "a node cut off from Redis says degraded")
	code, body = post(t, ctl.URL, "/redis/restart")
	require.Equal(t, http.StatusOK, code, body)
	require.Eventually(t, func() bool {
		_, b := get(t, info.Nodes[0]+"/readyz")
		return strings.Contains(b, `"ready"`)
	}, 10*time.Second, 50*time.Millisecond, "ready again once Redis is back")

	code, body = post(t, ctl.URL, "/nodes/1/kill")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, false, body["process"].(map[string]any)["running"])
	_, err := http.Get(info.Nodes[1] + "/readyz")
	require.Error(t, err, "killed")
	code, body = post(t, ctl.URL, "/nodes/1/start")
	require.Equal(t, http.StatusOK, code, body)
	code, _ = get(t, info.Nodes[1]+"/readyz")
	require.Equal(t, http.StatusOK, code, "started again on the same port")
	code, body = post(t, ctl.URL, "/nodes/0/term")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "exit status 0", body["exit"])
	code, body = post(t, ctl.URL, "/nodes2/0/term")
	require.Equal(t, http.StatusOK, code, body)
	code, body = post(t, ctl.URL, "/nodes/7/kill")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = post(t, ctl.URL, "/worker/term")
	require.Equal(t, http.StatusOK, code, body)

	code, text := get(t, ctl.URL+"/logs/node1")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 2, strings.Count(text, "listening on http://"+strings.TrimPrefix(info.Nodes[1], "http://")), "both starts of node1:\n%s", text)
	code, text = get(t, ctl.URL+"/logs/nginx")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, text, "GET /readyz", "the load balancer's access log")
	code, text = get(t, ctl.URL+"/status")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, text, `"nodes2"`)

	c.Close()
	closed = true
	_, err = os.Stat(info.TempDir)
	require.ErrorIs(t, err, os.ErrNotExist, "the temporary directory is removed")
	conn, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test")
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname IN ($1, $2)", info.Schema, info.Schema2).Scan(&n))
	require.Zero(t, n, "the schemas are dropped")
}
