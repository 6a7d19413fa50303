package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/export/demo"
)

// testDatasets is the built-in orders dataset plus two that misbehave: one slow enough to
// cancel, one whose query fails after it has streamed rows.
const testDatasets = `
datasets:
  - name: orders
    title: Orders
    params:
      - {name: from, type: date}
      - {name: status, type: enum, values: [pending, paid, shipped, delivered, cancelled, refunded]}
    sql: |
      SELECT id, customer_name, customer_email, country, status, amount, quantity, is_gift, created_at, shipped_on, note
      FROM orders WHERE (:from IS NULL OR created_at >= :from) AND (:status IS NULL OR status = :status) ORDER BY id
  - name: slow
    sql: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000000)
      SELECT x, 'row ' || x AS label FROM c
  - name: broken
    sql: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
      SELECT x, CASE WHEN x = 60000 THEN json('{') ELSE 'ok' END AS v FROM c
  - name: secret
    role: finance
    sql: SELECT 1 AS one
`

type exportEnv struct {
	base, dataDir string
	alice, bob    string
	notes         chan map[string]any
}

func setupExports(t *testing.T, configure ...func(*app.Config)) *exportEnv {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "datasets.yaml")
	require.NoError(t, os.WriteFile(file, []byte(testDatasets), 0o600))
	src, err := app.SourceURL(dir, "")
	require.NoError(t, err)
	// The store makes the database file; the demo table goes into it first.
	require.NoError(t, os.MkdirAll(dir, 0o750))
	require.NoError(t, touchSQLite(filepath.Join(dir, "herald.db")))
	require.NoError(t, demo.Generate(context.Background(), src, 5000, demo.Options{Seed: 7}))

	cfg := app.Config{DataDir: dir, Exports: app.ExportsConfig{DatasetsFile: file}}
	for _, c := range configure {
		c(&cfg)
	}
	base := setup(t, cfg)
	env := &exportEnv{base: base, dataDir: dir, alice: devToken(t, base, "alice"), bob: devToken(t, base, "bob"),
		notes: make(chan map[string]any, 10)}
	c, err := client.New(base+"/hubs/notifications", client.Options{AccessToken: client.StaticToken(env.alice)})
	require.NoError(t, err)
	c.On("notification", func(_ context.Context, a client.Args) (any, error) {
		var v map[string]any
		require.NoError(t, a.Decode(0, &v))
		env.notes <- v
		return nil, nil
	})
	c.On("taskUpdated", func(context.Context, client.Args) (any, error) { return nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return env
}

// touchSQLite creates an empty file; SQLite takes an empty file as an empty database.
func touchSQLite(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func (e *exportEnv) waitTask(t *testing.T, id, state string) map[string]any {
	t.Helper()
	var task map[string]any
	require.Eventually(t, func() bool {
		_, task = call(t, http.MethodGet, e.base+"/api/tasks/"+id, e.alice, "")
		return task["state"] == state
	}, 60*time.Second, 20*time.Millisecond, "task %s never became %s", id, state)
	return task
}

// exportFiles lists the files and directories the export of taskID has in the data dir's file
// storage (<data-dir>/files, its keys exports/<task>/<file>).
func exportFiles(t *testing.T, dataDir, taskID string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(p, taskID) {
			files = append(files, p)
		}
		return nil
	})
	require.NoError(t, err)
	return files
}

