package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/demo"
	"github.com/heraldhq/herald/export/source"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

func TestMain(m *testing.M) {
	// Progress often, so that a cancel on the first report comes early (under the race
	// detector 50,000 SQLite rows take seconds).
	demo.SetProgressEvery(2_000)
	goleak.VerifyTestMain(m)
}

func forEachDialect(t *testing.T, fn func(t *testing.T, dialect, url string)) {
	t.Helper()
	for _, d := range sourcetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d, sourcetest.New(t, d))
		})
	}
}

func queryAll(t *testing.T, url, q string) ([]data.Column, [][]any) {
	t.Helper()
	ctx := context.Background()
	src, err := source.Open(ctx, url)
	require.NoError(t, err)
	defer func() { require.NoError(t, src.Close()) }()
	rows, err := src.Query(ctx, data.Statement{Parts: []string{q}})
	require.NoError(t, err)
	defer func() { require.NoError(t, rows.Close()) }()
	var out [][]any
	for rows.Next() {
		out = append(out, append([]any{}, rows.Values()...))
	}
	require.NoError(t, rows.Err())
	return rows.Columns(), out
}

func count(t *testing.T, url, where string) int64 {
	t.Helper()
	_, rows := queryAll(t, url, "SELECT count(*) FROM orders WHERE "+where)
	return rows[0][0].(int64)
}

// TestGenerate loads 30,000 rows into each database and checks the data's
// shape (the speed is measured by BenchmarkGenerate).
func TestGenerate(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: loads 30,000 rows into each database (make check)")
	}
	const rows = 30_000
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		var calls []int64
		start := time.Now()
		err := demo.Generate(context.Background(), url, rows, demo.Options{Seed: 7, Progress: func(n int64) { calls = append(calls, n) }})
		require.NoError(t, err)
		took := time.Since(start)
		t.Logf("%s: %d rows in %v: %.0f rows/s", dialect, rows, took.Round(time.Millisecond), rows/took.Seconds())
		require.Equal(t, int64(rows), calls[len(calls)-1])
		require.IsIncreasing(t, calls[:len(calls)-1])

		require.Equal(t, int64(rows), count(t, url, "1=1"))
		require.Equal(t, int64(rows), count(t, url, "id BETWEEN 1 AND 30000"))
		between := func(where string, lo, hi float64) {
			n := count(t, url, where)
			require.GreaterOrEqual(t, float64(n)/rows, lo, where)
			require.LessOrEqual(t, float64(n)/rows, hi, where)
		}
		between("customer_email IS NULL", 0.06, 0.10)
		between("note IS NULL", 0.65, 0.75)
		between("is_gift", 0.10, 0.14)
		between("status = 'delivered'", 0.50, 0.60)
		require.Zero(t, count(t, url, "(shipped_on IS NULL) = (status IN ('shipped', 'delivered'))"))
		require.Zero(t, count(t, url, "amount <= 0 OR quantity < 1"))
		require.Positive(t, count(t, url, "note LIKE '%,%'"))
		require.Positive(t, count(t, url, `note LIKE '%"%'`))
		require.Positive(t, count(t, url, map[string]string{
			source.Postgres: `strpos(note, E'\r\n') > 0`,
			source.MySQL:    `LOCATE('\r\n', note) > 0`,
			source.SQLite:   `instr(note, char(13, 10)) > 0`,
		}[dialect]))
		require.Positive(t, count(t, url, "note LIKE ' %'"))
		require.Positive(t, count(t, url, "note = ''"))
		require.Positive(t, count(t, url, "customer_name LIKE '%🎉%'"))
		require.Positive(t, count(t, url, "customer_name LIKE '%王%'"))

		cols, all := queryAll(t, url, "SELECT * FROM orders ORDER BY id")
		checkRows(t, cols, all)
	})
}

