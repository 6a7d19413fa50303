package format

import (
	"bufio"
	"compress/gzip"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/heraldhq/herald/export/data"
)

// Benchmarks print rows/s for each encoder beside a baseline measured in the
// same run: encoding/csv, encoding/json of a map per row, excelize's
// StreamWriter, the standard library's gzip.
//
//	go test -run '^$' -bench . -benchtime 200000x ./export/format/

var ordersColumns = []data.Column{
	{Name: "id", Type: data.TypeInt},
	{Name: "customer", Type: data.TypeString},
	{Name: "email", Type: data.TypeString},
	{Name: "country", Type: data.TypeString},
	{Name: "status", Type: data.TypeString},
	{Name: "amount", Type: data.TypeFloat},
	{Name: "quantity", Type: data.TypeInt},
	{Name: "is_gift", Type: data.TypeBool},
	{Name: "created_at", Type: data.TypeTimestamp},
	{Name: "shipped_on", Type: data.TypeDate},
	{Name: "note", Type: data.TypeString},
}

// ordersPool is large (about 12 MB of CSV) so that no compressor's window
// sees the cycle repeat, which would flatter zstd's ratio and speed.
var ordersPool = sync.OnceValue(func() [][]any { return ordersRows(100_000) })

// ordersRows makes varied order rows that benchmarks cycle through, giving
// each row a fresh id.
func ordersRows(n int) [][]any {
	r := rand.New(rand.NewPCG(1, 2))
	countries := []string{"FR", "DE", "US", "JP", "BR", "IN", "GB", "ES"}
	statuses := []string{"pending", "paid", "shipped", "delivered", "cancelled"}
	notes := []string{"", "leave at the door", `gift wrap, "blue" paper`, "call first\nthen ring twice", "fragile, handle with care"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, n)
	for i := range rows {
		created := base.Add(time.Duration(r.Int64N(int64(300 * 24 * time.Hour))))
		var email, shipped, note any
		if r.IntN(10) > 0 {
			email = fmt.Sprintf("customer%d@example.com", r.IntN(100000))
		}
		if r.IntN(3) > 0 {
			shipped = data.Date(created.AddDate(0, 0, 1+r.IntN(5)))
		}
		if r.IntN(4) == 0 {
			note = notes[r.IntN(len(notes))]
		}
		rows[i] = []any{
			int64(i), fmt.Sprintf("Customer %d", r.IntN(100000)), email,
			countries[r.IntN(len(countries))], statuses[r.IntN(len(statuses))],
			float64(r.IntN(100000)) / 100, int64(1 + r.IntN(9)), r.IntN(10) == 0,
			created, shipped, note,
		}
	}
	return rows
}

