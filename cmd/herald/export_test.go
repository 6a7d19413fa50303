package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export"
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

// The progress line's first frame says something true: none is drawn while the export has only
// just begun (it drew "1024 rows  10 B  96584 rows/s": a gzip header and a rate over a few
// milliseconds), and no size is shown until the output has bytes.
func TestProgressLineFirstFrame(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &progressLine{w: &buf, on: true}
	now := time.Now()
	p.show(export.Progress{Rows: 1024, Bytes: 10, Estimate: 300_000, StartedAt: now})
	require.Empty(t, buf.String(), "no frame in the export's first moments")

	p.show(export.Progress{Rows: 65_536, Estimate: 300_000, StartedAt: now.Add(-time.Second)})
	frame := buf.String()
	require.Contains(t, frame, "65536 rows  ")
	require.NotContains(t, frame, " B", "nothing written yet: no size")
	require.Regexp(t, `  6[0-9]{4} rows/s`, frame, "a rate over the time since the start")

	buf.Reset()
	p.show(export.Progress{Rows: 131_072, Bytes: 5 << 20, Estimate: 300_000, StartedAt: now.Add(-2 * time.Second)})
	require.Contains(t, buf.String(), "131072 rows  5.0 MiB written  ")
	require.Contains(t, buf.String(), "43.7%")
	p.done()
	require.True(t, strings.HasSuffix(buf.String(), "\n"), "a drawn line ends with a newline")

	quick := &progressLine{w: &buf, on: true}
	buf.Reset()
	quick.show(export.Progress{Rows: 10_000, Bytes: 300_000, StartedAt: time.Now()})
	quick.done()
	require.Empty(t, buf.String(), "an export over at once draws nothing, not even a newline")
}

// herald export reads format and compression names as the API does: in any letter case, and
// refuses others naming the allowed ones.
func TestExportNamesInAnyLetterCase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, (&demoDataCmd{Rows: 50, Seed: 1, DataDir: dir, out: io.Discard}).Run(context.Background()))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(format, compression string) (string, error) {
		out := filepath.Join(t.TempDir(), "out")
		cmd := exportCmd{Dataset: "orders", Format: format, Compression: compression, Delimiter: ",",
			Output: out, DataDir: dir, Progress: "never"}
		return out, cmd.Run(context.Background(), logger)
	}

	out, err := run("CSV", "GZip")
	require.NoError(t, err)
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	recs, err := csv.NewReader(zr).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 51, "a header and every row")

	for _, ok := range [][2]string{{"JSONL", "ZST"}, {"Parquet", "NONE"}, {"xlsx", ""}} {
		_, err := run(ok[0], ok[1])
		require.NoError(t, err, ok)
	}
	_, err = run("PDF", "none")
	require.EqualError(t, err, `Format "PDF" is not supported; use one of csv, jsonl, parquet, xlsx.`)
	_, err = run("csv", "RAR")
	require.EqualError(t, err, `Compression "RAR" is not supported; use gzip, zstd or none.`)
}
