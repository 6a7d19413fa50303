package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/demo"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

// BenchmarkGenerate loads benchRows rows into each database, one database
// at a time, and reports rows/s. Run with -benchtime=1x:
//
//	go test -run X -bench Generate -benchtime=1x ./export/demo/
func BenchmarkGenerate(b *testing.B) {
	const benchRows = 1_000_000
	for _, d := range sourcetest.Dialects {
		b.Run(d, func(b *testing.B) {
			url := sourcetest.New(b, d)
			var took time.Duration
			for range b.N {
				start := time.Now()
				require.NoError(b, demo.Generate(context.Background(), url, benchRows, demo.Options{Replace: true}))
				took += time.Since(start)
			}
			b.ReportMetric(float64(benchRows*b.N)/took.Seconds(), "rows/s")
		})
	}
}
