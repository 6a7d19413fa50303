package app_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/test/clusterenv"
)

// adminToken is a dev-login token of an operator.
func adminToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/auth/dev-login", "application/json", strings.NewReader(`{"user":"root","roles":["admin"]}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Token string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotEmpty(t, body.Token)
	return body.Token
}

// connectAs opens a notifications connection with token; what announcement(...) brings arrives on
// the returned channel as its arguments.
func connectAs(t *testing.T, base, token string) (*client.Client, <-chan []string) {
	t.Helper()
	got := make(chan []string, 16)
	c, err := client.New(base+"/hubs/notifications", client.Options{AccessToken: client.StaticToken(token)})
	require.NoError(t, err)
	c.On("announcement", func(_ context.Context, a client.Args) (any, error) {
		var args []string
		for i := range a.Len() {
			var s string
			if err := a.Decode(i, &s); err != nil {
				return nil, err
			}
			args = append(args, s)
		}
		got <- args
		return nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c, got
}

// traceStream is an open GET /api/admin/trace: its events, decoded, and its comments.
type traceStream struct {
	events   chan map[string]any
	comments chan string
}

func openTrace(t *testing.T, base, token, query string) *traceStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/admin/trace"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &traceStream{events: make(chan map[string]any, 256), comments: make(chan string, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data: "):
				var e map[string]any
				if json.Unmarshal([]byte(line[len("data: "):]), &e) == nil {
					s.events <- e
				}
			case strings.HasPrefix(line, ": "):
				s.comments <- line[2:]
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return s
}

// next returns the next event of type typ, skipping others.
func (s *traceStream) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-s.events:
			if e["type"] == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestAdminRoutesNeedTheAdminRole(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	alice := devToken(t, base, "alice")
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/admin/stats", ""},
		{http.MethodGet, "/api/admin/trace", ""},
		{http.MethodPost, "/api/admin/announcements", `{"message":"hi"}`},
	} {
		status, body := call(t, r.method, base+r.path, "", r.body)
		require.Equal(t, http.StatusUnauthorized, status, r.path)
		require.NotEmpty(t, body["error"].(map[string]any)["code"], r.path)
		status, _ = call(t, r.method, base+r.path, "not-a-jwt", r.body)
		require.Equal(t, http.StatusUnauthorized, status, r.path)
		status, body = call(t, r.method, base+r.path, alice, r.body)
		require.Equal(t, http.StatusForbidden, status, r.path)
		require.Equal(t, "forbidden", body["error"].(map[string]any)["code"], r.path)
	}
}

func TestAdminStats(t *testing.T) {
	t.Parallel()
	cfg := app.Config{Monitor: hub.MonitorOptions{NodeID: "node-1"}}
	base := setup(t, cfg)
	root := adminToken(t, base)
	connectAs(t, base, devToken(t, base, "alice"))
	connectAs(t, base, devToken(t, base, "alice"))
	connectAs(t, base, devToken(t, base, "bob"))
	status, task := call(t, http.MethodPost, base+"/api/demo/tasks", devToken(t, base, "bob"), `{"steps":1,"stepMs":1}`)
	require.Equal(t, http.StatusAccepted, status, task)

	var stats struct {
		Time  time.Time
		Nodes []struct {
			ID          string
			Connections map[string]int
			Started     time.Time
		}
		Hubs        map[string]struct{ Connections, Users int }
		UsersOnline int
		Tasks       map[string]int64
		Exports     []map[string]any
		Sends       struct {
			Total     uint64
			PerSecond float64
		}
	}
	require.Eventually(t, func() bool {
		status, body := call(t, http.MethodGet, base+"/api/admin/stats", root, "")
		require.Equal(t, http.StatusOK, status, body)
		b, _ := json.Marshal(body)
		require.NoError(t, json.Unmarshal(b, &stats))
		return stats.Tasks["succeeded"] == 1
	}, 10*time.Second, 20*time.Millisecond, "the demo task succeeds")
	require.Len(t, stats.Nodes, 1)
	require.Equal(t, "node-1", stats.Nodes[0].ID)
	require.Equal(t, 3, stats.Nodes[0].Connections["notifications"])
	require.False(t, stats.Nodes[0].Started.IsZero())
	require.Equal(t, 3, stats.Hubs["notifications"].Connections)
	require.Equal(t, 2, stats.Hubs["notifications"].Users)
	require.Equal(t, 2, stats.UsersOnline)
	for _, st := range []string{"queued", "running", "failed", "cancelled"} {
		require.Contains(t, stats.Tasks, st)
	}
	require.NotNil(t, stats.Exports, "an empty list, not null")
	require.Positive(t, stats.Sends.Total, "the task's updates were sent")
	require.WithinDuration(t, time.Now(), stats.Time, time.Minute)
}

