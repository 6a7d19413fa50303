package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/jobs"
	"github.com/heraldhq/herald/test/heraldtest"
)

func devToken(t *testing.T, base, user string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/auth/dev-login", "application/json", strings.NewReader(`{"user":"`+user+`"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Token string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotEmpty(t, body.Token)
	return body.Token
}

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out) // some replies are empty; the status is checked
	return resp.StatusCode, out
}

// A demo task started over the API reaches every connection of its owner as taskUpdated events and
// one notification, lands in the inbox, and is invisible to another user.
func TestDemoTaskEndToEnd(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	alice, bob := devToken(t, base, "alice"), devToken(t, base, "bob")

	updates := make(chan map[string]any, 100)
	notes := make(chan map[string]any, 10)
	c, err := client.New(base+"/hubs/notifications", client.Options{AccessToken: client.StaticToken(alice)})
	require.NoError(t, err)
	c.On("taskUpdated", func(_ context.Context, a client.Args) (any, error) {
		var v map[string]any
		require.NoError(t, a.Decode(0, &v))
		updates <- v
		return nil, nil
	})
	c.On("notification", func(_ context.Context, a client.Args) (any, error) {
		var v map[string]any
		require.NoError(t, a.Decode(0, &v))
		notes <- v
		return nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })

	status, task := call(t, http.MethodPost, base+"/api/demo/tasks", alice, `{"steps":3,"stepMs":20}`)
	require.Equal(t, http.StatusAccepted, status, task)
	id := task["id"].(string)

	var last map[string]any
	for last == nil || last["state"] != "succeeded" {
		select {
		case last = <-updates:
			require.Equal(t, id, last["id"])
		case <-ctx.Done():
			t.Fatalf("no succeeded update; last %v", last)
		}
	}
	select {
	case n := <-notes:
		require.Equal(t, id, n["taskId"])
	case <-ctx.Done():
		t.Fatal("no notification")
	}

	status, got := call(t, http.MethodGet, base+"/api/tasks/"+id, alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "succeeded", got["state"])
	status, _ = call(t, http.MethodGet, base+"/api/tasks/"+id, bob, "")
	require.Equal(t, http.StatusNotFound, status, "another user's task is not found")
	status, _ = call(t, http.MethodPost, base+"/api/tasks/"+id+"/cancel", alice, "")
	require.Equal(t, http.StatusConflict, status, "a finished task cannot be cancelled")

	status, inbox := call(t, http.MethodGet, base+"/api/notifications?unread=true", alice, "")
	require.Equal(t, http.StatusOK, status)
	list := inbox["notifications"].([]any)
	require.Len(t, list, 1)
	nid := list[0].(map[string]any)["id"].(string)
	status, _ = call(t, http.MethodPost, base+"/api/notifications/"+nid+"/read", bob, "")
	require.Equal(t, http.StatusNotFound, status)
	status, _ = call(t, http.MethodPost, base+"/api/notifications/"+nid+"/read", alice, "")
	require.Equal(t, http.StatusOK, status)
	_, inbox = call(t, http.MethodGet, base+"/api/notifications?unread=true", alice, "")
	require.Empty(t, inbox["notifications"])

	status, page := call(t, http.MethodGet, base+"/api/tasks?state=succeeded&limit=10", alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, page["tasks"], 1)
}

func TestTaskAPIBadInput(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	alice := devToken(t, base, "alice")
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, "/api/tasks", "", http.StatusOK},
		{http.MethodGet, "/api/tasks?limit=-1", "", http.StatusBadRequest},
		{http.MethodGet, "/api/tasks?limit=abc", "", http.StatusBadRequest},
		{http.MethodGet, "/api/tasks?state=exploded", "", http.StatusBadRequest},
		{http.MethodGet, "/api/tasks?cursor=garbage", "", http.StatusBadRequest},
		{http.MethodGet, "/api/tasks/no-such-task", "", http.StatusNotFound},
		{http.MethodPost, "/api/tasks/no-such-task/cancel", "", http.StatusNotFound},
		{http.MethodGet, "/api/notifications?unread=maybe", "", http.StatusBadRequest},
		{http.MethodPost, "/api/demo/tasks", `{"steps":0}`, http.StatusUnprocessableEntity},
		{http.MethodPost, "/api/demo/tasks", `{"steps":2,"failAtStep":5}`, http.StatusUnprocessableEntity},
		{http.MethodPost, "/api/demo/tasks", `not json`, http.StatusBadRequest},
		{http.MethodPost, "/api/demo/tasks", `{"steps":2,"sql":"drop"}`, http.StatusBadRequest},
	} {
		status, body := call(t, c.method, base+c.path, alice, c.body)
		require.Equal(t, c.want, status, "%s %s: %v", c.method, c.path, body)
		if status >= 400 {
			require.Contains(t, body, "error", "%s %s", c.method, c.path)
		}
	}
	status, _ := call(t, http.MethodGet, base+"/api/tasks", "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	_, page := call(t, http.MethodGet, base+"/api/tasks", alice, "")
	require.Empty(t, page["tasks"], "bad requests created no task")
}

