package source

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldhq/herald/export/data"
)

// sqlRows adapts database/sql's Rows (SQLite and MySQL) to data.Rows. The
// slices are allocated once per query and reused for every row.
type sqlRows struct {
	rows *sql.Rows
	// cancel stops the query: closing database/sql's Rows early would
	// otherwise read (MySQL) the whole rest of the result first.
	cancel context.CancelFunc
	cols   []data.Column
	conv   []convFunc
	// dest holds what Scan writes through: a *any per column, or a
	// *sql.RawBytes for string and bytes columns when raw is set (MySQL),
	// which saves the copy database/sql makes of every []byte it stores in
	// an any.
	dest  []any
	anys  []any
	raws  []sql.RawBytes
	vals  []any
	ahead bool // vals holds a row read ahead by Query, not yet returned
	err   error
	done  bool
}

var _ data.Rows = (*sqlRows)(nil)

// querySQL starts a query through database/sql (SQLite, MySQL) in a context
// of its own, which the returned cancel ends, and returns its column types.
// dialect names the database in errors.
func querySQL(ctx context.Context, db *sql.DB, dialect, query string, args []any) (*sql.Rows, context.CancelFunc, []*sql.ColumnType, error) {
	qctx, cancel := context.WithCancel(ctx)
	rows, err := db.QueryContext(qctx, query, args...)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("query %s: %w", dialect, err)
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		cancel()
		_ = rows.Close() // the column error is the one worth returning
		return nil, nil, nil, fmt.Errorf("query %s: column types: %w", dialect, err)
	}
	return rows, cancel, cts, nil
}

// newSQLRows prepares scanning of rows whose column types are known;
// useRaw selects RawBytes scanning for string and bytes columns. cancel
// cancels the context the query runs in.
func newSQLRows(rows *sql.Rows, cancel context.CancelFunc, cols []data.Column, useRaw bool) *sqlRows {
	n := len(cols)
	r := &sqlRows{
		rows:   rows,
		cancel: cancel,
		cols:   cols,
		conv:   make([]convFunc, n),
		dest:   make([]any, n),
		anys:   make([]any, n),
		vals:   make([]any, n),
	}
	if useRaw {
		r.raws = make([]sql.RawBytes, n)
	}
	for i, c := range cols {
		r.conv[i] = converterFor(c.Type)
		if useRaw && (c.Type == data.TypeString || c.Type == data.TypeBytes) {
			r.dest[i] = &r.raws[i]
		} else {
			r.dest[i] = &r.anys[i]
		}
	}
	return r
}

func (r *sqlRows) Columns() []data.Column { return r.cols }

func (r *sqlRows) Next() bool {
	if r.ahead {
		r.ahead = false
		return true
	}
	if r.done {
		return false
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			r.fail(fmt.Errorf("read rows: %w", err))
		}
		r.done = true
		return false
	}
	if err := r.read(); err != nil {
		r.fail(err)
		return false
	}
	return true
}

// read scans the current row into vals.
func (r *sqlRows) read() error {
	if err := r.scan(); err != nil {
		return err
	}
	return r.convert()
}

func (r *sqlRows) scan() error {
	if err := r.rows.Scan(r.dest...); err != nil {
		return fmt.Errorf("scan row: %w", err)
	}
	return nil
}

// convert fills vals from what scan stored.
func (r *sqlRows) convert() error {
	for i := range r.vals {
		if p, ok := r.dest[i].(*sql.RawBytes); ok {
			if *p == nil {
				r.vals[i] = nil
				continue
			}
			if r.cols[i].Type == data.TypeBytes {
				// Valid until the next Next, as data.Rows allows.
				r.vals[i] = []byte(*p)
				continue
			}
			r.vals[i] = string(*p)
			continue
		}
		v := r.anys[i]
		if v == nil {
			r.vals[i] = nil
			continue
		}
		c, err := r.conv[i](v)
		if err != nil {
			return fmt.Errorf("column %q: %w", r.cols[i].Name, err)
		}
		r.vals[i] = c
	}
	return nil
}

func (r *sqlRows) fail(err error) {
	r.err = err
	r.done = true
	r.cancel()
	_ = r.rows.Close() // the read error is the one to report
}

func (r *sqlRows) Values() []any { return r.vals }

func (r *sqlRows) Err() error { return r.err }

func (r *sqlRows) Close() error {
	early := !r.done
	r.done = true
	r.ahead = false
	if early {
		r.cancel()
	}
	err := r.rows.Close()
	r.cancel()
	if err != nil && !early { // an early close's error is the cancel it caused
		return fmt.Errorf("close rows: %w", err)
	}
	return nil
}