func TestAdminTraceStream(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{Monitor: hub.MonitorOptions{NodeID: "node-1"}})
	root := adminToken(t, base)

	status, body := call(t, http.MethodGet, base+"/api/admin/trace?type=sent", root, "")
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_filter", body["error"].(map[string]any)["code"])
	status, _ = call(t, http.MethodGet, base+"/api/admin/trace?payload=maybe", root, "")
	require.Equal(t, http.StatusBadRequest, status)

	alice := devToken(t, base, "alice")
	tr := openTrace(t, base, root, "?hub=notifications&user=alice&type=connected,send")
	withPayload := openTrace(t, base, root, "?user=alice&type=send&payload=true")
	require.Equal(t, "trace started", <-tr.comments)
	connectAs(t, base, devToken(t, base, "bob"))
	c, _ := connectAs(t, base, alice)
	e := tr.next(t, "connected")
	require.Equal(t, "alice", e["user"], "bob's connection is filtered out")
	require.Equal(t, c.ConnectionID(), e["connection"])
	require.Equal(t, "node-1", e["node"])
	require.Equal(t, "notifications", e["hub"])
	require.Equal(t, "WebSockets", e["transport"])
	require.Equal(t, "json", e["protocol"])
	_, err := time.Parse(time.RFC3339Nano, e["time"].(string))
	require.NoError(t, err)

	status, task := call(t, http.MethodPost, base+"/api/demo/tasks", alice, `{"steps":1,"stepMs":1}`)
	require.Equal(t, http.StatusAccepted, status, task)
	e = tr.next(t, "send")
	require.Equal(t, "user", e["scope"])
	require.Equal(t, "alice", e["to"])
	require.Equal(t, "taskUpdated", e["target"])
	require.Positive(t, e["size"])
	require.NotContains(t, e, "payload")
	p := withPayload.next(t, "send")
	require.Equal(t, task["id"], p["payload"].([]any)[0].(map[string]any)["id"], "the payload is the arguments")
}

