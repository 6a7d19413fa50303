package source_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/demo"
	"github.com/heraldhq/herald/export/source"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

// Statements that fail after some rows have been sent.
var failMidStream = map[string]string{
	source.Postgres: "SELECT 1/(x-5) AS v FROM generate_series(1, 10) x",
	source.SQLite: `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10)
		SELECT CASE WHEN x = 5 THEN abs(-9223372036854775807 - 1) ELSE x END AS v FROM c`,
	source.MySQL: `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10)
		SELECT IF(x = 5, (SELECT 1 UNION SELECT 2), x) AS v FROM c`,
}

func TestQueryErrorMidStream(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		src := open(t, url)
		rows, err := src.Query(context.Background(), sql(failMidStream[dialect]))
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			n++
		}
		require.Error(t, rows.Err())
		require.Less(t, n, 10)
		require.NoError(t, rows.Close())
		require.NoError(t, rows.Close(), "Close twice")

		// The source is still usable.
		_, got := query(t, src, sql("SELECT 1 AS one"))
		require.Equal(t, [][]any{{int64(1)}}, got)
	})
}

// Statements that run for minutes unless stopped: one that computes before
// its first row, one that streams rows for ever.
var slow = map[string][2]string{
	source.Postgres: {"SELECT pg_sleep(120) AS v", "SELECT generate_series(1, 10000000000) AS x"},
	source.SQLite: {
		`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT count(*) AS v FROM c`,
		`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT x FROM c`,
	},
	source.MySQL: {"SELECT SLEEP(120) AS v", `SELECT 1 AS x FROM information_schema.columns a, information_schema.columns b, information_schema.columns c`},
}

// drain reads rows until the end and returns the error that ended them.
func drain(ctx context.Context, src source.Source, st data.Statement, onRow func()) error {
	rows, err := src.Query(ctx, st)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		onRow()
	}
	return rows.Err()
}

func TestQueryCancel(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		src := open(t, url)
		for i, q := range slow[dialect] {
			ctx, cancel := context.WithCancel(context.Background())
			start := time.Now()
			var timer *time.Timer
			if i == 0 {
				timer = time.AfterFunc(200*time.Millisecond, cancel) // while it computes
			}
			n := 0
			err := drain(ctx, src, sql(q), func() {
				if n++; n == 1000 {
					cancel() // while it streams
				}
			})
			if timer != nil {
				timer.Stop()
			}
			cancel()
			require.Error(t, err, q)
			require.True(t, errors.Is(err, context.Canceled), "%s: %v", q, err)
			require.Less(t, time.Since(start), 30*time.Second, "cancel was not prompt: %s", q)
		}
		// The source is still usable.
		_, got := query(t, src, sql("SELECT 1 AS one"))
		require.Equal(t, [][]any{{int64(1)}}, got)
	})
}

// TestQueryCloseEarly stops reading a long result and closes it.
func TestQueryCloseEarly(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		src := open(t, url)
		start := time.Now()
		rows, err := src.Query(context.Background(), sql(slow[dialect][1]))
		require.NoError(t, err)
		for range 10 {
			require.True(t, rows.Next())
		}
		require.NoError(t, rows.Close())
		require.False(t, rows.Next())
		require.Less(t, time.Since(start), 30*time.Second)
		_, got := query(t, src, sql("SELECT 1 AS one"))
		require.Equal(t, [][]any{{int64(1)}}, got)
	})
}

func TestEstimateAndDemo(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		const rows = 50_000
		require.NoError(t, demo.Generate(context.Background(), url, rows, demo.Options{}))
		src := open(t, url)
		all := sql("SELECT * FROM orders")
		est, err := src.Estimate(context.Background(), all)
		require.NoError(t, err)
		if dialect == source.SQLite {
			require.Zero(t, est)
		} else {
			require.InDelta(t, rows, est, rows*0.2)
		}
		est, err = src.Estimate(context.Background(), stmt("SELECT * FROM orders WHERE created_at >= ",
			arg("from", data.TypeTimestamp, ts("2026-01-01T00:00:00Z"))))
		require.NoError(t, err)
		switch dialect {
		case source.Postgres:
			require.Greater(t, est, int64(0))
			require.Less(t, est, int64(rows))
		case source.MySQL: // rows examined: MariaDB scans the table for half of it
			require.Greater(t, est, int64(0))
		}

		cols, got := query(t, src, all)
		require.Len(t, got, rows)
		want := []data.Column{
			{Name: "id", Type: data.TypeInt}, {Name: "customer_name", Type: data.TypeString},
			{Name: "customer_email", Type: data.TypeString}, {Name: "country", Type: data.TypeString},
			{Name: "status", Type: data.TypeString}, {Name: "amount", Type: data.TypeFloat},
			{Name: "quantity", Type: data.TypeInt}, {Name: "is_gift", Type: data.TypeBool},
			{Name: "created_at", Type: data.TypeTimestamp}, {Name: "shipped_on", Type: data.TypeDate},
			{Name: "note", Type: data.TypeString},
		}
		if dialect == source.MySQL {
			want[7].Type = data.TypeInt // TINYINT(1)
		}
		require.Equal(t, want, cols)
	})
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestCopyCSVErrors(t *testing.T) {
	t.Parallel()
	src := open(t, sourcetest.NewPostgres(t))
	cp := src.(source.CSVCopier)
	ctx := context.Background()

	_, err := cp.CopyCSV(ctx, sql(failMidStream[source.Postgres]), io.Discard, ',', nil)
	require.ErrorContains(t, err, "division by zero")

	_, err = cp.CopyCSV(ctx, sql(slow[source.Postgres][1]), &failWriter{after: 1 << 20}, ',', nil)
	require.ErrorContains(t, err, "disk full")

	cctx, cancel := context.WithCancel(ctx)
	start := time.Now()
	_, err = cp.CopyCSV(cctx, sql(slow[source.Postgres][1]), io.Discard, ',', func(n int64) { cancel() })
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 30*time.Second)

	_, err = cp.CopyCSV(ctx, sql("SELECT nope FROM missing_table"), io.Discard, ',', nil)
	require.ErrorContains(t, err, "missing_table")

	// Every failure left the pool usable.
	var buf bytes.Buffer
	n, err := cp.CopyCSV(ctx, sql("SELECT 1 AS one"), &buf, ',', nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Equal(t, "one\n1\n", buf.String())
}