// checkRows checks what SQL finds awkward to say the same way everywhere.
func checkRows(t *testing.T, cols []data.Column, rows [][]any) {
	t.Helper()
	idx := map[string]int{}
	for i, c := range cols {
		idx[c.Name] = i
	}
	var prev time.Time
	for i, r := range rows {
		require.Equal(t, int64(i+1), r[idx["id"]])
		created := r[idx["created_at"]].(time.Time)
		require.False(t, created.Before(prev), "created_at decreases at id %d", i+1)
		require.Equal(t, time.UTC, created.Location())
		prev = created
		if s, ok := r[idx["shipped_on"]].(time.Time); ok {
			days := s.Sub(data.Date(created)).Hours() / 24
			require.True(t, days >= 1 && days <= 7, "shipped %v days after", days)
		}
		amount := r[idx["amount"]].(float64)
		require.InDelta(t, amount, float64(int64(amount*100+0.5))/100, 1e-9)
		require.Len(t, r[idx["country"]], 2)
	}
	first := rows[0][idx["created_at"]].(time.Time)
	last := rows[len(rows)-1][idx["created_at"]].(time.Time)
	require.False(t, first.Before(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)))
	require.True(t, last.Before(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	require.True(t, last.After(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)))
}

func TestGenerateExistsAndReplace(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		ctx := context.Background()
		require.NoError(t, demo.Generate(ctx, url, 10, demo.Options{}))
		err := demo.Generate(ctx, url, 20, demo.Options{})
		require.ErrorIs(t, err, demo.ErrExists)
		require.Equal(t, int64(10), count(t, url, "1=1"), "a refused Generate changed nothing")
		var replaced []int64
		opts := demo.Options{Replace: true, Replaced: func(n int64) { replaced = append(replaced, n) }}
		require.NoError(t, demo.Generate(ctx, url, 20, opts))
		require.Equal(t, int64(20), count(t, url, "1=1"), "a replace leaves exactly the rows asked for")
		require.NoError(t, demo.Generate(ctx, url, 0, opts))
		require.Equal(t, int64(0), count(t, url, "1=1"))
		require.Equal(t, []int64{10, 20}, replaced, "Replaced hears the row count of each table dropped")
	})
}

func TestGenerateCancelled(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		ctx, cancel := context.WithCancel(context.Background())
		err := demo.Generate(ctx, url, 10_000_000, demo.Options{Progress: func(int64) { cancel() }})
		require.ErrorIs(t, err, context.Canceled)
		// The half-made table is gone, so that a new Generate works.
		require.NoError(t, demo.Generate(context.Background(), url, 5, demo.Options{}))
	})
}

// TestGenerateSameEverywhere checks that a seed makes the same rows in every
// database, and another seed other rows.
func TestGenerateSameEverywhere(t *testing.T) {
	t.Parallel()
	const rows = 2000
	var got [][][]any
	for _, d := range sourcetest.Dialects {
		url := sourcetest.New(t, d)
		require.NoError(t, demo.Generate(context.Background(), url, rows, demo.Options{Seed: 42}))
		cols, all := queryAll(t, url, "SELECT * FROM orders ORDER BY id")
		for _, r := range all {
			for i, c := range cols {
				if c.Name == "is_gift" && r[i] != nil { // MySQL: TINYINT(1)
					if n, ok := r[i].(int64); ok {
						r[i] = n != 0
					}
				}
			}
		}
		got = append(got, all)
	}
	for i := 1; i < len(got); i++ {
		require.Equal(t, got[0], got[i], "%s and %s differ", sourcetest.Dialects[0], sourcetest.Dialects[i])
	}
	url := sourcetest.NewSQLite(t)
	require.NoError(t, demo.Generate(context.Background(), url, rows, demo.Options{Seed: 43}))
	_, other := queryAll(t, url, "SELECT * FROM orders ORDER BY id")
	require.NotEqual(t, got[0][:10], other[:10])
}

func TestGenerateBadURL(t *testing.T) {
	t.Parallel()
	err := demo.Generate(context.Background(), "redis://x", 10, demo.Options{})
	require.ErrorIs(t, err, source.ErrBadURL)
	err = demo.Generate(context.Background(), sourcetest.NewSQLite(t), -1, demo.Options{})
	require.ErrorContains(t, err, "negative")
}
