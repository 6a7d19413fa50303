// Package sourcetest gives tests a database of each dialect to themselves: a
// SQLite file in a temporary directory, a PostgreSQL schema or a MySQL
// database with a unique name, dropped when the test ends.
//
// PostgreSQL and MySQL are found at HERALD_TEST_DATABASE_URL and
// HERALD_TEST_MYSQL_URL (defaults: the development machine's services).
// When one is unreachable its tests are skipped with a loud SKIPPING
// message, or fail when CI=true.
package sourcetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/heraldhq/herald/export/source"
)

// Default service URLs.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQLURL    = "mysql://root@127.0.0.1:3306/test"
)

// Dialects lists every dialect, for tests that run on each.
var Dialects = []string{source.SQLite, source.Postgres, source.MySQL}

// PostgresURL is the PostgreSQL server tests use.
func PostgresURL() string {
	if u := os.Getenv("HERALD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// MySQLURL is the MySQL or MariaDB server tests use.
func MySQLURL() string {
	if u := os.Getenv("HERALD_TEST_MYSQL_URL"); u != "" {
		return u
	}
	return DefaultMySQLURL
}

type reach struct {
	once sync.Once
	err  error
}

var pgReach, myReach reach

func (r *reach) require(tb testing.TB, name, u string, ping func(ctx context.Context) error) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("-short: leaves out the %s tests (make check)", name)
	}
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r.err = ping(ctx)
	})
	if r.err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s at %s is unreachable and CI=true: %v", name, u, r.err)
	}
	tb.Skipf("!!!!! SKIPPING %s test: %s unreachable: %v !!!!!", name, u, r.err)
}

// RequirePostgres skips (or fails under CI=true) when PostgreSQL is down.
func RequirePostgres(tb testing.TB) {
	tb.Helper()
	pgReach.require(tb, "PostgreSQL", PostgresURL(), func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, PostgresURL())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// RequireMySQL skips (or fails under CI=true) when MySQL is down.
func RequireMySQL(tb testing.TB) {
	tb.Helper()
	myReach.require(tb, "MySQL/MariaDB", MySQLURL(), func(ctx context.Context) error {
		db, err := openMySQL(MySQLURL())
		if err != nil {
			return err
		}
		defer db.Close()
		return db.PingContext(ctx)
	})
}

func openMySQL(u string) (*sql.DB, error) {
	ep, err := source.ParseURL(u)
	if err != nil {
		return nil, err
	}
	cfg, err := mysql.ParseDSN(ep.DSN)
	if err != nil {
		return nil, err
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "herald_test_" + hex.EncodeToString(b[:])
}

// New returns the URL of a fresh, empty database of the dialect.
func New(tb testing.TB, dialect string) string {
	tb.Helper()
	switch dialect {
	case source.SQLite:
		return NewSQLite(tb)
	case source.Postgres:
		return NewPostgres(tb)
	case source.MySQL:
		return NewMySQL(tb)
	}
	tb.Fatalf("unknown dialect %q", dialect)
	return ""
}

// NewSQLite returns the URL of an empty SQLite database file in a temporary
// directory.
func NewSQLite(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	require.NoError(tb, err)
	require.NoError(tb, db.Ping()) // creates the file
	require.NoError(tb, db.Close())
	return "sqlite://" + path
}

// NewPostgres returns a URL whose search_path is a new schema, dropped at
// the end of the test.
func NewPostgres(tb testing.TB) string {
	tb.Helper()
	RequirePostgres(tb)
	schema := uniqueName()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, PostgresURL())
	require.NoError(tb, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, PostgresURL())
		require.NoError(tb, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		require.NoError(tb, err)
	})
	u, err := url.Parse(PostgresURL())
	require.NoError(tb, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NewMySQL returns the URL of a new database, dropped at the end of the
// test.
func NewMySQL(tb testing.TB) string {
	tb.Helper()
	RequireMySQL(tb)
	name := uniqueName()
	db, err := openMySQL(MySQLURL())
	require.NoError(tb, err)
	defer db.Close()
	_, err = db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4")
	require.NoError(tb, err)
	tb.Cleanup(func() {
		db, err := openMySQL(MySQLURL())
		require.NoError(tb, err)
		defer db.Close()
		_, err = db.Exec("DROP DATABASE IF EXISTS " + name)
		require.NoError(tb, err)
	})
	u, err := url.Parse(MySQLURL())
	require.NoError(tb, err)
	u.Path = "/" + name
	return u.String()
}

// Exec runs statements on the database at u, outside any Source: tests use
// it to create and fill tables (a Source is read-only on SQLite). args are
// bound to the last statement only.
func Exec(tb testing.TB, u string, stmts []string, args ...any) {
	tb.Helper()
	ep, err := source.ParseURL(u)
	require.NoError(tb, err)
	var db *sql.DB
	switch ep.Dialect {
	case source.SQLite:
		db, err = sql.Open("sqlite", "file:"+ep.DSN+"?_pragma=busy_timeout(10000)")
	case source.MySQL:
		db, err = openMySQL(u)
	default:
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, u)
		require.NoError(tb, err)
		defer conn.Close(ctx)
		for i, s := range stmts {
			var a []any
			if i == len(stmts)-1 {
				a = args
			}
			_, err := conn.Exec(ctx, s, a...)
			require.NoError(tb, err, s)
		}
		return
	}
	require.NoError(tb, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	for i, s := range stmts {
		var a []any
		if i == len(stmts)-1 {
			a = args
		}
		_, err := db.Exec(s, a...)
		require.NoError(tb, err, s)
	}
}
