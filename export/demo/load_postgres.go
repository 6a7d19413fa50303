package demo

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresWorkers is how many connections COPY at once: the server parses
// COPY data on one core per connection, and that is what limits the load.
const postgresWorkers = 2

type postgresLoader struct {
	url  string
	conn *pgx.Conn
}

func openPostgresLoader(ctx context.Context, url string) (*postgresLoader, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return &postgresLoader{url: url, conn: conn}, nil
}

func (l *postgresLoader) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx) // everything was committed or dropped by then
}

func (l *postgresLoader) exists(ctx context.Context) (bool, error) {
	var ok bool
	// to_regclass follows search_path, as the statements below do.
	err := l.conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", Table).Scan(&ok)
	return ok, err
}

func (l *postgresLoader) count(ctx context.Context) (int64, error) {
	var n int64
	err := l.conn.QueryRow(ctx, "SELECT count(*) FROM "+Table).Scan(&n)
	return n, err
}

func (l *postgresLoader) drop(ctx context.Context) error {
	_, err := l.conn.Exec(ctx, "DROP TABLE IF EXISTS "+Table)
	return err
}

// create makes the table without its primary key: building the key's index
// once after COPY is faster than maintaining it row by row.
func (l *postgresLoader) create(ctx context.Context) error {
	_, err := l.conn.Exec(ctx, `CREATE TABLE `+Table+` (
	id bigint NOT NULL,
	customer_name text NOT NULL,
	customer_email text,
	country text NOT NULL,
	status text NOT NULL,
	amount double precision NOT NULL,
	quantity int NOT NULL,
	is_gift boolean NOT NULL,
	created_at timestamptz NOT NULL,
	shipped_on date,
	note text
)`)
	return err
}

// index adds the keys and gathers statistics, so that the planner's
// estimates (source.Estimate) are right at once.
func (l *postgresLoader) index(ctx context.Context) error {
	for _, q := range []string{
		"ALTER TABLE " + Table + " ADD PRIMARY KEY (id)",
		"CREATE INDEX " + Table + "_created_at_idx ON " + Table + " (created_at)",
		"ANALYZE " + Table,
	} {
		if _, err := l.conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// load splits the ids among postgresWorkers connections, each running one
// COPY of its range.
func (l *postgresLoader) load(ctx context.Context, g *generator, rows int64, progress func(int64)) error {
	return parallel(ctx, postgresWorkers, rows, progress, func(ctx context.Context, from, to int64, done *atomic.Int64) error {
		conn, err := pgx.Connect(ctx, l.url)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the COPY returned its own error; closing the session adds nothing
		g := g.clone()
		var (
			o    order
			id   = from - 1
			vals = make([]any, len(columnNames)) // pgx encodes a row before asking for the next
		)
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if id == to {
				return nil, nil
			}
			id++
			g.next(&o, id)
			postgresRow(vals, &o)
			if id%1024 == 0 {
				done.Add(1024)
			}
			return vals, nil
		})
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{Table}, columnNames, src); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		return nil
	})
}

func postgresRow(a []any, o *order) {
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
	a[7] = o.gift
	a[8] = o.createdAt
	a[9] = nil
	if o.hasShippedOn {
		a[9] = o.shippedOn
	}
	a[10] = nil
	if o.hasNote {
		a[10] = o.note
	}
}
