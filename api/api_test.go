package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/jobs"
	"github.com/heraldhq/herald/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture is the API over a real task store (SQLite, workers not started: tasks stay queued, which
// is all the handlers need) and real authentication in dev mode.
type fixture struct {
	h     http.Handler
	store *jobs.Store
	auth  *auth.Authenticator
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	a, err := auth.New(ctx, auth.Config{DevSecretFile: filepath.Join(dir, "dev-secret")})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	bucket, err := storage.Open(ctx, storage.Config{DataDir: dir, SigningKey: bytes.Repeat([]byte("k"), 32), Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bucket.Close()) })
	exp, err := export.New(export.Config{DefaultSourceURL: "sqlite://" + filepath.Join(dir, "herald.db"), Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, exp.Close()) })
	svc, err := export.NewService(export.ServiceConfig{Exporter: exp, Bucket: bucket, Logger: quiet})
	require.NoError(t, err)
	store, err := jobs.Open(ctx, jobs.Config{DataDir: dir, Logger: quiet}, svc.Register)
	require.NoError(t, err)
	t.Cleanup(store.Close)
	mux := http.NewServeMux()
	(&api.Server{Auth: a, Store: store, Exports: svc, Log: quiet, DemoTasks: true}).Register(mux)
	return &fixture{h: mux, store: store, auth: a}
}

func (f *fixture) token(t *testing.T, user string, roles ...string) string {
	t.Helper()
	tok, err := f.auth.Mint(user, roles, 0)
	require.NoError(t, err)
	return tok
}

// do serves one request and returns the status and the decoded JSON body.
func (f *fixture) do(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"), "%s %s", method, path)
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, out
}

// errorOf checks the JSON error envelope and returns its code and message; the message is for
// people, so it is a sentence without Go or library internals.
func errorOf(t *testing.T, body map[string]any) (code, message string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "an error envelope: %v", body)
	code, _ = e["code"].(string)
	message, _ = e["message"].(string)
	require.NotEmpty(t, code)
	require.Regexp(t, `^[A-Z"].*\.$`, message, "a sentence")
	for _, internal := range []string{"jobs:", "json:", "auth:", "export:", "SQLSTATE", "sqlite", "%!"} {
		require.NotContains(t, message, internal)
	}
	return code, message
}

func (f *fixture) demoTask(t *testing.T, token string) string {
	t.Helper()
	status, body := f.do(t, "POST", "/api/demo/tasks", token, `{"steps":3,"stepMs":10}`)
	require.Equal(t, http.StatusAccepted, status, body)
	return body["id"].(string)
}

func TestEveryRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/tasks"}, {"GET", "/api/tasks/x"}, {"POST", "/api/tasks/x/cancel"},
		{"GET", "/api/notifications"}, {"POST", "/api/notifications/x/read"}, {"POST", "/api/notifications/read"},
		{"POST", "/api/demo/tasks"}, {"GET", "/api/datasets"}, {"POST", "/api/exports"},
	} {
		status, body := f.do(t, r.method, r.path, "", "{}")
		require.Equal(t, http.StatusUnauthorized, status, r.path)
		code, _ := errorOf(t, body)
		require.Equal(t, auth.CodeTokenMissing, code)
		status, body = f.do(t, r.method, r.path, "forged.token.here", "{}")
		require.Equal(t, http.StatusUnauthorized, status, r.path)
		code, _ = errorOf(t, body)
		require.Equal(t, auth.CodeTokenInvalid, code)
	}
}

func TestTasksAreTheirOwners(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice, bob, admin := f.token(t, "alice"), f.token(t, "bob"), f.token(t, "root", api.AdminRole)
	id := f.demoTask(t, alice)

	status, body := f.do(t, "GET", "/api/tasks/"+id, alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "alice", body["owner"])
	require.Equal(t, "queued", body["state"])

	status, body = f.do(t, "GET", "/api/tasks/"+id, bob, "")
	require.Equal(t, http.StatusNotFound, status, "another user's task does not exist for bob")
	code, _ := errorOf(t, body)
	require.Equal(t, "not_found", code)
	status, body = f.do(t, "GET", "/api/tasks", bob, "")
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, body["tasks"])
	status, _ = f.do(t, "POST", "/api/tasks/"+id+"/cancel", bob, "")
	require.Equal(t, http.StatusNotFound, status, "nor can bob cancel it")

	status, body = f.do(t, "GET", "/api/tasks/"+id, admin, "")
	require.Equal(t, http.StatusOK, status, "the admin role reads every task")
	require.Equal(t, "alice", body["owner"])

	status, body = f.do(t, "POST", "/api/tasks/"+id+"/cancel", alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "cancelled", body["state"])
	status, body = f.do(t, "POST", "/api/tasks/"+id+"/cancel", admin, "")
	require.Equal(t, http.StatusConflict, status)
	code, _ = errorOf(t, body)
	require.Equal(t, "task_finished", code)

	status, body = f.do(t, "GET", "/api/tasks", alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["tasks"], 1)
}

func TestBadQueriesAreRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice := f.token(t, "alice")
	for path, want := range map[string]string{
		"/api/tasks?state=bogus":           `Unknown state "bogus"`,
		"/api/tasks?limit=-1":              `"limit" must be a whole number`,
		"/api/tasks?limit=ten":             `"limit" must be a whole number`,
		"/api/tasks?cursor=%25%25":         `"cursor" is not one this server gave out`,
		"/api/tasks?cursor=bm90OmF0OmFsbA": `"cursor" is not one this server gave out`,
		"/api/notifications?unread=maybe":  `"unread" must be true or false.`,
		"/api/notifications?limit=-5":      `"limit" must be a whole number`,
	} {
		status, body := f.do(t, "GET", path, alice, "")
		require.Equal(t, http.StatusBadRequest, status, path)
		code, msg := errorOf(t, body)
		require.Equal(t, "invalid_request", code, path)
		require.Contains(t, msg, want, path)
	}
}

func TestDemoTaskBodies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice := f.token(t, "alice")
	for body, want := range map[string]struct {
		status int
		code   string
		text   string
	}{
		`{"steps":`:               {http.StatusBadRequest, "invalid_body", "The body is not valid JSON."},
		`{"steps":3,"speed":1}`:   {http.StatusBadRequest, "invalid_body", `Unknown field "speed".`},
		`{"steps":"three"}`:       {http.StatusBadRequest, "invalid_body", `"steps" must be a whole number, not a string.`},
		`{"steps":3} {"steps":4}`: {http.StatusBadRequest, "invalid_body", "The body must hold one JSON object."},
		`{"steps":3,"pad":"` + strings.Repeat("x", 70<<10) + `"}`: {http.StatusRequestEntityTooLarge, "body_too_large", "The body is larger than 65536 bytes."},
		`{"steps":0}`:                {http.StatusUnprocessableEntity, "invalid_parameters", `"steps" must be between 1 and 10000.`},
		`{"steps":3,"stepMs":-1}`:    {http.StatusUnprocessableEntity, "invalid_parameters", `"stepMs" must be between 0 and 60000.`},
		`{"steps":3,"failAtStep":9}`: {http.StatusUnprocessableEntity, "invalid_parameters", `"failAtStep" must be between 0 and "steps".`},
	} {
		status, out := f.do(t, "POST", "/api/demo/tasks", alice, body)
		require.Equal(t, want.status, status, body)
		code, msg := errorOf(t, out)
		require.Equal(t, want.code, code, body)
		require.Contains(t, msg, want.text, body)
	}
	_, list := f.do(t, "GET", "/api/tasks", alice, "")
	require.Empty(t, list["tasks"], "a refused request creates nothing")
}

func TestNotificationsAreTheirOwners(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	ctx := context.Background()
	n := &jobs.Notification{Owner: "alice", Level: jobs.LevelInfo, Title: "Hello"}
	require.NoError(t, f.store.AddNotification(ctx, n))

	status, body := f.do(t, "POST", "/api/notifications/"+n.ID+"/read", bob, "")
	require.Equal(t, http.StatusNotFound, status)
	code, _ := errorOf(t, body)
	require.Equal(t, "not_found", code)
	_, body = f.do(t, "GET", "/api/notifications", bob, "")
	require.Empty(t, body["notifications"])

	_, body = f.do(t, "GET", "/api/notifications?unread=true", alice, "")
	require.Len(t, body["notifications"], 1)
	status, body = f.do(t, "POST", "/api/notifications/"+n.ID+"/read", alice, "")
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, body["readAt"])
	_, body = f.do(t, "GET", "/api/notifications?unread=true", alice, "")
	require.Empty(t, body["notifications"])
}

// readRecorder keeps the read changes the store announces.
type readRecorder struct {
	jobs.NopNotifier
	mu    sync.Mutex
	reads map[string][]jobs.ReadChange
}

func (r *readRecorder) NotificationsRead(_ context.Context, owner string, c jobs.ReadChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads[owner] = append(r.reads[owner], c)
}

func (r *readRecorder) of(owner string) []jobs.ReadChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reads[owner])
}

