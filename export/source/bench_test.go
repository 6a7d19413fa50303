package source_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/demo"
	"github.com/heraldhq/herald/export/source"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

// BenchmarkPostgresRead reads 1M demo rows from PostgreSQL by scanning
// (Query) and by COPY (CopyCSV), and reports rows/s of each, side by side:
//
//	go test -run X -bench PostgresRead -benchtime=3x ./export/source/
func BenchmarkPostgresRead(b *testing.B) {
	const rows = 1_000_000
	url := sourcetest.NewPostgres(b)
	ctx := context.Background()
	require.NoError(b, demo.Generate(ctx, url, rows, demo.Options{}))
	src, err := source.Open(ctx, url)
	require.NoError(b, err)
	defer src.Close()
	st := sql("SELECT * FROM orders")

	b.Run("query", func(b *testing.B) {
		var took time.Duration
		for range b.N {
			start := time.Now()
			r, err := src.Query(ctx, st)
			require.NoError(b, err)
			n := 0
			for r.Next() {
				_ = r.Values()
				n++
			}
			require.NoError(b, r.Err())
			require.NoError(b, r.Close())
			require.Equal(b, rows, n)
			took += time.Since(start)
		}
		b.ReportMetric(float64(rows*b.N)/took.Seconds(), "rows/s")
	})
	// What an export does with Query: scan, then encode CSV in Go (here
	// encoding/csv with strconv, a stand-in for Herald's encoder).
	b.Run("query+csv", func(b *testing.B) {
		var took time.Duration
		for range b.N {
			start := time.Now()
			r, err := src.Query(ctx, st)
			require.NoError(b, err)
			w := csv.NewWriter(io.Discard)
			rec := make([]string, len(r.Columns()))
			for r.Next() {
				for i, v := range r.Values() {
					rec[i] = csvField(v)
				}
				require.NoError(b, w.Write(rec))
			}
			w.Flush()
			require.NoError(b, r.Err())
			require.NoError(b, r.Close())
			took += time.Since(start)
		}
		b.ReportMetric(float64(rows*b.N)/took.Seconds(), "rows/s")
	})
	b.Run("copy", func(b *testing.B) {
		var took time.Duration
		for range b.N {
			start := time.Now()
			n, err := src.(source.CSVCopier).CopyCSV(ctx, st, io.Discard, ',', nil)
			require.NoError(b, err)
			require.Equal(b, int64(rows), n)
			took += time.Since(start)
		}
		b.ReportMetric(float64(rows*b.N)/took.Seconds(), "rows/s")
	})
}

func csvField(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
