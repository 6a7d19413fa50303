package jobs

import (
	"context"
	"strconv"
	"strings"

	"github.com/riverqueue/river"
)

// backend hides the two databases behind the few operations the store needs.
// River's client is generic over the driver's transaction type (*sql.Tx for
// SQLite, pgx.Tx for PostgreSQL); each backend owns its typed client so the
// rest of the package never sees that type. Queries are written with '?'
// placeholders; the PostgreSQL backend rebinds them to $n.
type backend interface {
	querier
	begin(ctx context.Context) (txn, error)
	dialect() *dialect
	migrateRiver(ctx context.Context) error
	// newClient builds the River client. It is called once, after migrations.
	newClient(cfg *river.Config) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	stopAndCancel(ctx context.Context) error
	// lockMigrations holds off other processes' migrations until unlock:
	// several processes starting at once on a new database would otherwise
	// run River's migrations side by side, and all but one fail.
	lockMigrations(ctx context.Context) (unlock func(), err error)
	close()
}

// querier runs SQL on a connection pool or in a transaction.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

// txn is a transaction that can also insert and cancel River jobs.
type txn interface {
	querier
	insertJob(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
	cancelJob(ctx context.Context, jobID int64) error
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// row is one result row. Scan returns sql.ErrNoRows when there is none, on
// both databases.
type row interface{ Scan(dest ...any) error }

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// dialect is the little SQL that differs between the databases.
type dialect struct {
	name string
	// migrations are Herald's own schema steps, applied in order once each.
	migrations []migration
	// heartbeat refreshes a running River job's attempted_at (arg: job id).
	heartbeat string
	// dataModifyingCTE says the database runs INSERT/UPDATE inside WITH,
	// which lets a task's end and its notification be one statement.
	dataModifyingCTE bool
	// forUpdate ends a SELECT that locks its rows for the transaction
	// (PostgreSQL); SQLite's transactions hold the write lock from BEGIN.
	forUpdate string
	// jobArgsText reads river_job.args as JSON text.
	jobArgsText string
}

// rebindDollar turns '?' placeholders into PostgreSQL's $1, $2, … Herald's
// queries contain no '?' in literals.
func rebindDollar(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