// An export requested over the API streams into file storage; its owner gets a notification
// whose signed link downloads a gzip CSV with every matching row; nobody else sees the task.
func TestExportEndToEnd(t *testing.T) {
	t.Parallel()
	env := setupExports(t)

	status, body := call(t, http.MethodGet, env.base+"/api/datasets", env.alice, "")
	require.Equal(t, http.StatusOK, status)
	names := []string{}
	for _, d := range body["datasets"].([]any) {
		names = append(names, d.(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"broken", "orders", "slow"}, names, "a dataset that needs a role is hidden")

	req, err := http.NewRequest(http.MethodPost, env.base+"/api/exports",
		strings.NewReader(`{"dataset":"orders","format":"csv","compression":"gzip","params":{"status":"paid"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+env.alice)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var task map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&task))
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, task)
	id := task["id"].(string)
	require.Equal(t, "/api/tasks/"+id, resp.Header.Get("Location"))
	require.Equal(t, "Export of Orders (CSV, gzip) · status: paid", task["title"])

	var note map[string]any
	select {
	case note = <-env.notes:
	case <-time.After(60 * time.Second):
		t.Fatal("no notification")
	}
	require.Equal(t, id, note["taskId"])
	require.Equal(t, "success", note["level"])
	done := env.waitTask(t, id, "succeeded")
	result := done["result"].(map[string]any)
	link := result["downloadUrl"].(string)
	require.Equal(t, link, note["link"])
	require.Regexp(t, `^orders-\d{8}-\d{6}\.csv\.gz$`, result["fileName"])
	require.True(t, strings.HasPrefix(link, "/api/downloads/"), link)

	dl, err := http.Get(env.base + link)
	require.NoError(t, err)
	raw, err := io.ReadAll(dl.Body)
	dl.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, dl.StatusCode, string(raw))
	require.Equal(t, "application/gzip", dl.Header.Get("Content-Type"))
	require.Contains(t, dl.Header.Get("Content-Disposition"), result["fileName"].(string))
	require.EqualValues(t, len(raw), result["bytes"])
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	records, err := csv.NewReader(zr).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "customer_name", "customer_email", "country", "status", "amount", "quantity", "is_gift", "created_at", "shipped_on", "note"}, records[0])
	require.EqualValues(t, len(records)-1, result["rows"])
	require.Greater(t, len(records), 100)
	for _, r := range records[1:] {
		require.Equal(t, "paid", r[4])
	}

	// A Range request gets part of the file.
	rreq, err := http.NewRequest(http.MethodGet, env.base+link, nil)
	require.NoError(t, err)
	rreq.Header.Set("Range", "bytes=0-9")
	part, err := http.DefaultClient.Do(rreq)
	require.NoError(t, err)
	chunk, _ := io.ReadAll(part.Body)
	part.Body.Close()
	require.Equal(t, http.StatusPartialContent, part.StatusCode)
	require.Equal(t, raw[:10], chunk)

	// A tampered link is refused.
	bad, err := http.Get(env.base + strings.Replace(link, "orders-", "orderz-", 1))
	require.NoError(t, err)
	bad.Body.Close()
	require.Equal(t, http.StatusForbidden, bad.StatusCode)

	status, _ = call(t, http.MethodGet, env.base+"/api/tasks/"+id, env.bob, "")
	require.Equal(t, http.StatusNotFound, status, "another user does not see the task")
}

// Bad requests get a clear 4xx and create no task.
func TestExportBadRequests(t *testing.T) {
	t.Parallel()
	env := setupExports(t)
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"dataset":"nope","format":"csv"}`, 422, "unknown_dataset"},
		{`{"dataset":"secret","format":"csv"}`, 422, "unknown_dataset"},
		{`{"dataset":"orders","format":"pdf"}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","compression":"rar"}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","params":{"from":"yesterday","x":1}}`, 422, "invalid_params"},
		{`{"dataset":"orders","format":"csv","params":{"status":"lost"}}`, 422, "invalid_params"},
		{`{"dataset":"orders","format":"jsonl","delimiter":";"}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","delimiter":"\""}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","delimiter":"\n"}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","delimiter":"\u0000"}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","delimiter":"\u0007"}`, 422, "invalid_format"},
		{`{"dataset":"orders","format":"csv","sql":"DROP TABLE orders"}`, 400, "invalid_body"},
		{`{"dataset":`, 400, "invalid_body"},
		{`{"dataset":"orders","format":"csv"} {}`, 400, "invalid_body"},
	} {
		status, body := call(t, http.MethodPost, env.base+"/api/exports", env.alice, tc.body)
		require.Equal(t, tc.status, status, tc.body)
		require.Equal(t, tc.code, body["error"].(map[string]any)["code"], tc.body)
	}
	_, body := call(t, http.MethodPost, env.base+"/api/exports", env.alice, `{"dataset":"orders","format":"csv","params":{"from":"yesterday","x":1}}`)
	details := body["error"].(map[string]any)["details"].([]any)
	require.Len(t, details, 2, "every parameter problem is listed")

	_, page := call(t, http.MethodGet, env.base+"/api/tasks", env.alice, "")
	require.Empty(t, page["tasks"], "no task was created")
	status, _ := call(t, http.MethodPost, env.base+"/api/exports", "", `{"dataset":"orders","format":"csv"}`)
	require.Equal(t, http.StatusUnauthorized, status)
}

// POST /api/exports reads format and compression names in any letter case, as the CLI and the
// datasets file do, and refuses others with a 422 that names the allowed ones.
func TestExportNamesInAnyLetterCase(t *testing.T) {
	t.Parallel()
	env := setupExports(t)
	status, task := call(t, http.MethodPost, env.base+"/api/exports", env.alice, `{"dataset":"orders","format":"CSV","compression":"GZip"}`)
	require.Equal(t, http.StatusAccepted, status, task)
	require.Equal(t, "Export of Orders (CSV, gzip)", task["title"])
	done := env.waitTask(t, task["id"].(string), "succeeded")
	result := done["result"].(map[string]any)
	require.Equal(t, "csv", result["format"])
	require.Equal(t, "gzip", result["compression"])
	require.Regexp(t, `\.csv\.gz$`, result["fileName"])

	for body, msg := range map[string]string{
		`{"dataset":"orders","format":"PDF"}`:                     `Format "PDF" is not supported; use one of csv, jsonl, parquet, xlsx.`,
		`{"dataset":"orders","format":"Csv","compression":"RAR"}`: `Compression "RAR" is not supported; use gzip, zstd or none.`,
		`{"dataset":"orders","format":"XLSX","compression":"GZ"}`: "Compression not allowed for this format: xlsx is already compressed, use compression \"none\".",
	} {
		status, got := call(t, http.MethodPost, env.base+"/api/exports", env.alice, body)
		require.Equal(t, http.StatusUnprocessableEntity, status, body)
		e := got["error"].(map[string]any)
		require.Equal(t, "invalid_format", e["code"], body)
		require.Equal(t, msg, e["message"], body)
	}
}

// A query that fails mid-export fails the task with a safe message and leaves no file; a
// cancelled export stops and leaves no file either.
func TestExportFailureAndCancelRemoveTheFile(t *testing.T) {
	t.Parallel()
	env := setupExports(t)

	status, task := call(t, http.MethodPost, env.base+"/api/exports", env.alice, `{"dataset":"broken","format":"jsonl","compression":"zstd"}`)
	require.Equal(t, http.StatusAccepted, status, task)
	failed := env.waitTask(t, task["id"].(string), "failed")
	require.Equal(t, "The export failed while reading its data.", failed["error"])
	require.NotContains(t, failed["error"], "json", "the database's own message stays in the log")
	require.EqualValues(t, 1, failed["attempt"], "a query error is not retried")
	require.Empty(t, exportFiles(t, env.dataDir, task["id"].(string)), "the partial file is removed, and its directory")

	status, task = call(t, http.MethodPost, env.base+"/api/exports", env.alice, `{"dataset":"slow","format":"csv"}`)
	require.Equal(t, http.StatusAccepted, status, task)
	id := task["id"].(string)
	require.Eventually(t, func() bool {
		_, got := call(t, http.MethodGet, env.base+"/api/tasks/"+id, env.alice, "")
		p, _ := got["progress"].(map[string]any)
		return got["state"] == "running" && p["done"].(float64) > 0
	}, 30*time.Second, 20*time.Millisecond, "the slow export reports rows")
	taskDir := filepath.Join(env.dataDir, "files", "exports", id)
	require.DirExists(t, taskDir, "the file is being written in <data-dir>/files/exports/<task>/ (not exports/exports/)")
	require.NotEmpty(t, exportFiles(t, env.dataDir, id))
	status, cancelled := call(t, http.MethodPost, env.base+"/api/tasks/"+id+"/cancel", env.alice, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "Cancelled.", cancelled["progress"].(map[string]any)["message"], "not the running \"N rows exported\"")
	require.Eventually(t, func() bool { return len(exportFiles(t, env.dataDir, id)) == 0 }, 10*time.Second, 20*time.Millisecond,
		"a cancelled export leaves no file, nor its empty directory")
	require.DirExists(t, filepath.Join(env.dataDir, "files", "exports"))

	// Once the export has stopped, the task says how far it got, in rows it had written.
	var p map[string]any
	require.Eventually(t, func() bool {
		_, got := call(t, http.MethodGet, env.base+"/api/tasks/"+id, env.alice, "")
		p = got["progress"].(map[string]any)
		return strings.HasPrefix(p["message"].(string), "Cancelled after ")
	}, 10*time.Second, 20*time.Millisecond, "the cancelled export never said where it stopped")
	m := regexp.MustCompile(`^Cancelled after (\d{1,3}(?:,\d{3})*) rows?; the partial file was deleted\.$`).FindStringSubmatch(p["message"].(string))
	require.NotNil(t, m, "the message groups the row count's digits: %q", p["message"])
	require.Equal(t, fmt.Sprint(int64(p["done"].(float64))), strings.ReplaceAll(m[1], ",", ""))
	require.Positive(t, p["done"])
	require.NotContains(t, p, "eta")
}

// With --download-auth owner a download link works only with its owner's token as well: without a
// token 401, with another user's 404, with the owner's 200.
func TestDownloadAuthOwner(t *testing.T) {
	t.Parallel()
	env := setupExports(t, func(c *app.Config) { c.Exports.DownloadAuth = app.DownloadAuthOwner })
	status, task := call(t, http.MethodPost, env.base+"/api/exports", env.alice, `{"dataset":"orders","format":"csv"}`)
	require.Equal(t, http.StatusAccepted, status, task)
	done := env.waitTask(t, task["id"].(string), "succeeded")
	link := env.base + done["result"].(map[string]any)["downloadUrl"].(string)
	get := func(token string) int {
		req, err := http.NewRequest(http.MethodGet, link, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, get(""), "the link alone is not enough")
	require.Equal(t, http.StatusNotFound, get(env.bob), "another user's file")
	require.Equal(t, http.StatusOK, get(env.alice))
}
