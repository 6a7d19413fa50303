package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/export/source"
)

// Table is the name of the demo table.
const Table = "orders"

// ErrExists is returned by Generate when the table exists and
// Options.Replace is false. Nothing has been changed then.
var ErrExists = errors.New("demo table " + Table + " already exists")

// Options tune Generate. The zero value is valid.
type Options struct {
	// Seed makes the data: the same seed and row count give the same rows
	// on every database. Default 0, itself a seed like any other.
	Seed int64
	// Progress, when not nil, is called with the number of rows loaded so
	// far, every few tens of thousands of rows and once at the end. It is
	// called from Generate's goroutine.
	Progress func(done int64)
	// Replace drops an existing table first, so that the table holds
	// exactly the rows asked for. Default false: Generate fails with
	// ErrExists rather than append to, or silently keep, a table it did not
	// make with these options.
	Replace bool
	// Replaced, when not nil, is called with the row count of the table
	// that Replace is about to drop, so that a caller can say what was
	// replaced. It is not called when there is no table.
	Replaced func(rows int64)
}

// progressEvery is how many rows pass between two Progress calls (a variable
// only so that the tests can report more often).
var progressEvery int64 = 50_000

// Generate creates the orders table in the database at url (a source URL,
// see source.ParseURL) and loads rows into it, then indexes created_at.
//
// The table, with each dialect's types:
//
//	column          PostgreSQL        MySQL/MariaDB   SQLite    notes
//	id              bigint PK         BIGINT PK       INTEGER PK  1…rows
//	customer_name   text              VARCHAR(200)    TEXT      accents, CJK, sometimes an emoji
//	customer_email  text              VARCHAR(320)    TEXT      NULL for about 8 %
//	country         text              CHAR(2)         TEXT      ISO 3166 alpha-2
//	status          text              VARCHAR(16)     TEXT      pending|paid|shipped|delivered|cancelled|refunded
//	amount          double precision  DOUBLE          REAL      two decimals
//	quantity        int               INT             INTEGER   1…50
//	is_gift         boolean           BOOLEAN         BOOLEAN   true for about 12 % (0/1 in SQLite, TINYINT(1) in MySQL)
//	created_at      timestamptz       DATETIME(6)     TIMESTAMP UTC, whole seconds, 2025-01-01…2026-11-01, grows with id
//	shipped_on      date              DATE            DATE      NULL unless shipped or delivered
//	note            text              TEXT            TEXT      NULL for about 70 %; commas, quotes, CR LF, spaces…
//
// SQLite keeps created_at as TEXT "2006-01-02T15:04:05Z" and shipped_on as
// "2006-01-02", the forms source binds and reads. MySQL tables are InnoDB,
// utf8mb4. An index named orders_created_at_idx covers created_at.
//
// Each database is loaded its fastest way: SQLite with multi-row INSERTs in
// a few large transactions (WAL, synchronous OFF for the load; the
// transactions are cut so that another writer of the file, River, waits a
// fraction of a second at most), PostgreSQL with COPY, MySQL with multi-row
// INSERTs. If loading fails, the half-made table is dropped.
func Generate(ctx context.Context, url string, rows int64, opts Options) error {
	if rows < 0 {
		return fmt.Errorf("generate demo data: negative row count %d", rows)
	}
	ep, err := source.ParseURL(url)
	if err != nil {
		return fmt.Errorf("generate demo data: %w", err)
	}
	var l loader
	switch ep.Dialect {
	case source.SQLite:
		l, err = openSQLiteLoader(ctx, ep.DSN)
	case source.Postgres:
		l, err = openPostgresLoader(ctx, ep.DSN)
	default:
		l, err = openMySQLLoader(ctx, ep.DSN)
	}
	if err != nil {
		return fmt.Errorf("generate demo data: %w", err)
	}
	defer l.close()
	if err := run(ctx, l, rows, opts); err != nil {
		return fmt.Errorf("generate demo data (%s): %w", ep.Dialect, err)
	}
	return nil
}

// loader is one dialect's way of making and filling the table.
type loader interface {
	exists(ctx context.Context) (bool, error)
	count(ctx context.Context) (int64, error)
	drop(ctx context.Context) error
	create(ctx context.Context) error
	// load inserts rows made by g, calling progress as it goes.
	load(ctx context.Context, g *generator, rows int64, progress func(int64)) error
	index(ctx context.Context) error
	close()
}

func run(ctx context.Context, l loader, rows int64, opts Options) error {
	exists, err := l.exists(ctx)
	if err != nil {
		return fmt.Errorf("check for table: %w", err)
	}
	if exists {
		if !opts.Replace {
			return ErrExists
		}
		if opts.Replaced != nil {
			n, err := l.count(ctx)
			if err != nil {
				return fmt.Errorf("count the rows of the table to replace: %w", err)
			}
			opts.Replaced(n)
		}
		if err := l.drop(ctx); err != nil {
			return fmt.Errorf("drop table: %w", err)
		}
	}
	if err := l.create(ctx); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(int64) {}
	}
	err = l.load(ctx, newGenerator(opts.Seed, rows), rows, progress)
	if err == nil {
		err = l.index(ctx)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// A cancel can surface as the driver's closed-connection error.
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		// Not the caller's context: it may be what was cancelled.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := l.drop(dctx); derr != nil {
			return fmt.Errorf("load: %w (and dropping the partial table: %v)", err, derr)
		}
		return fmt.Errorf("load: %w", err)
	}
	progress(rows)
	return nil
}
