package demo

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

const (
	// mysqlBatch rows per INSERT: 11,000 placeholders, under the protocol's
	// 65,535, and a packet of about 1 MB, under max_allowed_packet's
	// smallest usual default (4 MB in MySQL, 16 MB in MariaDB).
	mysqlBatch = 1000
	// mysqlTxRows rows per transaction: a commit (a log flush) every 20
	// batches costs little and keeps the undo log small.
	mysqlTxRows = 20_000
)

// mysqlWorkers is how many connections insert at once. The server, not
// Herald, limits the load (Herald uses a fifth of the time); InnoDB takes
// inserts into separate key ranges in parallel. On the busy two-core
// development VM, two workers measured no worse than one, within noise.
const mysqlWorkers = 2

type mysqlLoader struct {
	db *sql.DB
}

func openMySQLLoader(ctx context.Context, dsn string) (*mysqlLoader, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql DSN: %w", err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(mysqlWorkers + 1)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is the one worth returning
		return nil, fmt.Errorf("connect to mysql %s: %w", cfg.Addr, err)
	}
	return &mysqlLoader{db: db}, nil
}

func (l *mysqlLoader) close() { _ = l.db.Close() } // everything was committed or dropped by then

func (l *mysqlLoader) exists(ctx context.Context) (bool, error) {
	var n int
	err := l.db.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", Table).Scan(&n)
	return n > 0, err
}

func (l *mysqlLoader) count(ctx context.Context) (int64, error) {
	var n int64
	err := l.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+Table).Scan(&n)
	return n, err
}

func (l *mysqlLoader) drop(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, "DROP TABLE IF EXISTS "+Table)
	return err
}

func (l *mysqlLoader) create(ctx context.Context) error {
	_, err := l.db.ExecContext(ctx, `CREATE TABLE `+Table+` (
	id BIGINT NOT NULL PRIMARY KEY,
	customer_name VARCHAR(200) NOT NULL,
	customer_email VARCHAR(320) NULL,
	country CHAR(2) NOT NULL,
	status VARCHAR(16) NOT NULL,
	amount DOUBLE NOT NULL,
	quantity INT NOT NULL,
	is_gift BOOLEAN NOT NULL,
	created_at DATETIME(6) NOT NULL,
	shipped_on DATE NULL,
	note TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`)
	return err
}

func (l *mysqlLoader) index(ctx context.Context) error {
	for _, q := range []string{
		"CREATE INDEX " + Table + "_created_at_idx ON " + Table + " (created_at)",
		"ANALYZE TABLE " + Table,
	} {
		if _, err := l.db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// load splits the ids among mysqlWorkers connections, each inserting its
// range in transactions of mysqlTxRows rows.
func (l *mysqlLoader) load(ctx context.Context, g *generator, rows int64, progress func(int64)) error {
	full, err := l.db.PrepareContext(ctx, insertSQL(mysqlBatch))
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer full.Close() //nolint:errcheck // the data went in or its error was returned; closing the handle adds nothing
	return parallel(ctx, mysqlWorkers, rows, progress, func(ctx context.Context, from, to int64, count *atomic.Int64) error {
		return l.loadRange(ctx, full, g.clone(), from, to, count)
	})
}

func (l *mysqlLoader) loadRange(ctx context.Context, full *sql.Stmt, g *generator, from, to int64, count *atomic.Int64) error {
	var (
		tx      *sql.Tx
		txFull  *sql.Stmt
		txStart int64
		err     error
	)
	defer func() {
		if tx != nil {
			_ = tx.Rollback() // after an error, which is the one worth returning
		}
	}()
	rows := to - from + 1
	return pipeline(ctx, g, from, to, mysqlBatch, len(columnNames), mysqlRow, func(args []any, n int, done int64) error {
		if tx == nil {
			if tx, err = l.db.BeginTx(ctx, nil); err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			txFull = tx.StmtContext(ctx, full) // closed by the commit
		}
		stmt := txFull
		if n < mysqlBatch { // the last few rows
			if stmt, err = tx.PrepareContext(ctx, insertSQL(n)); err != nil {
				return fmt.Errorf("prepare insert: %w", err)
			}
			defer stmt.Close() //nolint:errcheck // a prepared statement: its close error adds nothing to the insert's
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if done-txStart >= mysqlTxRows || done == rows {
			err := tx.Commit()
			tx = nil
			if err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			count.Add(done - txStart)
			txStart = done
		}
		return nil
	})
}

// mysqlRow is postgresRow: the driver binds bools and times (in UTC, the
// connection's loc) itself.
func mysqlRow(a []any, o *order) { postgresRow(a, o) }