// runRows feeds b.N rows to write and reports rows/s and, when out counts
// them, bytes/row.
func runRows(b *testing.B, out *discard, write func([]any) error, finish func() error) {
	b.Helper()
	pool := ordersPool()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		row := pool[i%len(pool)]
		row[0] = int64(i)
		if err := write(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := finish(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if out != nil && b.N > 0 {
		b.ReportMetric(float64(out.n)/float64(b.N), "B/row")
	}
}

func benchEncoder(b *testing.B, f Format, c Compression, opts Options) {
	out := &discard{}
	comp, err := NewCompressor(c, out)
	require.NoError(b, err)
	enc, err := NewEncoder(f, comp, ordersColumns, opts)
	require.NoError(b, err)
	runRows(b, out, enc.Write, func() error {
		if err := enc.Close(); err != nil {
			return err
		}
		return comp.Close()
	})
}

// textValue is what a typical hand-written exporter does per value.
func textValue(c data.Column, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		if c.Type == data.TypeDate {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return fmt.Sprint(v)
}

func BenchmarkCSV(b *testing.B) {
	b.Run("herald", func(b *testing.B) { benchEncoder(b, CSV, None, Options{}) })
	b.Run("baseline_encoding_csv", func(b *testing.B) {
		out := &discard{}
		w := csv.NewWriter(out)
		w.UseCRLF = true
		rec := make([]string, len(ordersColumns))
		runRows(b, out, func(row []any) error {
			for i, v := range row {
				rec[i] = textValue(ordersColumns[i], v)
			}
			return w.Write(rec)
		}, func() error { w.Flush(); return w.Error() })
	})
}

func BenchmarkJSONL(b *testing.B) {
	b.Run("herald", func(b *testing.B) { benchEncoder(b, JSONL, None, Options{}) })
	b.Run("baseline_encoding_json_map", func(b *testing.B) {
		out := &discard{}
		bw := bufio.NewWriterSize(out, 64<<10)
		enc := json.NewEncoder(bw)
		runRows(b, out, func(row []any) error {
			m := make(map[string]any, len(row))
			for i, v := range row {
				m[ordersColumns[i].Name] = v
			}
			return enc.Encode(m)
		}, bw.Flush)
	})
}

func BenchmarkParquet(b *testing.B) {
	b.Run("herald", func(b *testing.B) { benchEncoder(b, Parquet, None, Options{}) })
}

func BenchmarkXLSX(b *testing.B) {
	b.Run("herald", func(b *testing.B) { benchEncoder(b, XLSX, None, Options{}) })
	b.Run("baseline_excelize_stream", func(b *testing.B) {
		out := &discard{}
		x := excelize.NewFile()
		defer x.Close()
		sw, err := x.NewStreamWriter("Sheet1")
		require.NoError(b, err)
		header := make([]any, len(ordersColumns))
		for i, c := range ordersColumns {
			header[i] = c.Name
		}
		require.NoError(b, sw.SetRow("A1", header))
		cells := make([]any, len(ordersColumns))
		n := 1
		runRows(b, out, func(row []any) error {
			n++
			copy(cells, row)
			cell, err := excelize.CoordinatesToCellName(1, n)
			if err != nil {
				return err
			}
			return sw.SetRow(cell, cells)
		}, func() error {
			if err := sw.Flush(); err != nil {
				return err
			}
			_, err := x.WriteTo(out)
			return err
		})
	})
}

func BenchmarkCompression(b *testing.B) {
	for _, c := range []Compression{Gzip, Zstd} {
		b.Run("csv_"+string(c), func(b *testing.B) { benchEncoder(b, CSV, c, Options{}) })
	}
	b.Run("csv_baseline_stdlib_gzip", func(b *testing.B) {
		out := &discard{}
		zw := gzip.NewWriter(out)
		enc, err := NewEncoder(CSV, zw, ordersColumns, Options{})
		require.NoError(b, err)
		runRows(b, out, enc.Write, func() error {
			if err := enc.Close(); err != nil {
				return err
			}
			return zw.Close()
		})
	})
	for _, c := range []Compression{Gzip, Zstd} {
		b.Run("jsonl_"+string(c), func(b *testing.B) { benchEncoder(b, JSONL, c, Options{}) })
	}
}

// TestLargeExport writes HERALD_BIG_ROWS orders rows (e.g. 10000000) in the
// format named by HERALD_BIG_FORMAT and logs rows/s and the peak RSS of the
// process. Run one format per process so that peaks do not mix:
//
//	HERALD_BIG_ROWS=10000000 HERALD_BIG_FORMAT=parquet go test -run TestLargeExport -v ./export/format/
func TestLargeExport(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HERALD_BIG_ROWS"))
	if n == 0 {
		t.Skip("set HERALD_BIG_ROWS and HERALD_BIG_FORMAT to run")
	}
	f := Format(os.Getenv("HERALD_BIG_FORMAT"))
	c, err := ParseCompression(os.Getenv("HERALD_BIG_COMPRESSION"))
	require.NoError(t, err)
	// a small pool, so that the peak shows the encoder, not the test data
	pool := ordersRows(4096)
	runtime.GC()
	setup := procStatus("VmRSS:") // the row pool and the test binary, not the encoder
	out := &discard{}
	start := time.Now()
	if f == "excelize" {
		writeExcelize(t, out, pool, n)
	} else {
		comp, err := NewCompressor(c, out)
		require.NoError(t, err)
		enc, err := NewEncoder(f, comp, ordersColumns, Options{})
		require.NoError(t, err)
		for i := range n {
			row := pool[i%len(pool)]
			row[0] = int64(i)
			require.NoError(t, enc.Write(row))
		}
		require.NoError(t, enc.Close())
		require.NoError(t, comp.Close())
	}
	d := time.Since(start)
	t.Logf("%s/%s: %d rows in %v = %.0f rows/s, %.1f MiB out, RSS before %s, peak RSS %s",
		f, c, n, d.Round(time.Millisecond), float64(n)/d.Seconds(), float64(out.n)/(1<<20), setup, procStatus("VmHWM:"))
}

func writeExcelize(t *testing.T, out io.Writer, pool [][]any, n int) {
	x := excelize.NewFile()
	defer x.Close()
	sheet := 0
	var sw *excelize.StreamWriter
	for i := range n {
		if i%MaxSheetRows == 0 {
			if sw != nil {
				require.NoError(t, sw.Flush())
			}
			sheet++
			name := fmt.Sprintf("Sheet%d", sheet)
			if sheet > 1 {
				_, err := x.NewSheet(name)
				require.NoError(t, err)
			}
			var err error
			sw, err = x.NewStreamWriter(name)
			require.NoError(t, err)
		}
		row := pool[i%len(pool)]
		row[0] = int64(i)
		cell, err := excelize.CoordinatesToCellName(1, i%MaxSheetRows+2)
		require.NoError(t, err)
		require.NoError(t, sw.SetRow(cell, row))
	}
	require.NoError(t, sw.Flush())
	_, err := x.WriteTo(out)
	require.NoError(t, err)
}

// procStatus is a field of /proc/self/status, such as VmHWM, the peak RSS
// (Linux only).
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, field) {
			return strings.TrimSpace(strings.TrimPrefix(line, field))
		}
	}
	return "unknown"
}
