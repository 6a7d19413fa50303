package format

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/heraldhq/herald/export/data"
)

func TestCSVBytes(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "a", Type: data.TypeString}, {Name: "b b", Type: data.TypeFloat}, {Name: "c", Type: data.TypeTimestamp}}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.FixedZone("X", 3600))
	rows := [][]any{
		{"", nil, ts},
		{nil, math.NaN(), nil},
		{"x;y", math.Inf(-1), nil},
		{" pad", 1e21, nil},
		{"a\r\nb", 1e-7, nil},
		{`q"q`, 123456789.125, nil},
	}
	got := encode(t, CSV, None, cols, rows, Options{Delimiter: ';'})
	require.Equal(t, "a;b b;c\r\n"+
		`"";;2026-01-02T02:04:05.6Z`+"\r\n"+
		";NaN;\r\n"+
		`"x;y";-Infinity;`+"\r\n"+
		`" pad";1e+21;`+"\r\n"+
		"\"a\r\nb\";1e-7;\r\n"+
		`"q""q";123456789.125;`+"\r\n", string(got))
}

func TestCSVMultiByteDelimiter(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "a", Type: data.TypeString}, {Name: "b", Type: data.TypeInt}}
	rows := [][]any{{"x¦y", int64(1)}, {"é", int64(2)}}
	file := encode(t, CSV, None, cols, rows, Options{Delimiter: '¦'})
	got := readCSV(t, file, cols, '¦')
	require.Equal(t, [][]any{{"x¦y", int64(1)}, {"é", int64(2)}}, got)
}

func TestJSONLBytes(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "k\"ey", Type: data.TypeString}, {Name: "n", Type: data.TypeInt}, {Name: "f", Type: data.TypeFloat},
		{Name: "d", Type: data.TypeDate}, {Name: "by", Type: data.TypeBytes}, {Name: "b", Type: data.TypeBool}}
	rows := [][]any{
		{"a\x01\"\\\n\u2028<é\xff", int64(-5), math.Inf(1), time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC), []byte{1, 2}, true},
		{nil, nil, nil, nil, nil, nil},
	}
	got := encode(t, JSONL, None, cols, rows, Options{})
	require.Equal(t, `{"k\"ey":"a\u0001\"\\\n\u2028<é\ufffd","n":-5,"f":null,"d":"2026-02-03","by":"AQI=","b":true}`+"\n"+
		`{"k\"ey":null,"n":null,"f":null,"d":null,"by":null,"b":null}`+"\n", string(got))
}

func TestXLSXSheetRollover(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "n", Type: data.TypeInt}, {Name: "s", Type: data.TypeString}}
	for _, tc := range []struct{ rows, sheets int }{{0, 1}, {1, 1}, {3, 1}, {9, 3}, {10, 4}} {
		var rows [][]any
		for i := range tc.rows {
			rows = append(rows, []any{int64(i), strings.Repeat("x", i)})
		}
		file := encode(t, XLSX, None, cols, rows, Options{SheetRows: 3})
		sheets := readXLSX(t, file, cols) // checks each sheet's header
		require.Len(t, sheets, tc.sheets, "%d rows", tc.rows)
		var all [][]any
		for i, s := range sheets {
			if i < len(sheets)-1 {
				require.Len(t, s, 3)
			}
			all = append(all, s...)
		}
		require.Len(t, all, tc.rows)
		for i, r := range all {
			require.Equal(t, rows[i], r)
		}
	}
}

func TestXLSXCells(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "s", Type: data.TypeString}, {Name: "n", Type: data.TypeInt}}
	long := strings.Repeat("é", maxCellChars) + "😀"
	rows := [][]any{
		{"", int64(math.MaxInt64)},
		{nil, int64(maxExactInt)},
		{"ctl\x00\x07\x1f\uFFFEend \xff", nil},
		{long, nil},
	}
	file := encode(t, XLSX, None, cols, rows, Options{})
	x, err := excelize.OpenReader(bytes.NewReader(file))
	require.NoError(t, err)
	defer func() { require.NoError(t, x.Close()) }()

	// empty string: a text cell; NULL: no cell
	typ, err := x.GetCellType("Sheet1", "A2")
	require.NoError(t, err)
	require.Equal(t, excelize.CellTypeInlineString, typ)
	typ, err = x.GetCellType("Sheet1", "A3")
	require.NoError(t, err)
	require.Equal(t, excelize.CellTypeUnset, typ)

	// beyond 15 digits an int is text, so that no digit is lost
	typ, err = x.GetCellType("Sheet1", "B2")
	require.NoError(t, err)
	require.Equal(t, excelize.CellTypeInlineString, typ)
	v, err := x.GetCellValue("Sheet1", "B2")
	require.NoError(t, err)
	require.Equal(t, "9223372036854775807", v)
	v, err = x.GetCellValue("Sheet1", "B3")
	require.NoError(t, err)
	require.Equal(t, "999999999999999", v)

	v, err = x.GetCellValue("Sheet1", "A4")
	require.NoError(t, err)
	require.Equal(t, "ctlend \uFFFD", v)

	v, err = x.GetCellValue("Sheet1", "A5")
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("é", maxCellChars), v)
}