func TestCancelRunningTaskOverAPI(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	alice, bob := devToken(t, base, "alice"), devToken(t, base, "bob")
	status, task := call(t, http.MethodPost, base+"/api/demo/tasks", alice, `{"steps":200,"stepMs":50}`)
	require.Equal(t, http.StatusAccepted, status)
	id := task["id"].(string)
	require.Eventually(t, func() bool {
		_, got := call(t, http.MethodGet, base+"/api/tasks/"+id, alice, "")
		return got["state"] == "running"
	}, 10*time.Second, 20*time.Millisecond)
	status, _ = call(t, http.MethodPost, base+"/api/tasks/"+id+"/cancel", bob, "")
	require.Equal(t, http.StatusNotFound, status, "bob cannot cancel alice's task")
	status, got := call(t, http.MethodPost, base+"/api/tasks/"+id+"/cancel", alice, "")
	require.Equal(t, http.StatusOK, status, got)
	require.Equal(t, "cancelled", got["state"])
	_, got = call(t, http.MethodGet, base+"/api/tasks/"+id, alice, "")
	require.Equal(t, "cancelled", got["state"])
}

// Every taskUpdated and notification carries the seq of its owner's feed, 1, 2, 3, … with no gap,
// on both protocols; the hub method Missed returns what came after a seq, the argument as it went
// out live, and says when the feed does not reach back that far.
func TestFeedNumbersMessagesAndMissedReplaysThem(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	for _, p := range []client.Protocol{client.JSON, client.MessagePack} {
		t.Run(string(p), func(t *testing.T) {
			user := "feed-" + string(p)
			token := devToken(t, base, user)
			type msg struct {
				target string
				v      map[string]any
			}
			got := make(chan msg, 100)
			c, err := client.New(base+"/hubs/notifications", client.Options{Protocol: p, AccessToken: client.StaticToken(token)})
			require.NoError(t, err)
			for _, target := range []string{"taskUpdated", "notification", "notificationsRead"} {
				c.On(target, func(_ context.Context, a client.Args) (any, error) {
					var v map[string]any
					require.NoError(t, a.Decode(0, &v))
					got <- msg{target, v}
					return nil, nil
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, c.Start(ctx))
			t.Cleanup(func() { _ = c.Stop(context.Background()) })

			status, task := call(t, http.MethodPost, base+"/api/demo/tasks", token, `{"steps":3,"stepMs":20}`)
			require.Equal(t, http.StatusAccepted, status, task)
			var live []msg
			notified := false
			for !notified {
				select {
				case m := <-got:
					live = append(live, m)
					notified = m.target == "notification"
				case <-ctx.Done():
					t.Fatalf("no notification; got %v", live)
				}
			}
			// Marking it read (as another tab would) is numbered too.
			status, _ = call(t, http.MethodPost, base+"/api/notifications/read", token, "")
			require.Equal(t, http.StatusOK, status)
			select {
			case m := <-got:
				require.Equal(t, "notificationsRead", m.target)
				require.Equal(t, true, m.v["all"])
				live = append(live, m)
			case <-ctx.Done():
				t.Fatalf("no notificationsRead; got %v", live)
			}
			for i, m := range live {
				require.EqualValues(t, i+1, m.v["seq"], "message %d (%s) is numbered %d: no gap", i, m.target, i+1)
			}

			var all app.Missed
			require.NoError(t, c.Invoke(ctx, "Missed", &all, 0))
			require.True(t, all.Complete)
			require.EqualValues(t, len(live), all.Last)
			require.Len(t, all.Messages, len(live))
			for i, m := range all.Messages {
				require.Equal(t, live[i].target, m.Target)
				require.EqualValues(t, live[i].v["seq"], m.Seq)
				arg := m.Arg.(map[string]any)
				require.Equal(t, live[i].v["id"], arg["id"], "the argument as it went out live")
				require.Equal(t, live[i].v["all"], arg["all"])
				require.EqualValues(t, m.Seq, arg["seq"])
			}

			var tail app.Missed
			require.NoError(t, c.Invoke(ctx, "Missed", &tail, len(live)-1))
			require.True(t, tail.Complete)
			require.Len(t, tail.Messages, 1)
			require.Equal(t, "notificationsRead", tail.Messages[0].Target)

			var none app.Missed
			require.NoError(t, c.Invoke(ctx, "Missed", &none, len(live)))
			require.True(t, none.Complete, "nothing missed")
			require.Empty(t, none.Messages)

			var lost app.Missed
			require.NoError(t, c.Invoke(ctx, "Missed", &lost, len(live)+10))
			require.False(t, lost.Complete, "a seq past the feed's last: the feed began again, refetch")

			require.Error(t, c.Invoke(ctx, "Missed", nil, -1))
		})
	}
}

// On shutdown the hubs drain only after the task workers stop: a running task that goes back to the
// queue tells its owner's pages so (taskUpdated queued) before their connections close.
func TestShutdownTellsPagesOfRequeuedTasksBeforeClosing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := app.New(ctx, app.Config{DataDir: t.TempDir(), ShutdownTimeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	heraldtest.WaitReady(t, base)

	token := devToken(t, base, "alice")
	states := make(chan string, 100)
	c, err := client.New(base+"/hubs/notifications", client.Options{AccessToken: client.StaticToken(token)})
	require.NoError(t, err)
	c.On("taskUpdated", func(_ context.Context, a client.Args) (any, error) {
		var v map[string]any
		require.NoError(t, a.Decode(0, &v))
		states <- v["state"].(string)
		return nil, nil
	})
	closed := make(chan struct{})
	c.OnClose(func(error) { close(closed) })
	start, cancelStart := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStart()
	require.NoError(t, c.Start(start))
	status, task := call(t, http.MethodPost, base+"/api/demo/tasks", token, `{"steps":200,"stepMs":100}`)
	require.Equal(t, http.StatusAccepted, status, task)
	for s := ""; s != "running"; {
		select {
		case s = <-states:
		case <-start.Done():
			t.Fatal("the task never ran")
		}
	}
	cancel() // SIGTERM
	// The client runs the invocations it received before the close even after OnClose (their
	// handlers may lag), and this connection is never replaced: a queued update that arrives at
	// all was sent before the connection closed. Failing on closed instead raced the handler.
	var seen []string
	for s := ""; s != "queued"; {
		select {
		case s = <-states:
			seen = append(seen, s)
		case <-time.After(5 * time.Second):
			select {
			case <-closed:
				t.Fatalf("the connection closed before the task went back to the queue; updates after running: %v", seen)
			default:
				t.Fatalf("no queued update; updates after running: %v", seen)
			}
		}
	}
	require.NoError(t, <-done)
	<-closed
}

// A user over a task limit gets 429 with Retry-After and the limit's name; another user does not.
func TestTaskLimitIs429WithRetryAfter(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{Jobs: jobs.Config{Limits: jobs.Limits{PerMinute: 2}}})
	alice, bob := devToken(t, base, "alice"), devToken(t, base, "bob")
	post := func(token string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, base+"/api/demo/tasks", strings.NewReader(`{"steps":1}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	for range 2 {
		require.Equal(t, http.StatusAccepted, post(alice).StatusCode)
	}
	resp := post(alice)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After in seconds")
	require.True(t, secs >= 1 && secs <= 60, "Retry-After %d", secs)
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "tasks_per_minute", body.Error.Code)
	require.Contains(t, body.Error.Message, "last minute")
	require.Equal(t, http.StatusAccepted, post(bob).StatusCode, "another user is not limited")
}
