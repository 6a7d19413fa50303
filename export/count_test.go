package export

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/demo"
	"github.com/heraldhq/herald/export/source"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

// SQLite gives no planner estimate, so the export counts the dataset's rows beside it; the
// count wraps the dataset's statement, arguments and all.
func TestCountRows(t *testing.T) {
	t.Parallel()
	url := sourcetest.NewSQLite(t)
	require.NoError(t, demo.Generate(context.Background(), url, 3000, demo.Options{Seed: 9}))
	src, err := source.Open(context.Background(), url)
	require.NoError(t, err)
	defer src.Close()
	d, _ := Builtin().Get("orders", nil)

	all, err := d.Bind(nil)
	require.NoError(t, err)
	n, err := countRows(context.Background(), src, all)
	require.NoError(t, err)
	require.EqualValues(t, 3000, n)

	paid, err := d.Bind(map[string]any{"status": "paid"})
	require.NoError(t, err)
	n, err = countRows(context.Background(), src, paid)
	require.NoError(t, err)
	rows, err := src.Query(context.Background(), paid)
	require.NoError(t, err)
	var want int64
	for rows.Next() {
		want++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, want, n)
	require.Less(t, n, int64(3000))
}
