package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/source"
)

// countOrders counts the demo table's rows in the data dir's SQLite database.
func countOrders(t *testing.T, dataDir string) int64 {
	t.Helper()
	ctx := context.Background()
	src, err := source.Open(ctx, "sqlite://"+filepath.Join(dataDir, "herald.db"))
	require.NoError(t, err)
	defer func() { require.NoError(t, src.Close()) }()
	rows, err := src.Query(ctx, data.Statement{Parts: []string{"SELECT count(*) FROM orders"}})
	require.NoError(t, err)
	defer func() { require.NoError(t, rows.Close()) }()
	require.True(t, rows.Next())
	n := rows.Values()[0].(int64)
	require.NoError(t, rows.Err())
	return n
}

// `herald demo-data --rows N` leaves exactly N orders, replacing what was there, and says so;
// its help says the same (it once said "makes more" while it replaced the table).
func TestDemoDataLeavesExactlyTheRowsAskedFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(rows int64) string {
		var out bytes.Buffer
		cmd := demoDataCmd{Rows: rows, Seed: 1, DataDir: dir, out: &out}
		require.NoError(t, cmd.Run(context.Background()))
		return out.String()
	}
	first := run(300)
	require.Contains(t, first, "300 demo orders generated")
	require.NotContains(t, first, "replacing", "there was no table to replace")
	require.EqualValues(t, 300, countOrders(t, dir))

	second := run(200)
	require.Contains(t, second, "200 demo orders generated")
	require.Contains(t, second, "replacing the 300 rows the orders table had")
	require.EqualValues(t, 200, countOrders(t, dir), "--rows is what the table holds, not how many are added")

	var c cli
	k, err := kong.New(&c, defaults())
	require.NoError(t, err)
	var help string
	for _, n := range k.Model.Children {
		if n.Name != "demo-data" {
			continue
		}
		for _, f := range n.Flags {
			if f.Name == "rows" {
				help = f.Help
			}
		}
		require.Contains(t, n.Help, "replacing it")
	}
	require.Contains(t, help, "replaced, never added to")
}
