package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/test/heraldtest"
)

var herald string // the binary under test, built once in TestMain

func TestMain(m *testing.M) { heraldtest.Main(m, &herald, "the end-to-end tests") }

var listening = regexp.MustCompile(`listening on (http://[^\s"]+)`)

// server is a running herald process.
type server struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

func start(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(herald, append([]string{"serve"}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &server{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		_ = cmd.Wait() // the test decides how the process ends
		close(s.done)
	}()
	t.Cleanup(func() { s.kill() })
	select {
	case s.base = <-found:
	case <-s.done:
		t.Fatal("herald exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not listen within 30s")
	}
	return s
}

func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL) // already gone is fine
	<-s.done
}

func request(t *testing.T, method, url, token, body string) (int, map[string]any) {
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
	_ = json.NewDecoder(resp.Body).Decode(&out) // the status is what is checked first
	return resp.StatusCode, out
}

// On SQLite, a server killed with SIGKILL in the middle of a task is restarted; the task is picked
// up again and completes, and its owner gets exactly one completion notification.
func TestKillDuringTaskSQLite(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", data, "--rescue-after", "3s"}
	s := start(t, args...)
	_, login := request(t, http.MethodPost, s.base+"/api/auth/dev-login", "", `{"user":"alice"}`)
	token := login["token"].(string)
	status, task := request(t, http.MethodPost, s.base+"/api/demo/tasks", token, `{"steps":20,"stepMs":100}`)
	require.Equal(t, http.StatusAccepted, status)
	id := task["id"].(string)
	require.Eventually(t, func() bool {
		_, got := request(t, http.MethodGet, s.base+"/api/tasks/"+id, token, "")
		progress, _ := got["progress"].(map[string]any)
		done, _ := progress["done"].(float64)
		return got["state"] == "running" && done >= 3
	}, 20*time.Second, 50*time.Millisecond)
	s.kill()

	s = start(t, args...)
	// River's rescuer looks every 30 s: the task is picked up again within --rescue-after plus that.
	var got map[string]any
	require.Eventually(t, func() bool {
		_, got = request(t, http.MethodGet, s.base+"/api/tasks/"+id, token, "")
		return got["state"] == "succeeded"
	}, 90*time.Second, 200*time.Millisecond, "the task was not completed after the restart")
	require.GreaterOrEqual(t, got["attempt"], float64(2), "the task ran again after the kill")
	_, inbox := request(t, http.MethodGet, s.base+"/api/notifications", token, "")
	notes := inbox["notifications"].([]any)
	count := 0
	for _, n := range notes {
		if n.(map[string]any)["taskId"] == id {
			count++
		}
	}
	require.Equal(t, 1, count, "exactly one completion notification")
}

// postgresURL is the test database; without it the PostgreSQL test fails in CI and skips loudly
// elsewhere.
func postgresURL(t *testing.T) string {
	t.Helper()
	url := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	conn, err := net.DialTimeout("tcp", "127.0.0.1:5432", 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is needed at 127.0.0.1:5432: %v", err)
		}
		t.Skipf("SKIPPING: PostgreSQL is not reachable at 127.0.0.1:5432 (%v); CI fails here instead", err)
	}
	conn.Close()
	return url
}

// On PostgreSQL, two processes run tasks; the one running the task is killed with SIGKILL and the
// other completes it. The owner gets exactly one completion notification.
func TestKillDuringTaskPostgres(t *testing.T) {
	t.Parallel()
	url := postgresURL(t)
	schema := fmt.Sprintf("e2e_kill_%d", time.Now().UnixNano())
	dropSchema(t, url, schema)
	common := []string{"--addr", "127.0.0.1:0", "--database", url, "--database-schema", schema, "--rescue-after", "3s"}
	a := start(t, append(common, "--data-dir", t.TempDir())...)
	_, login := request(t, http.MethodPost, a.base+"/api/auth/dev-login", "", `{"user":"alice"}`)
	token := login["token"].(string)
	status, task := request(t, http.MethodPost, a.base+"/api/demo/tasks", token, `{"steps":20,"stepMs":100}`)
	require.Equal(t, http.StatusAccepted, status)
	id := task["id"].(string)
	require.Eventually(t, func() bool {
		_, got := request(t, http.MethodGet, a.base+"/api/tasks/"+id, token, "")
		return got["state"] == "running"
	}, 20*time.Second, 50*time.Millisecond)

	// Killed while the task runs (before the second process starts: on a slow machine its start
	// could outlast the task). The second process shares the database and the dev secret is per
	// data dir, so it gets its own token for the same user.
	a.kill()
	b := start(t, append(common, "--data-dir", t.TempDir())...)
	_, login = request(t, http.MethodPost, b.base+"/api/auth/dev-login", "", `{"user":"alice"}`)
	tokenB := login["token"].(string)

	var got map[string]any
	require.Eventually(t, func() bool {
		_, got = request(t, http.MethodGet, b.base+"/api/tasks/"+id, tokenB, "")
		return got["state"] == "succeeded"
	}, 90*time.Second, 200*time.Millisecond, "the surviving process did not complete the task")
	require.GreaterOrEqual(t, got["attempt"], float64(2))
	_, inbox := request(t, http.MethodGet, b.base+"/api/notifications", tokenB, "")
	count := 0
	for _, n := range inbox["notifications"].([]any) {
		if n.(map[string]any)["taskId"] == id {
			count++
		}
	}
	require.Equal(t, 1, count, "exactly one completion notification")
}

// dropSchema removes the test's schema when the test ends.
func dropSchema(t *testing.T, url, schema string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
}
