package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the test's own connection to Herald's database

	"github.com/heraldhq/herald/app"
)

// readyz returns /readyz's status and JSON body.
func readyz(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// lockSQLite takes SQLite's one write lock on the database at path from a connection of the
// test's, as a stuck writer would, until the returned release is called: the database still
// answers reads and takes no write.
func lockSQLite(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	require.NoError(t, err)
	tx, err := db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	return func() {
		require.NoError(t, tx.Rollback())
		require.NoError(t, db.Close())
	}
}

// /readyz says ready only while the task database takes writes: it answers 503 with the reason
// while no write gets through within the probe's timeout, and 200 again once one does.
func TestReadyzNeedsADatabaseThatWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := setup(t, app.Config{DataDir: dir, Readiness: app.ReadinessConfig{ProbeTimeout: 200 * time.Millisecond, ProbeEvery: time.Nanosecond}})
	status, body := readyz(t, base)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "ready", body["status"])

	release := lockSQLite(t, filepath.Join(dir, "herald.db"))
	status, body = readyz(t, base)
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	e := body["error"].(map[string]any)
	require.Equal(t, "database_unavailable", e["code"])
	require.Contains(t, e["message"], "The task database does not take writes (no write within 200ms")

	release()
	require.Eventually(t, func() bool {
		status, _ := readyz(t, base)
		return status == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "ready again once the database writes")
}

// Polls within ProbeEvery reuse the last probe's answer: a load balancer's polling does not add
// a write per poll (here the database could not take one, and /readyz still answers the cached
// 200).
func TestReadyzReusesItsProbe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := setup(t, app.Config{DataDir: dir, Readiness: app.ReadinessConfig{ProbeTimeout: 200 * time.Millisecond, ProbeEvery: time.Hour}})
	status, _ := readyz(t, base)
	require.Equal(t, http.StatusOK, status)

	release := lockSQLite(t, filepath.Join(dir, "herald.db"))
	defer release()
	for range 5 {
		status, body := readyz(t, base)
		require.Equal(t, http.StatusOK, status, body)
	}
}
