package source

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/heraldhq/herald/export/data"
)

// mysqlSource reads MySQL or MariaDB through database/sql, which streams:
// go-sql-driver/mysql reads rows off the socket as Next asks for them. A
// statement with arguments runs as a server-side prepared statement, so that
// values travel apart from the SQL (interpolateParams is refused).
type mysqlSource struct {
	db   *sql.DB
	addr string
}

var _ Source = (*mysqlSource)(nil)

func openMySQL(ctx context.Context, dsn string) (*mysqlSource, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: mysql DSN: %v", ErrBadURL, err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open mysql %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	// A connection that sat idle may have been dropped by the server
	// (wait_timeout); recycling them spares an export a failed first query.
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is the one worth returning
		return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	return &mysqlSource{db: db, addr: cfg.Addr}, nil
}

func (s *mysqlSource) Dialect() string { return MySQL }

func (s *mysqlSource) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close mysql %s: %w", s.addr, err)
	}
	return nil
}

func (s *mysqlSource) Query(ctx context.Context, st data.Statement) (data.Rows, error) {
	args, err := mysqlArgs(st.Args)
	if err != nil {
		return nil, fmt.Errorf("query mysql: %w", err)
	}
	rows, cancel, cts, err := querySQL(ctx, s.db, "mysql", st.SQL(qmark), args)
	if err != nil {
		return nil, err
	}
	cols := make([]data.Column, len(cts))
	for i, ct := range cts {
		cols[i] = data.Column{Name: ct.Name(), Type: mysqlType(ct.DatabaseTypeName())}
	}
	return newSQLRows(rows, cancel, cols, true), nil
}

// mysqlType maps the driver's type names. Notes:
//   - BOOLEAN is TINYINT(1) in MySQL, and the driver does not report the
//     display width, so booleans read as Int 0 and 1.
//   - DECIMAL reads as float64: exact to 15 significant digits.
//   - BIT reads as bytes (big-endian), GEOMETRY as WKB bytes.
//   - TIME, the text types, JSON, ENUM and SET read as strings, YEAR as
//     an int.
//   - An UNSIGNED BIGINT above 2^63-1 ends the query with an error.
func mysqlType(name string) data.Type {
	name = strings.TrimPrefix(name, "UNSIGNED ")
	switch name {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR":
		return data.TypeInt
	case "DECIMAL", "FLOAT", "DOUBLE":
		return data.TypeFloat
	case "DATE":
		return data.TypeDate
	case "DATETIME", "TIMESTAMP":
		return data.TypeTimestamp
	case "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "BIT", "GEOMETRY", "VECTOR":
		return data.TypeBytes
	}
	return data.TypeString
}

// mysqlArgs checks the arguments' Go types; the driver binds them as they
// are (times in UTC, as the connection's loc is UTC).
func mysqlArgs(args []data.Arg) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		if a.Value == nil {
			continue
		}
		var ok bool
		switch a.Type {
		case data.TypeString, data.TypeEnum:
			_, ok = a.Value.(string)
		case data.TypeInt:
			_, ok = a.Value.(int64)
		case data.TypeFloat:
			_, ok = a.Value.(float64)
		case data.TypeBool:
			_, ok = a.Value.(bool)
		case data.TypeBytes:
			_, ok = a.Value.([]byte)
		case data.TypeDate, data.TypeTimestamp:
			var t time.Time
			if t, ok = a.Value.(time.Time); ok {
				out[i] = t.UTC()
				continue
			}
		}
		if !ok {
			return nil, badArg(a)
		}
		out[i] = a.Value
	}
	return out, nil
}

// Estimate runs EXPLAIN and returns the first table's row estimate scaled by
// its "filtered" percentage when the server reports one (MySQL does; MariaDB
// only with EXPLAIN EXTENDED). For a join this is the driving table's count:
// a rough figure, as it is meant to be.
func (s *mysqlSource) Estimate(ctx context.Context, st data.Statement) (int64, error) {
	args, err := mysqlArgs(st.Args)
	if err != nil {
		return 0, fmt.Errorf("estimate mysql: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, "EXPLAIN "+st.SQL(qmark), args...)
	if err != nil {
		return 0, fmt.Errorf("estimate mysql: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows read to their end; Err was checked
	names, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("estimate mysql: %w", err)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("estimate mysql: %w", err)
		}
		return 0, nil
	}
	vals := make([]sql.RawBytes, len(names))
	dest := make([]any, len(names))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return 0, fmt.Errorf("estimate mysql: %w", err)
	}
	est, filtered := 0.0, 100.0
	for i, n := range names {
		switch strings.ToLower(n) {
		case "rows":
			est, _ = strconv.ParseFloat(string(vals[i]), 64) // NULL: nothing to read, 0
		case "filtered":
			if f, err := strconv.ParseFloat(string(vals[i]), 64); err == nil {
				filtered = f
			}
		}
	}
	return int64(est * filtered / 100), nil
}