func TestUnreadCountAndMarkAllRead(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rec := &readRecorder{reads: map[string][]jobs.ReadChange{}}
	f.store.SetNotifier(rec)
	alice, bob := f.token(t, "alice"), f.token(t, "bob")
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		n := &jobs.Notification{Owner: "alice", Title: fmt.Sprintf("Note %d", i)}
		require.NoError(t, f.store.AddNotification(ctx, n))
		ids = append(ids, n.ID)
	}
	require.NoError(t, f.store.AddNotification(ctx, &jobs.Notification{Owner: "bob", Title: "Bob's"}))

	_, body := f.do(t, "GET", "/api/notifications", alice, "")
	require.EqualValues(t, 3, body["unread"])
	status, _ := f.do(t, "POST", "/api/notifications/"+ids[0]+"/read", alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []jobs.ReadChange{{IDs: []string{ids[0]}, Unread: 2}}, rec.of("alice"))
	// Marking it again changes nothing, and says nothing.
	f.do(t, "POST", "/api/notifications/"+ids[0]+"/read", alice, "")
	require.Len(t, rec.of("alice"), 1)

	status, body = f.do(t, "POST", "/api/notifications/read", alice, "")
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 2, body["marked"])
	require.Equal(t, jobs.ReadChange{All: true, Unread: 0}, rec.of("alice")[1])
	_, body = f.do(t, "GET", "/api/notifications", alice, "")
	require.EqualValues(t, 0, body["unread"])
	// Bob's stay unread, and he heard nothing.
	_, body = f.do(t, "GET", "/api/notifications", bob, "")
	require.EqualValues(t, 1, body["unread"])
	require.Empty(t, rec.of("bob"))
}

func TestExports(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice := f.token(t, "alice")
	status, body := f.do(t, "GET", "/api/datasets", alice, "")
	require.Equal(t, http.StatusOK, status)
	datasets := body["datasets"].([]any)
	require.Len(t, datasets, 1)
	require.Equal(t, "orders", datasets[0].(map[string]any)["name"])

	for req, want := range map[string]struct {
		status int
		code   string
	}{
		`{"dataset":"nope","format":"csv"}`:                             {http.StatusUnprocessableEntity, "unknown_dataset"},
		`{"dataset":"orders","format":"docx"}`:                          {http.StatusUnprocessableEntity, "invalid_format"},
		`{"dataset":"orders","format":"csv","compression":"rar"}`:       {http.StatusUnprocessableEntity, "invalid_format"},
		`{"dataset":"orders","format":"csv","params":{"from":"May"}}`:   {http.StatusUnprocessableEntity, "invalid_params"},
		`{"dataset":"orders","format":"csv","sql":"DROP TABLE orders"}`: {http.StatusBadRequest, "invalid_body"},
	} {
		status, out := f.do(t, "POST", "/api/exports", alice, req)
		require.Equal(t, want.status, status, req)
		code, _ := errorOf(t, out)
		require.Equal(t, want.code, code, req)
		if code == "invalid_params" {
			details := out["error"].(map[string]any)["details"].([]any)
			require.Equal(t, "from", details[0].(map[string]any)["param"], "the message names the field")
		}
	}
	_, list := f.do(t, "GET", "/api/tasks", alice, "")
	require.Empty(t, list["tasks"], "a refused export creates nothing")

	status, body = f.do(t, "POST", "/api/exports", alice, `{"dataset":"orders","format":"csv","compression":"gzip","params":{"from":"2026-01-01"}}`)
	require.Equal(t, http.StatusAccepted, status, body)
	require.Equal(t, "queued", body["state"])
	require.Equal(t, "Export of Orders (CSV, gzip) · Created on or after: 2026-01-01", body["title"])
}

// TestTokensOnlyInTheHeader: the REST API takes no token from the query string (it would land in
// logs and Referer headers), and says so.
func TestTokensOnlyInTheHeader(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice := f.token(t, "alice")
	status, body := f.do(t, "GET", "/api/tasks?access_token="+alice, "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	code, message := errorOf(t, body)
	require.Equal(t, auth.CodeTokenMissing, code)
	require.Contains(t, message, "Authorization header")
	status, _ = f.do(t, "GET", "/api/tasks", alice, "")
	require.Equal(t, http.StatusOK, status)
}

// TestRepliesAreNotCached: task replies carry signed links, and every reply is a user's own.
func TestRepliesAreNotCached(t *testing.T) {
	t.Parallel()
	f := setup(t)
	alice := f.token(t, "alice")
	for _, path := range []string{"/api/tasks", "/api/tasks/" + f.demoTask(t, alice), "/api/notifications", "/api/datasets"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, path)
		require.Equal(t, "no-store", rec.Header().Get("Cache-Control"), path)
	}
}
