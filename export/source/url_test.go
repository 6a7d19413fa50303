package source_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/source"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, dialect, dsn string
	}{
		{"sqlite:///var/lib/herald/data.db", source.SQLite, "/var/lib/herald/data.db"},
		{"sqlite:relative.db", source.SQLite, "relative.db"},
		{"sqlite://herald-data/herald.db", source.SQLite, "herald-data/herald.db"},
		{"sqlite:///tmp/with%20space.db", source.SQLite, "/tmp/with space.db"},
		{"herald-data/herald.db", source.SQLite, "herald-data/herald.db"},
		{"/abs/file.sqlite", source.SQLite, "/abs/file.sqlite"},
		{"./x:y.db", source.SQLite, "x:y.db"},
		{"postgres://u:p@db:5432/app?sslmode=disable", source.Postgres, "postgres://u:p@db:5432/app?sslmode=disable"},
		{"postgresql://localhost/app", source.Postgres, "postgresql://localhost/app"},
	} {
		ep, err := source.ParseURL(tc.url)
		require.NoError(t, err, tc.url)
		require.Equal(t, tc.dialect, ep.Dialect, tc.url)
		require.Equal(t, tc.dsn, ep.DSN, tc.url)
	}
}

func TestParseURLMySQL(t *testing.T) {
	t.Parallel()
	ep, err := source.ParseURL("mysql://app:p%40ss%2Fw:rd@db.example:3307/shop?tls=false&timeout=5s")
	require.NoError(t, err)
	require.Equal(t, source.MySQL, ep.Dialect)
	cfg, err := mysql.ParseDSN(ep.DSN)
	require.NoError(t, err)
	require.Equal(t, "app", cfg.User)
	require.Equal(t, "p@ss/w:rd", cfg.Passwd)
	require.Equal(t, "db.example:3307", cfg.Addr)
	require.Equal(t, "shop", cfg.DBName)
	require.True(t, cfg.ParseTime)
	require.Equal(t, "UTC", cfg.Loc.String())
	require.False(t, cfg.InterpolateParams)
	require.Equal(t, "'+00:00'", cfg.Params["time_zone"])

	ep, err = source.ParseURL("mysql://root@[::1]/test")
	require.NoError(t, err)
	cfg, err = mysql.ParseDSN(ep.DSN)
	require.NoError(t, err)
	require.Equal(t, "[::1]:3306", cfg.Addr)
}

func TestParseURLBad(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"",
		"redis://localhost",
		"mysql://root@localhost/test?interpolateParams=true",
		"mysql://root@localhost/test?nosuchparam=%zz",
		"mysql://root@localhost/a/b",
		"postgres://[bad",
		"sqlite:",
		"sqlite:///x.db?mode=ro",
		"file.db#frag",
	} {
		_, err := source.ParseURL(u)
		require.ErrorIs(t, err, source.ErrBadURL, "%q", u)
	}
}

func TestOpenMissingSQLite(t *testing.T) {
	t.Parallel()
	_, err := source.Open(context.Background(), "sqlite://"+t.TempDir()+"/missing.db")
	require.Error(t, err)
	require.Contains(t, err.Error(), "no such file")
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"sqlite:x.db", "postgres://a@b/c", "mysql://u:p@h:1/d?tls=true", "x", "mysql://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := source.ParseURL(s)
		if err != nil {
			require.ErrorIs(t, err, source.ErrBadURL)
			return
		}
		require.Contains(t, []string{source.SQLite, source.Postgres, source.MySQL}, ep.Dialect)
		if ep.Dialect == source.MySQL {
			_, err := mysql.ParseDSN(ep.DSN)
			require.NoError(t, err, "ParseURL made a DSN its driver refuses: %q", ep.DSN)
			require.False(t, strings.Contains(ep.DSN, "interpolateParams=true"))
		}
	})
}