func TestTruncateUTF16(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ab", truncateUTF16("ab😀", 3)) // the emoji needs two units
	require.Equal(t, "ab😀", truncateUTF16("ab😀", 4))
	require.Equal(t, "", truncateUTF16("😀", 1))
}

func TestParquetRowGroupsAndReusedBytes(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "z", Type: data.TypeInt}, {Name: "a", Type: data.TypeBytes}}
	var file bytes.Buffer
	enc, err := NewEncoder(Parquet, &file, cols, Options{ParquetRowGroupRows: 1000})
	require.NoError(t, err)
	scratch := make([]byte, 8) // reused between rows, as data.Rows may do
	const n = 5000
	for i := range n {
		for j := range scratch {
			scratch[j] = byte(i + j)
		}
		require.NoError(t, enc.Write([]any{int64(i), scratch}))
	}
	require.NoError(t, enc.Close())
	got := readParquet(t, file.Bytes(), cols)
	require.Len(t, got, n)
	for i, r := range got {
		want := make([]byte, 8)
		for j := range want {
			want[j] = byte(i + j)
		}
		require.Equal(t, []any{int64(i), want}, r)
	}
}

func TestEncoderContract(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "n", Type: data.TypeInt}, {Name: "s", Type: data.TypeString}}
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			// wrong Go type and wrong count: errors naming the column, sticky
			enc, err := NewEncoder(f, &discard{}, cols, Options{})
			require.NoError(t, err)
			err = enc.Write([]any{1, "x"})
			require.ErrorContains(t, err, `column "n"`)
			require.Equal(t, err, enc.Write([]any{int64(1), "x"}))
			require.Equal(t, err, enc.Close())

			enc, err = NewEncoder(f, &discard{}, cols, Options{})
			require.NoError(t, err)
			require.ErrorContains(t, enc.Write([]any{int64(1)}), "1 values, want 2")

			// Write and Close after Close
			enc, err = NewEncoder(f, &discard{}, cols, Options{})
			require.NoError(t, err)
			require.NoError(t, enc.Write([]any{int64(1), "x"}))
			require.NoError(t, enc.Close())
			require.ErrorIs(t, enc.Write([]any{int64(1), "x"}), ErrClosed)
			require.ErrorIs(t, enc.Close(), ErrClosed)
		})
	}
}

var errDiskFull = errors.New("disk full")

// failingWriter accepts limit bytes, then fails every write.
type failingWriter struct{ limit int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriterErrorPropagates(t *testing.T) {
	t.Parallel()
	cols := []data.Column{{Name: "n", Type: data.TypeInt}, {Name: "s", Type: data.TypeString}}
	for _, f := range Formats {
		for _, c := range Compressions {
			if Allowed(f, c) != nil {
				continue
			}
			t.Run(string(f)+"/"+string(c), func(t *testing.T) {
				t.Parallel()
				comp, err := NewCompressor(c, &failingWriter{limit: 100})
				require.NoError(t, err)
				enc, err := NewEncoder(f, comp, cols, Options{})
				require.NoError(t, err)
				var werr error
				// enough rows to pass every buffer (64 KiB rows, 1 MiB gzip blocks)
				for i := 0; i < 200_000 && werr == nil; i++ {
					werr = enc.Write([]any{int64(i), "some text to fill the buffers up"})
				}
				if werr == nil {
					werr = enc.Close()
				} else {
					require.Equal(t, werr, enc.Write([]any{int64(1), "x"}), "sticky")
					_ = enc.Close() // already failed; its error is werr again
				}
				if werr == nil {
					werr = comp.Close()
				} else {
					_ = comp.Close() // release the compressor's goroutines; the error is already known
				}
				require.ErrorIs(t, werr, errDiskFull)
			})
		}
	}
}

func FuzzCSVString(f *testing.F) {
	for _, s := range []string{"", " ", "a,b", "\"", "\r\n", "\n", "é", "\xff", `\.`} {
		f.Add(s)
	}
	cols := []data.Column{{Name: "s", Type: data.TypeString}, {Name: "n", Type: data.TypeInt}}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc, err := NewEncoder(CSV, &buf, cols, Options{})
		require.NoError(t, err)
		require.NoError(t, enc.Write([]any{s, int64(7)}))
		require.NoError(t, enc.Close())
		recs, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 2)
		want := strings.ReplaceAll(string([]rune(s)), "\r\n", "\n")
		require.Equal(t, []string{want, "7"}, recs[1])
	})
}

func FuzzJSONLString(f *testing.F) {
	for _, s := range []string{"", "\"\\", "\x00\x1f", "\u2028", "é😀", "\xff\xfe", "<&>"} {
		f.Add(s)
	}
	cols := []data.Column{{Name: "s", Type: data.TypeString}}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		enc, err := NewEncoder(JSONL, &buf, cols, Options{})
		require.NoError(t, err)
		require.NoError(t, enc.Write([]any{s}))
		require.NoError(t, enc.Close())
		require.Equal(t, 1, bytes.Count(buf.Bytes(), []byte("\n")), "one line")
		var obj map[string]string
		require.NoError(t, json.Unmarshal(buf.Bytes(), &obj))
		require.True(t, utf8.ValidString(obj["s"]))
		require.Equal(t, string([]rune(s)), obj["s"]) // one U+FFFD per invalid byte
	})
}