func TestAdminAnnouncements(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	root := adminToken(t, base)
	_, got := connectAs(t, base, devToken(t, base, "alice"))
	_, gotBob := connectAs(t, base, devToken(t, base, "bob"))
	for _, bad := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"message":""}`, http.StatusBadRequest, "invalid_message"},
		{`{"message":"   "}`, http.StatusBadRequest, "invalid_message"},
		{`{"message":"` + strings.Repeat("x", 4097) + `"}`, http.StatusRequestEntityTooLarge, "message_too_long"},
		{`{"message":"` + strings.Repeat("x", 70000) + `"}`, http.StatusRequestEntityTooLarge, "body_too_large"},
		{`{"message":"hi","level":"panic"}`, http.StatusBadRequest, "invalid_level"},
		{`{"message":"hi",`, http.StatusBadRequest, "invalid_body"},
		{`{"message":"hi","extra":1}`, http.StatusBadRequest, "invalid_body"},
		{`{"message":"hi"} {}`, http.StatusBadRequest, "invalid_body"},
		{`["hi"]`, http.StatusBadRequest, "invalid_body"},
	} {
		status, body := call(t, http.MethodPost, base+"/api/admin/announcements", root, bad.body)
		require.Equal(t, bad.status, status, bad.body)
		require.Equal(t, bad.code, body["error"].(map[string]any)["code"], bad.body)
	}
	status, body := call(t, http.MethodPost, base+"/api/admin/announcements", root, `{"message":"Maintenance at 18:00","level":"warning"}`)
	require.Equal(t, http.StatusAccepted, status, body)
	for _, ch := range []<-chan []string{got, gotBob} {
		select {
		case args := <-ch:
			require.Equal(t, []string{"Maintenance at 18:00", "warning"}, args, "nothing of the refused ones came first")
		case <-time.After(10 * time.Second):
			t.Fatal("no announcement")
		}
	}
	status, _ = call(t, http.MethodPost, base+"/api/admin/announcements", root, `{"message":"hi"}`)
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, []string{"hi", "info"}, <-got, "info by default")
}

// Two nodes on one Redis: the trace watched on one shows the other's events with its node id,
// and the counts of either add up both.
func TestAdminClusterOnRedis(t *testing.T) {
	t.Parallel()
	redisURL := "redis://" + clusterenv.Redis(t) + "/0"
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	env := "admin-" + hex.EncodeToString(suffix[:])
	node := func(id string) string {
		return setup(t, app.Config{
			Auth:      auth.Config{Secret: clusterSecret},
			DemoTasks: true,
			Cluster:   app.ClusterConfig{RedisURL: redisURL, Env: env},
			Monitor:   hub.MonitorOptions{NodeID: id},
		})
	}
	one, two := node("one"), node("two")
	tokens, err := auth.New(context.Background(), auth.Config{Secret: clusterSecret})
	require.NoError(t, err)
	defer tokens.Close()
	mint := func(user string, roles ...string) string {
		tok, err := tokens.Mint(user, roles, time.Hour)
		require.NoError(t, err)
		return tok
	}
	root := mint("root", "admin")
	tr := openTrace(t, one, root, "?user=alice")
	// Node two traces from the moment it hears node one's lease: wait for a connection of bob's
	// on node two to show in an unfiltered trace, which proves node two heard the leases.
	all := openTrace(t, one, root, "")
	require.Eventually(t, func() bool {
		c, _ := connectAs(t, two, mint("bob"))
		defer func() { _ = c.Stop(context.Background()) }()
		select {
		case e := <-all.events:
			return e["node"] == "two"
		case <-time.After(500 * time.Millisecond):
			return false
		}
	}, 10*time.Second, 10*time.Millisecond)

	c, _ := connectAs(t, two, mint("alice"))
	e := tr.next(t, "connected")
	require.Equal(t, "two", e["node"])
	require.Equal(t, c.ConnectionID(), e["connection"])
	status, task := call(t, http.MethodPost, one+"/api/demo/tasks", mint("alice"), `{"steps":1,"stepMs":1}`)
	require.Equal(t, http.StatusAccepted, status, task)
	e = tr.next(t, "send")
	require.Equal(t, "one", e["node"], "node one ran the task and sent its updates")

	connectAs(t, one, mint("carol"))
	var stats struct {
		Nodes []struct {
			ID          string
			Connections map[string]int
		}
		Hubs        map[string]struct{ Connections, Users int }
		UsersOnline int
	}
	require.Eventually(t, func() bool {
		status, body := call(t, http.MethodGet, two+"/api/admin/stats", root, "")
		require.Equal(t, http.StatusOK, status, body)
		b, _ := json.Marshal(body)
		require.NoError(t, json.Unmarshal(b, &stats))
		return stats.Hubs["notifications"].Connections == 2 // alice and carol; bob's probes have gone
	}, 10*time.Second, 20*time.Millisecond)
	require.Len(t, stats.Nodes, 2)
	require.Equal(t, "one", stats.Nodes[0].ID)
	require.Equal(t, 1, stats.Nodes[0].Connections["notifications"])
	require.Equal(t, "two", stats.Nodes[1].ID)
	require.Equal(t, 1, stats.Nodes[1].Connections["notifications"])
	require.Equal(t, 2, stats.UsersOnline)
}
