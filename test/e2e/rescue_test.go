package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runningAgainWithin is the promise of the default --rescue-after: a task whose process died is
// running again, in a restarted process or another one, within a minute of the death.
const runningAgainWithin = 60 * time.Second

// longTask is a demo task that outlasts the test (1,000 steps of 100 ms).
const longTask = `{"steps":1000,"stepMs":100}`

// With the default --rescue-after, a task whose SQLite server was killed with SIGKILL is running
// again in the restarted server within a minute of the kill.
func TestKilledTaskRunsAgainWithinAMinuteSQLite(t *testing.T) {
	t.Parallel()
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}
	s := start(t, args...)
	token := login(t, s.base)
	id := startLongTask(t, s.base, token)
	s.kill()
	killed := time.Now()

	s = start(t, args...)
	waitRunningAgain(t, s.base, token, id, killed)
}

// With the default --rescue-after, a task whose PostgreSQL server was killed with SIGKILL is
// running again in the other server within a minute of the kill, whether the killed server was
// River's leader (the survivor must first take over leadership, whose first rescue comes at once)
// or not (the survivor's rescuer comes on its own 30 s period: the slower case).
func TestKilledTaskRunsAgainWithinAMinutePostgres(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	common := func(t *testing.T) []string {
		schema := fmt.Sprintf("e2e_rescue_%d", time.Now().UnixNano())
		dropSchema(t, url, schema)
		return []string{"--addr", "127.0.0.1:0", "--database", url, "--database-schema", schema}
	}

	t.Run("leader killed", func(t *testing.T) {
		t.Parallel()
		args := common(t)
		a := start(t, append(args, "--data-dir", t.TempDir())...) // first, so River's leader
		id := startLongTask(t, a.base, login(t, a.base))
		b := start(t, append(args, "--data-dir", t.TempDir())...)
		token := login(t, b.base)
		a.kill()
		killed := time.Now()

		waitRunningAgain(t, b.base, token, id, killed)
	})

	t.Run("leader survives", func(t *testing.T) {
		t.Parallel()
		args := common(t)
		// The leader has one worker, kept busy by a first task while the second server takes
		// the task under test; then the first task is cancelled to free the leader's worker.
		leader := start(t, append(args, "--data-dir", t.TempDir(), "--workers", "1")...)
		leaderToken := login(t, leader.base)
		busy := startLongTask(t, leader.base, leaderToken)
		other := start(t, append(args, "--data-dir", t.TempDir())...)
		id := startLongTask(t, other.base, login(t, other.base))
		status, _ := request(t, http.MethodPost, leader.base+"/api/tasks/"+busy+"/cancel", leaderToken, "")
		require.Equal(t, http.StatusOK, status)
		other.kill()
		killed := time.Now()

		waitRunningAgain(t, leader.base, leaderToken, id, killed)
	})
}

// login returns a dev token of user alice on the server at base.
func login(t *testing.T, base string) string {
	t.Helper()
	_, body := request(t, http.MethodPost, base+"/api/auth/dev-login", "", `{"user":"alice"}`)
	return body["token"].(string)
}

// startLongTask enqueues a longTask and returns its id once it runs (first attempt).
func startLongTask(t *testing.T, base, token string) string {
	t.Helper()
	status, task := request(t, http.MethodPost, base+"/api/demo/tasks", token, longTask)
	require.Equal(t, http.StatusAccepted, status)
	id := task["id"].(string)
	require.Eventually(t, func() bool {
		_, got := request(t, http.MethodGet, base+"/api/tasks/"+id, token, "")
		return got["state"] == "running"
	}, 20*time.Second, 50*time.Millisecond)
	return id
}

// waitRunningAgain polls the task until a second attempt runs, and fails when that is later than
// runningAgainWithin after killed.
func waitRunningAgain(t *testing.T, base, token, id string, killed time.Time) {
	t.Helper()
	deadline := time.NewTimer(time.Until(killed.Add(runningAgainWithin)))
	defer deadline.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	var got map[string]any
	for {
		_, got = request(t, http.MethodGet, base+"/api/tasks/"+id, token, "")
		if attempt, _ := got["attempt"].(float64); got["state"] == "running" && attempt >= 2 {
			t.Logf("task running again %.1fs after SIGKILL", time.Since(killed).Seconds())
			return
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("task not running again %s after SIGKILL (last %v)", runningAgainWithin, got)
		}
	}
}
