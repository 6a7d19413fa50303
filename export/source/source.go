package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/export/data"
)

// Dialect names, as Source.Dialect and Endpoint.Dialect report them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// Source runs dataset statements against one database. It is safe for
// concurrent use; each Query holds one connection until its Rows is closed.
type Source interface {
	// Query streams the statement's rows without buffering the result, values
	// converted to the Go types documented at data.Type. The caller must
	// Close the Rows; cancelling ctx stops the query and ends iteration with
	// the context's error in Rows.Err.
	Query(ctx context.Context, st data.Statement) (data.Rows, error)
	// Estimate returns the planner's estimate of the statement's row count,
	// or 0 when the database gives none (SQLite). It is cheap: the statement
	// is planned, not run, and it is meant for progress bars only.
	Estimate(ctx context.Context, st data.Statement) (int64, error)
	// Dialect is SQLite, Postgres or MySQL.
	Dialect() string
	// Close releases the source's connections. Rows still open must be
	// closed first.
	Close() error
}

// CSVCopier is implemented by sources that can produce CSV themselves, faster
// than scanning rows and encoding them (PostgreSQL, through COPY … TO
// STDOUT: about twice as fast). Callers find it with a type assertion.
type CSVCopier interface {
	// CopyCSV writes the statement's result to w as CSV with a header line,
	// fields separated by delimiter (one ASCII character; neither a quote, a
	// backslash nor a line break), quoted the way encoding/csv reads them.
	// It calls onRows (if not nil) with the number of rows written so far
	// every few thousand rows and once at the end, and returns the number of
	// rows written. Values are in the database's text forms (see the
	// implementation's doc); NULL is an empty unquoted field, the empty
	// string "".
	CopyCSV(ctx context.Context, st data.Statement, w io.Writer, delimiter rune, onRows func(n int64)) (rows int64, err error)
}

// ErrBadURL is wrapped by every error about a source URL that cannot be used.
var ErrBadURL = errors.New("bad source URL")

// Endpoint is a parsed source URL: the dialect and what its driver connects
// with.
type Endpoint struct {
	// Dialect is SQLite, Postgres or MySQL.
	Dialect string
	// DSN is what the driver takes: the database file's path for SQLite, the
	// URL itself for PostgreSQL (pgx reads URLs), a go-sql-driver/mysql DSN
	// for MySQL (with parseTime, UTC and the session settings Herald needs).
	DSN string
}

// ParseURL reads a source URL:
//
//	sqlite:///abs/path.db, sqlite:relative.db or a bare file path → SQLite
//	postgres://… or postgresql://…                          → PostgreSQL (pgx syntax)
//	mysql://user:pass@host:port/db?param=value              → MySQL or MariaDB
//
// MySQL URL parameters are go-sql-driver/mysql DSN parameters (tls, timeout,
// charset…). Herald always sets parseTime=true and loc=UTC, refuses
// interpolateParams (values are bound, never spliced into SQL), and sets the
// session time_zone to UTC and net_write_timeout to an hour unless the URL
// sets them: a slow consumer (an upload) must not make the server drop a
// long export.
func ParseURL(raw string) (Endpoint, error) {
	if raw == "" {
		return Endpoint{}, fmt.Errorf("%w: empty", ErrBadURL)
	}
	scheme, rest, hasScheme := strings.Cut(raw, ":")
	// A bare path, and Windows-style "C:\…", have no scheme we know.
	if !hasScheme || strings.ContainsAny(scheme, `/\.`) || len(scheme) == 1 {
		return sqliteEndpoint(raw)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3", "file":
		// sqlite:///abs → "/abs"; sqlite:rel.db → "rel.db"; sqlite://rel is
		// read as a relative path too, which is what people mean by it.
		p := strings.TrimPrefix(rest, "//")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			return Endpoint{}, fmt.Errorf("%w: sqlite URL %q: parameters are not supported", ErrBadURL, raw)
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%w: sqlite URL %q: %v", ErrBadURL, raw, err)
		}
		return sqliteEndpoint(u)
	case "postgres", "postgresql":
		if _, err := pgx.ParseConfig(raw); err != nil {
			return Endpoint{}, fmt.Errorf("%w: postgres URL: %v", ErrBadURL, err)
		}
		return Endpoint{Dialect: Postgres, DSN: raw}, nil
	case "mysql", "mariadb":
		dsn, err := mysqlDSN(raw)
		if err != nil {
			return Endpoint{}, err
		}
		return Endpoint{Dialect: MySQL, DSN: dsn}, nil
	default:
		return Endpoint{}, fmt.Errorf("%w: unknown scheme %q (want sqlite:, postgres://, mysql:// or a file path)", ErrBadURL, scheme)
	}
}

func sqliteEndpoint(path string) (Endpoint, error) {
	if path == "" {
		return Endpoint{}, fmt.Errorf("%w: sqlite URL without a path", ErrBadURL)
	}
	// The modernc DSN is "file:" + path + "?" + parameters: a path with "?"
	// or "#" would be cut short there.
	if strings.ContainsAny(path, "?#") {
		return Endpoint{}, fmt.Errorf("%w: sqlite path %q contains '?' or '#'", ErrBadURL, path)
	}
	return Endpoint{Dialect: SQLite, DSN: filepath.Clean(path)}, nil
}

func mysqlDSN(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: mysql URL: %v", ErrBadURL, err)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("%w: mysql URL %q: want mysql://user:pass@host:port/db", ErrBadURL, u.Redacted())
	}
	// Parameters are validated by the driver's own DSN parser.
	cfg, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("%w: mysql URL parameters: %v", ErrBadURL, err)
	}
	if cfg.InterpolateParams {
		return "", fmt.Errorf("%w: mysql URL: interpolateParams is refused: Herald binds values, never splices them into SQL", ErrBadURL)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	host := u.Hostname()
	if host == "" {
		host = "127.0.0.1"
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	cfg.Addr = net.JoinHostPort(host, port)
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if strings.Contains(cfg.DBName, "/") {
		return "", fmt.Errorf("%w: mysql URL: database name %q contains '/'", ErrBadURL, cfg.DBName)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	if _, ok := cfg.Params["net_write_timeout"]; !ok {
		cfg.Params["net_write_timeout"] = "3600"
	}
	return cfg.FormatDSN(), nil
}

// Open connects to the database at url (see ParseURL) and checks that it
// answers. SQLite databases must exist: a source never creates one.
func Open(ctx context.Context, url string) (Source, error) {
	ep, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	switch ep.Dialect {
	case SQLite:
		return openSQLite(ctx, ep.DSN)
	case Postgres:
		return openPostgres(ctx, ep.DSN)
	default:
		return openMySQL(ctx, ep.DSN)
	}
}

// fileExists tells a missing SQLite file apart from other failures, so that
// a typo in a path does not silently create an empty database.
func fileExists(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
}
