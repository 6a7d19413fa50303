package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

var postgresDialect = &dialect{
	name:             "postgres",
	jobArgsText:      `args::text`,
	dataModifyingCTE: true,
	forUpdate:        " FOR UPDATE",
	migrations:       mustMigrations("postgres"),
	heartbeat:        `UPDATE river_job SET attempted_at = now() WHERE id = ? AND state = 'running'`,
}

type postgresBackend struct {
	pool   *pgxpool.Pool
	schema string
	logger *slog.Logger
	client *river.Client[pgx.Tx]
}

var _ backend = (*postgresBackend)(nil)

func openPostgres(ctx context.Context, cfg Config) (*postgresBackend, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	// Unqualified names (Herald's queries) resolve in the configured schema;
	// River is given the schema explicitly.
	pcfg.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	// pgxpool's default of max(4, CPUs) connections starves River's workers,
	// which each hold one while a task records its progress and end. River
	// advises a pool at least as large as its workers; pool_max_conns in the
	// URL still wins.
	if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		pcfg.MaxConns = max(pcfg.MaxConns, int32(min(cfg.Workers, 1000))+8)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	// IF NOT EXISTS does not make two sessions creating the same schema at once
	// safe: the loser gets a unique violation, which means the schema is there.
	var pgErr *pgconn.PgError
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{cfg.Schema}.Sanitize()); err != nil &&
		!(errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06")) {
		pool.Close()
		return nil, fmt.Errorf("create schema %q: %w", cfg.Schema, err)
	}
	return &postgresBackend{pool: pool, schema: cfg.Schema, logger: cfg.Logger}, nil
}

func (b *postgresBackend) dialect() *dialect { return postgresDialect }

func (b *postgresBackend) migrateRiver(ctx context.Context) error {
	m, err := rivermigrate.New(riverpgxv5.New(b.pool), &rivermigrate.Config{Logger: b.logger, Schema: b.schema})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

func (b *postgresBackend) newClient(cfg *river.Config) error {
	cfg.Schema = b.schema
	c, err := river.NewClient(riverpgxv5.New(b.pool), cfg)
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	b.client = c
	return nil
}

func (b *postgresBackend) start(ctx context.Context) error { return b.client.Start(ctx) }
func (b *postgresBackend) stop(ctx context.Context) error  { return b.client.Stop(ctx) }
func (b *postgresBackend) stopAndCancel(ctx context.Context) error {
	return b.client.StopAndCancel(ctx)
}
func (b *postgresBackend) close() { b.pool.Close() }

// lockMigrations takes a session advisory lock, per schema, on a connection
// of its own, held until unlock.
func (b *postgresBackend) lockMigrations(ctx context.Context) (func(), error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	key := "herald_migrations:" + b.schema
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, key); err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtext($1))`, key); err != nil {
			// Closing the session releases its locks; a pool connection would keep them.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}, nil
}

func (b *postgresBackend) begin(ctx context.Context) (txn, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &postgresTx{pgxQuerier: pgxQuerier{tx}, tx: tx, client: b.client}, nil
}

func (b *postgresBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgxQuerier{b.pool}.exec(ctx, q, args...)
}

func (b *postgresBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	return pgxQuerier{b.pool}.query(ctx, q, args...)
}

func (b *postgresBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return pgxQuerier{b.pool}.queryRow(ctx, q, args...)
}

type postgresTx struct {
	pgxQuerier
	tx     pgx.Tx
	client *river.Client[pgx.Tx]
}

func (t *postgresTx) insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	res, err := t.client.InsertTx(ctx, t.tx, args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (t *postgresTx) cancelJob(ctx context.Context, jobID int64) error {
	_, err := t.client.JobCancelTx(ctx, t.tx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil // already cleaned up by River
	}
	return err
}

func (t *postgresTx) commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *postgresTx) rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// pgxQuerier adapts a pool or a transaction of pgx to querier.
type pgxQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (p pgxQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, rebindDollar(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgxQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := p.q.Query(ctx, rebindDollar(q), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (p pgxQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return pgxRow{p.q.QueryRow(ctx, rebindDollar(q), args...)}
}

// pgxRow reports a missing row as sql.ErrNoRows, like database/sql.
type pgxRow struct{ pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}
