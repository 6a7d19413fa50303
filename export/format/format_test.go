package format

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/export/data"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	for _, f := range Formats {
		got, err := ParseFormat(" " + string(f) + " ")
		require.NoError(t, err)
		require.Equal(t, f, got)
	}
	got, err := ParseFormat("CSV")
	require.NoError(t, err)
	require.Equal(t, CSV, got)
	_, err = ParseFormat("xls")
	require.ErrorIs(t, err, ErrUnknown)
}

func TestParseCompression(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Compression{"": None, "none": None, "GZIP": Gzip, "gz": Gzip, "zstd": Zstd, "zst": Zstd} {
		got, err := ParseCompression(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseCompression("brotli")
	require.ErrorIs(t, err, ErrUnknown)
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	for _, f := range Formats {
		for _, c := range Compressions {
			err := Allowed(f, c)
			if (f == Parquet || f == XLSX) && c != None {
				require.ErrorIs(t, err, ErrNotAllowed, "%s/%s", f, c)
			} else {
				require.NoError(t, err, "%s/%s", f, c)
			}
		}
	}
	require.ErrorIs(t, Allowed("pdf", None), ErrUnknown)
	require.ErrorIs(t, Allowed(CSV, "lz4"), ErrUnknown)
	require.ErrorIs(t, Allowed(CSV, ""), ErrUnknown)
}

func TestFileName(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 16, 30, 0, 0, time.FixedZone("CET", 3600))
	require.Equal(t, "orders-20261122-153000.csv.gz", FileName("orders", at, CSV, Gzip))
	require.Equal(t, "orders-20261122-153000.jsonl.zst", FileName("orders", at, JSONL, Zstd))
	require.Equal(t, "orders-20261122-153000.parquet", FileName("orders", at, Parquet, None))
	require.Equal(t, "orders-20261122-153000.xlsx", FileName("orders", at, XLSX, None))
}

func TestContentType(t *testing.T) {
	t.Parallel()
	require.Equal(t, "text/csv; charset=utf-8", ContentType(CSV, None))
	require.Equal(t, "application/x-ndjson", ContentType(JSONL, None))
	require.Equal(t, "application/vnd.apache.parquet", ContentType(Parquet, None))
	require.Equal(t, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ContentType(XLSX, None))
	require.Equal(t, "application/gzip", ContentType(CSV, Gzip))
	require.Equal(t, "application/zstd", ContentType(JSONL, Zstd))
}

func TestNewEncoderRejects(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "a", Type: data.TypeInt}}
	for name, tc := range map[string]struct {
		f    Format
		cols []data.Column
		opts Options
	}{
		"unknown format":  {f: "xml", cols: cols},
		"no columns":      {f: CSV},
		"enum column":     {f: CSV, cols: []data.Column{{Name: "e", Type: data.TypeEnum}}},
		"quote delimiter": {f: CSV, cols: cols, opts: Options{Delimiter: '"'}},
		"LF delimiter":    {f: CSV, cols: cols, opts: Options{Delimiter: '\n'}},
		"bad rune":        {f: CSV, cols: cols, opts: Options{Delimiter: 0xD800}},
		"sheet rows":      {f: XLSX, cols: cols, opts: Options{SheetRows: MaxSheetRows + 1}},
		"negative rows":   {f: XLSX, cols: cols, opts: Options{SheetRows: -1}},
		"too many cols":   {f: XLSX, cols: make([]data.Column, maxXLSXColumns+1)},
	} {
		if name == "too many cols" {
			for i := range tc.cols {
				tc.cols[i] = data.Column{Name: "c", Type: data.TypeInt}
			}
		}
		_, err := NewEncoder(tc.f, &discard{}, tc.cols, tc.opts)
		require.Error(t, err, name)
	}
}

func TestColumnLetters(t *testing.T) {
	t.Parallel()
	for i, want := range map[int]string{0: "A", 25: "Z", 26: "AA", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA", 16383: "XFD"} {
		require.Equal(t, want, string(columnLetters(i)))
	}
}

func TestAppendTimestamp(t *testing.T) {
	t.Parallel()
	for _, ts := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.FixedZone("X", -7*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		require.Equal(t, ts.UTC().Format(time.RFC3339Nano), string(appendTimestamp(nil, ts)))
	}
}

// discard is an io.Writer that keeps nothing.
type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}
