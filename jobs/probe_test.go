package jobs

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// holdWriteLock takes the database's write lock on herald_probe from a connection of its own, as
// a stuck writer would, until the returned release is called: the database still answers reads
// but takes no write to the probe row.
func holdWriteLock(t *testing.T, cfg Config) (release func()) {
	t.Helper()
	ctx := context.Background()
	if cfg.DatabaseURL == "" {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.DataDir, "herald.db")+"?_txlock=immediate")
		require.NoError(t, err)
		tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: SQLite's one write lock
		require.NoError(t, err)
		return func() {
			require.NoError(t, tx.Rollback())
			require.NoError(t, db.Close())
		}
	}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	// EXCLUSIVE lets reads through and holds off every write.
	_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{cfg.Schema, "herald_probe"}.Sanitize()+" IN EXCLUSIVE MODE")
	require.NoError(t, err)
	return func() {
		require.NoError(t, tx.Rollback(ctx))
		require.NoError(t, conn.Close(ctx))
	}
}

// ProbeWrite commits a write to the database; while the database takes none, it fails by its
// context's deadline, and it works again once the database writes.
func TestProbeWrite(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		require.NoError(t, b.store.ProbeWrite(ctx))
		var at int64
		require.NoError(t, b.store.be.queryRow(ctx, `SELECT probed_at FROM herald_probe WHERE id = 1`).Scan(&at))
		require.Positive(t, at, "the probe wrote its row")

		release := holdWriteLock(t, cfg)
		var count int
		require.NoError(t, b.store.be.queryRow(ctx, `SELECT count(*) FROM herald_probe`).Scan(&count), "reads still work")
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := b.store.ProbeWrite(pctx)
		cancel()
		require.ErrorContains(t, err, "write probe")
		release()
		require.NoError(t, b.store.ProbeWrite(ctx))

		_, err = b.store.be.exec(ctx, `DELETE FROM herald_probe`)
		require.NoError(t, err)
		require.NoError(t, b.store.ProbeWrite(ctx), "a missing row is written again")
	})
}
