package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const defaultTestPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testPostgresURL() string {
	if u := os.Getenv("HERALD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultTestPostgresURL
}

var (
	pgOnce sync.Once
	pgErr  error
)

// requirePostgres skips (or fails under CI=true) when PostgreSQL is down.
func requirePostgres(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: leaves out the PostgreSQL half of the jobs suite (make check)")
	}
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testPostgresURL())
		if err != nil {
			pgErr = err
			return
		}
		pgErr = conn.Close(ctx)
	})
	if pgErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL at %s is unreachable and CI=true: %v", testPostgresURL(), pgErr)
	}
	t.Skipf("!!!!! SKIPPING PostgreSQL half of the jobs suite: %s unreachable: %v !!!!!", testPostgresURL(), pgErr)
}

// forEachDatabase runs fn as a parallel subtest on SQLite and on PostgreSQL,
// each with a config of its own (a temp dir, a unique schema).
func forEachDatabase(t *testing.T, fn func(t *testing.T, cfg Config)) {
	t.Helper()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			fn(t, testConfig(t, db))
		})
	}
}

func testConfig(t *testing.T, db string) Config {
	t.Helper()
	cfg := Config{
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		ProgressInterval: 10 * time.Millisecond,
	}
	if os.Getenv("HERALD_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if db == "sqlite" {
		cfg.DataDir = t.TempDir()
		return cfg
	}
	requirePostgres(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg.DatabaseURL = testPostgresURL()
	cfg.Schema = "herald_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{cfg.Schema}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	return cfg
}

// recorder is a Notifier that keeps what it hears.
type recorder struct {
	mu    sync.Mutex
	tasks []Task
	notes []Notification
	reads []ReadChange
}

var _ Notifier = (*recorder)(nil)

func (r *recorder) TaskUpdated(_ context.Context, t *Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, *t)
}

func (r *recorder) Notify(_ context.Context, n *Notification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, *n)
}

func (r *recorder) NotificationsRead(_ context.Context, _ string, c ReadChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, c)
}

func (r *recorder) updatesOf(id string) []Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Task
	for _, t := range r.tasks {
		if t.ID == id {
			out = append(out, t)
		}
	}
	return out
}

func (r *recorder) notesOf(taskID string) []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Notification
	for _, n := range r.notes {
		if n.TaskID == taskID {
			out = append(out, n)
		}
	}
	return out
}

type bundle struct {
	store *Store
	rec   *recorder
	cfg   Config
}

// setup opens a store on cfg, closed (and stopped) at cleanup; start starts
// its workers.
func setup(t *testing.T, cfg Config, start bool) *bundle {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	rec := &recorder{}
	s.SetNotifier(rec)
	if start {
		require.NoError(t, s.Start(ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, s.Stop(ctx))
		})
	}
	return &bundle{store: s, rec: rec, cfg: cfg}
}

// waitState polls the task until it reaches state.
func waitState(t *testing.T, s *Store, owner, id string, state State, within time.Duration) *Task {
	t.Helper()
	var last *Task
	require.Eventuallyf(t, func() bool {
		tk, err := s.Get(context.Background(), owner, id)
		require.NoError(t, err)
		last = tk
		return tk.State == state
	}, within, 10*time.Millisecond, "task %s never reached %s (last %+v)", id, state, last)
	return last
}

func (s *Store) runsHere(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.running[id]
	return ok
}
