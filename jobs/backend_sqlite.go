package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var sqliteDialect = &dialect{
	name:        "sqlite",
	jobArgsText: `json(args)`, // River keeps SQLite args as JSONB
	migrations:  mustMigrations("sqlite"),
	// SQLite's datetime text format is the one River's SQLite driver writes
	// and compares ("2006-01-02 15:04:05.000", UTC).
	heartbeat: `UPDATE river_job SET attempted_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = ? AND state = 'running'`,
}

type sqliteBackend struct {
	path   string
	db     *sql.DB
	logger *slog.Logger
	client *river.Client[*sql.Tx]
}

var _ backend = (*sqliteBackend)(nil)

func openSQLite(ctx context.Context, cfg Config) (*sqliteBackend, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir %q: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, "herald.db")
	q := url.Values{}
	// busy_timeout first: switching a new database to WAL takes a lock, and processes opening it
	// at once must wait for it rather than fail with SQLITE_BUSY (TestConcurrentMigrations saw it).
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	// One connection: SQLite has one writer, and River's SQLite driver is
	// tested this way. Nothing in this package queries the pool while it
	// holds a transaction.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is the one worth returning
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return &sqliteBackend{path: path, db: db, logger: cfg.Logger}, nil
}

func (b *sqliteBackend) dialect() *dialect { return sqliteDialect }

func (b *sqliteBackend) migrateRiver(ctx context.Context) error {
	m, err := rivermigrate.New(riversqlite.New(b.db), &rivermigrate.Config{Logger: b.logger})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

func (b *sqliteBackend) newClient(cfg *river.Config) error {
	c, err := river.NewClient(riversqlite.New(b.db), cfg)
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	b.client = c
	return nil
}

func (b *sqliteBackend) start(ctx context.Context) error         { return b.client.Start(ctx) }
func (b *sqliteBackend) stop(ctx context.Context) error          { return b.client.Stop(ctx) }
func (b *sqliteBackend) stopAndCancel(ctx context.Context) error { return b.client.StopAndCancel(ctx) }

// lockMigrations holds an exclusive flock on herald.db.migrate-lock beside
// the database: River's SQLite migrations check and create their tables in
// separate steps, so two processes migrating at once collide.
func (b *sqliteBackend) lockMigrations(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(b.path+".migrate-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			break
		}
		select {
		case <-ctx.Done():
			_ = f.Close() // the context's error is the one to report
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		_ = f.Close() // the flock error is the one to report
		return nil, err
	}
	return func() { _ = f.Close() }, nil // closing the file releases the lock
}

func (b *sqliteBackend) close() {
	if err := b.db.Close(); err != nil {
		b.logger.Warn("close sqlite", slog.String("error", err.Error()))
	}
}

func (b *sqliteBackend) begin(ctx context.Context) (txn, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteTx{sqlQuerier: sqlQuerier{tx}, tx: tx, client: b.client}, nil
}

func (b *sqliteBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlQuerier{b.db}.exec(ctx, q, args...)
}

func (b *sqliteBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	return sqlQuerier{b.db}.query(ctx, q, args...)
}

func (b *sqliteBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return sqlQuerier{b.db}.queryRow(ctx, q, args...)
}

type sqliteTx struct {
	sqlQuerier
	tx     *sql.Tx
	client *river.Client[*sql.Tx]
}

func (t *sqliteTx) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := t.client.InsertTx(ctx, t.tx, args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (t *sqliteTx) cancelJob(ctx context.Context, jobID int64) error {
	_, err := t.client.JobCancelTx(ctx, t.tx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil // already cleaned up by River
	}
	return err
}

func (t *sqliteTx) commit(context.Context) error   { return t.tx.Commit() }
func (t *sqliteTx) rollback(context.Context) error { return t.tx.Rollback() }

// sqlQuerier adapts database/sql to querier.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (s sqlQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s sqlQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return s.q.QueryRowContext(ctx, q, args...)
}

type sqlRows struct{ *sql.Rows }

// Close drops the error: database/sql reports errors of the iteration
// through Err, which callers check.
func (r sqlRows) Close() { _ = r.Rows.Close() }
