package source

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/heraldhq/herald/export/data"
)

// How Herald keeps times in SQLite, which has no time type: as TEXT, UTC,
// fixed width, so that comparing the text orders the times. Arguments of
// type timestamp and date are bound in these forms.
const (
	sqliteTimestampLayout = "2006-01-02T15:04:05Z"
	sqliteDateLayout      = "2006-01-02"
)

// sqliteSource reads a SQLite file that other processes (River's job queue)
// may be writing: WAL mode lets readers and the writer proceed together, and
// the busy timeout covers the moments a checkpoint needs the lock.
type sqliteSource struct {
	db   *sql.DB
	path string
}

var _ Source = (*sqliteSource)(nil)

func openSQLite(ctx context.Context, path string) (*sqliteSource, error) {
	if err := fileExists(path); err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	// Datasets read; query_only refuses writes, yet keeps the file open
	// read-write, which WAL readers need for the shared-memory index.
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is the one worth returning
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return &sqliteSource{db: db, path: path}, nil
}

func (s *sqliteSource) Dialect() string { return SQLite }

func (s *sqliteSource) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close sqlite %q: %w", s.path, err)
	}
	return nil
}

func qmark(int) string { return "?" }

// Query streams the rows. A column's type comes from its declared type; a
// column without one (an expression, an aggregate) takes the type of its
// value in the first row, and is a string when that value is NULL or there
// is no row. To read that first row Query runs the statement up to it.
func (s *sqliteSource) Query(ctx context.Context, st data.Statement) (data.Rows, error) {
	args, err := sqliteArgs(st.Args)
	if err != nil {
		return nil, fmt.Errorf("query sqlite: %w", err)
	}
	rows, cancel, cts, err := querySQL(ctx, s.db, "sqlite", st.SQL(qmark), args)
	if err != nil {
		return nil, err
	}
	cols := make([]data.Column, len(cts))
	var undeclared []int
	for i, ct := range cts {
		t, ok := sqliteType(ct.DatabaseTypeName())
		if !ok {
			undeclared = append(undeclared, i)
		}
		cols[i] = data.Column{Name: ct.Name(), Type: t}
	}
	r := newSQLRows(rows, cancel, cols, false)
	if len(undeclared) > 0 {
		if err := r.readAhead(undeclared); err != nil {
			_ = r.Close() // the read error is the one worth returning
			return nil, fmt.Errorf("query sqlite: %w", err)
		}
	}
	return r, nil
}

// readAhead reads the first row and types the undeclared columns from it.
func (r *sqlRows) readAhead(undeclared []int) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return fmt.Errorf("read rows: %w", err)
		}
		r.done = true
		return nil
	}
	if err := r.scan(); err != nil {
		return err
	}
	for _, i := range undeclared {
		t := valueType(r.anys[i])
		r.cols[i].Type = t
		r.conv[i] = converterFor(t)
	}
	if err := r.convert(); err != nil {
		return err
	}
	r.ahead = true
	return nil
}

// valueType is the type of a value modernc's driver produced.
func valueType(v any) data.Type {
	switch v.(type) {
	case int64:
		return data.TypeInt
	case float64:
		return data.TypeFloat
	case []byte:
		return data.TypeBytes
	case time.Time:
		return data.TypeTimestamp
	}
	return data.TypeString
}

// sqliteType maps a declared column type, following SQLite's own affinity
// rules (https://sqlite.org/datatype3.html#determination_of_column_affinity)
// after the names SQLite has no affinity for but people declare: BOOLEAN,
// DATE, DATETIME and TIMESTAMP. NUMERIC and DECIMAL read as floats. ok is
// false when there is no declared type.
func sqliteType(decl string) (t data.Type, ok bool) {
	d := strings.ToUpper(strings.TrimSpace(decl))
	if d == "" {
		return data.TypeString, false
	}
	base, _, _ := strings.Cut(d, "(")
	base = strings.TrimSpace(base)
	switch {
	case base == "DATE":
		return data.TypeDate, true
	case base == "DATETIME" || strings.HasPrefix(base, "TIMESTAMP"):
		return data.TypeTimestamp, true
	case strings.HasPrefix(base, "BOOL"):
		return data.TypeBool, true
	case strings.Contains(d, "INT"):
		return data.TypeInt, true
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return data.TypeString, true
	case strings.Contains(d, "BLOB"):
		return data.TypeBytes, true
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"),
		strings.HasPrefix(base, "NUMERIC"), strings.HasPrefix(base, "DECIMAL"):
		return data.TypeFloat, true
	}
	return data.TypeString, true
}

// sqliteArgs converts arguments to what the columns Herald writes hold:
// booleans as 0 and 1, dates and timestamps as their fixed-width text (a
// timestamp loses its fraction of a second: the text must keep one width to
// compare correctly).
func sqliteArgs(args []data.Arg) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		if a.Value == nil {
			continue
		}
		var ok bool
		switch a.Type {
		case data.TypeString, data.TypeEnum:
			out[i], ok = a.Value.(string)
		case data.TypeInt:
			out[i], ok = a.Value.(int64)
		case data.TypeFloat:
			out[i], ok = a.Value.(float64)
		case data.TypeBytes:
			out[i], ok = a.Value.([]byte)
		case data.TypeBool:
			var b bool
			if b, ok = a.Value.(bool); ok {
				out[i] = int64(0)
				if b {
					out[i] = int64(1)
				}
			}
		case data.TypeDate, data.TypeTimestamp:
			var t time.Time
			if t, ok = a.Value.(time.Time); ok {
				if a.Type == data.TypeDate {
					out[i] = t.Format(sqliteDateLayout)
				} else {
					out[i] = t.UTC().Format(sqliteTimestampLayout)
				}
			}
		}
		if !ok {
			return nil, badArg(a)
		}
	}
	return out, nil
}

// Estimate returns 0: SQLite's planner keeps no row counts unless ANALYZE
// has run, and counting would cost as much as the export.
func (s *sqliteSource) Estimate(ctx context.Context, st data.Statement) (int64, error) {
	return 0, nil
}
