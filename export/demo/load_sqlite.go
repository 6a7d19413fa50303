package demo

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

const (
	sqliteTimestampLayout = "2006-01-02T15:04:05Z"
	sqliteDateLayout      = "2006-01-02"
	// sqliteBatch rows per INSERT: 1,100 parameters, well under SQLite's
	// 32,766, and past the point where larger statements stop helping.
	sqliteBatch = 100
	// sqliteTxRows rows per transaction: large enough that commits cost
	// nothing, small enough that a River writer sharing the file waits
	// only a moment for the lock.
	sqliteTxRows = 50_000
)

type sqliteLoader struct {
	db *sql.DB
}

func openSQLiteLoader(ctx context.Context, path string) (*sqliteLoader, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory for %q: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// This connection only, for the load: a crash mid-load leaves a table
	// to regenerate, not data to lose.
	q.Add("_pragma", "synchronous(OFF)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db.SetMaxOpenConns(1) // the pragmas above are per connection
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is the one worth returning
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return &sqliteLoader{db: db}, nil
}

func (l *sqliteLoader) close() { _ = l.db.Close() } // read-only by then: nothing to lose

func (l *sqliteLoader) exists(ctx context.Context) (bool, error) {
	var n int
	err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", Table).Scan(&n)
	return n > 0, err
}

func (l *sqliteLoader) count(ctx context.Context) (int64, error) {
	var n int64
	err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM "+Table).Scan(&n)
	return n, err
}

func (l *sqliteLoader) drop(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+Table)
	return err
}

func (l *sqliteLoader) create(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, `CREATE TABLE `+Table+` (
	id INTEGER PRIMARY KEY,
	customer_name TEXT NOT NULL,
	customer_email TEXT,
	country TEXT NOT NULL,
	status TEXT NOT NULL,
	amount REAL NOT NULL,
	quantity INTEGER NOT NULL,
	is_gift BOOLEAN NOT NULL,
	created_at TIMESTAMP NOT NULL,
	shipped_on DATE,
	note TEXT
)`)
	return err
}

func (l *sqliteLoader) index(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, "CREATE INDEX "+Table+"_created_at_idx ON "+Table+" (created_at)")
	return err
}

// insertSQL is a multi-row INSERT of n rows with ? placeholders.
func insertSQL(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columnNames)), ", ") + ")"
	return "INSERT INTO " + Table + " (" + columnList + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func (l *sqliteLoader) load(ctx context.Context, g *generator, rows int64, progress func(int64)) error {
	full, err := l.db.PrepareContext(ctx, insertSQL(sqliteBatch))
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer full.Close() //nolint:errcheck // the data went in or its error was returned; closing the handle adds nothing
	var (
		tx      *sql.Tx
		txFull  *sql.Stmt
		txStart int64
	)
	defer func() {
		if tx != nil {
			_ = tx.Rollback() // after an error, which is the one worth returning
		}
	}()
	return pipeline(ctx, g, 1, rows, sqliteBatch, len(columnNames), sqliteRow, func(args []any, n int, done int64) error {
		if tx == nil {
			if tx, err = l.db.BeginTx(ctx, nil); err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			txFull = tx.StmtContext(ctx, full) // closed by the commit
		}
		stmt := txFull
		if n < sqliteBatch { // the last few rows
			if stmt, err = tx.PrepareContext(ctx, insertSQL(n)); err != nil {
				return fmt.Errorf("prepare insert: %w", err)
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if done-txStart >= sqliteTxRows || done == rows {
			err := tx.Commit()
			tx, txStart = nil, done
			if err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			progress(done)
		}
		return nil
	})
}

// sqliteRow writes o's values into a: booleans as 0 and 1, times as text.
func sqliteRow(a []any, o *order) {
	a[0] = o.id
	a[1] = o.name
	a[2] = nil
	if o.hasEmail {
		a[2] = o.email
	}
	a[3] = o.country
	a[4] = o.status
	a[5] = o.amount
	a[6] = o.quantity
	a[7] = int64(0)
	if o.gift {
		a[7] = int64(1)
	}
	a[8] = o.createdAt.Format(sqliteTimestampLayout)
	a[9] = nil
	if o.hasShippedOn {
		a[9] = o.shippedOn.Format(sqliteDateLayout)
	}
	a[10] = nil
	if o.hasNote {
		a[10] = o.note
	}
}
