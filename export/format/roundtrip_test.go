package format

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/heraldhq/herald/export/data"
)

// testColumns covers every column type.
var testColumns = []data.Column{
	{Name: "s", Type: data.TypeString},
	{Name: "i", Type: data.TypeInt},
	{Name: "f", Type: data.TypeFloat},
	{Name: "b", Type: data.TypeBool},
	{Name: "d", Type: data.TypeDate},
	{Name: "ts", Type: data.TypeTimestamp},
	{Name: "by", Type: data.TypeBytes},
	{Name: "name, with \"quotes\"", Type: data.TypeString},
}

// testRows returns rows that stress every format: NULLs, empty strings,
// unicode, delimiters, newlines, blanks, extreme numbers and times.
func testRows() [][]any {
	ts := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	day := func(y int, mo time.Month, d int) time.Time { return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC) }
	return [][]any{
		{"plain", int64(1), 1.5, true, day(2026, 11, 22), ts(2026, 11, 22, 15, 30, 0, 0), []byte("hi"), "x"},
		{nil, nil, nil, nil, nil, nil, nil, nil},
		{"", int64(0), 0.0, false, day(1970, 1, 1), ts(1970, 1, 1, 0, 0, 0, 0), []byte{}, ""},
		{"emoji 😀 CJK 漢字 RTL עברית العربية", int64(math.MaxInt64), math.MaxFloat64, true,
			day(9999, 12, 31), ts(2262, 4, 11, 23, 47, 16, 854775000), []byte{0, 1, 2, 255}, "é"},
		{"a,b;c\td", int64(math.MinInt64), -math.SmallestNonzeroFloat64, false,
			day(1900, 3, 1), ts(1900, 3, 1, 0, 0, 0, 1000), []byte("\x00\xff"), ","},
		{`say "hi", "bye"`, int64(-1), math.Copysign(0, -1), true,
			day(2000, 2, 29), ts(2024, 2, 29, 23, 59, 59, 999999000), nil, `"`},
		{"line1\nline2\r\nline3\rend", int64(999_999_999_999_999), 1e21, false,
			day(1899, 12, 31), ts(1899, 12, 31, 23, 59, 59, 0), []byte("x"), "\n"},
		{"  leading and trailing  ", int64(1_000_000_000_000_000), 1e-7, true,
			day(1, 1, 1), ts(2026, 6, 1, 12, 0, 0, 123456789), []byte("y"), " "},
		{"xml <&> ]]> \u2028 \u2029 tab\there", int64(42), 0.1 + 0.2, false,
			day(2026, 1, 1), ts(2026, 1, 1, 0, 0, 0, 1), nil, `\.`},
	}
}

// specialFloats are written separately: their fate differs per format.
var specialFloats = []float64{math.NaN(), math.Inf(1), math.Inf(-1)}

// encode writes rows through compressor c and encoder f and returns the
// decompressed file.
func encode(t *testing.T, f Format, c Compression, cols []data.Column, rows [][]any, opts Options) []byte {
	t.Helper()
	var file bytes.Buffer
	comp, err := NewCompressor(c, &file)
	require.NoError(t, err)
	enc, err := NewEncoder(f, comp, cols, opts)
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, enc.Write(r))
	}
	require.NoError(t, enc.Close())
	require.NoError(t, comp.Close())
	return decompress(t, c, file.Bytes())
}

func decompress(t *testing.T, c Compression, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case None:
		return b
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(b)) // the standard reader: pgzip output must be plain gzip
		require.NoError(t, err)
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	rows := testRows()
	for i, f := range specialFloats {
		rows = append(rows, []any{"special", int64(i), f, nil, nil, nil, nil, nil})
	}
	for _, f := range Formats {
		for _, c := range Compressions {
			if Allowed(f, c) != nil {
				continue
			}
			t.Run(string(f)+"/"+string(c), func(t *testing.T) {
				t.Parallel()
				file := encode(t, f, c, testColumns, rows, Options{})
				var got [][]any
				switch f {
				case CSV:
					got = readCSV(t, file, testColumns, ',')
				case JSONL:
					got = readJSONL(t, file, testColumns)
				case Parquet:
					got = readParquet(t, file, testColumns)
				case XLSX:
					got = readXLSX(t, file, testColumns)[0]
				}
				require.Len(t, got, len(rows))
				for r := range rows {
					for col := range testColumns {
						requireSame(t, f, testColumns[col], rows[r][col], got[r][col], "row %d col %q", r, testColumns[col].Name)
					}
				}
			})
		}
	}
}

// requireSame compares a source value with what a format gave back, allowing
// for each format's documented losses.
func requireSame(t *testing.T, f Format, c data.Column, want, got any, msg string, args ...any) {
	t.Helper()
	msg = fmt.Sprintf(msg, args...)
	switch c.Type {
	case data.TypeString:
		if want == nil && f == CSV {
			want = "" // CSV cannot tell NULL from ""
		}
		if s, ok := want.(string); ok && f == CSV {
			// encoding/csv's reader turns \r\n inside a quoted field into
			// \n; the bytes on disk keep it (see TestCSVBytes).
			want = strings.ReplaceAll(s, "\r\n", "\n")
		}
	case data.TypeFloat:
		if w, ok := want.(float64); ok && (math.IsNaN(w) || math.IsInf(w, 0)) && (f == JSONL || f == XLSX) {
			want = nil
		}
		if w, ok := want.(float64); ok {
			g, ok := got.(float64)
			require.True(t, ok, "%s: got %T %v", msg, got, got)
			if math.IsNaN(w) {
				require.True(t, math.IsNaN(g), msg)
				return
			}
			require.Equal(t, math.Float64bits(w), math.Float64bits(g), "%s: want %v got %v", msg, w, g)
			return
		}
	case data.TypeTimestamp:
		if w, ok := want.(time.Time); ok {
			g, ok := got.(time.Time)
			require.True(t, ok, "%s: got %T %v", msg, got, got)
			switch f {
			case Parquet:
				w = w.Truncate(time.Microsecond)
			case XLSX:
				require.WithinDuration(t, w, g, time.Millisecond, msg)
				return
			}
			require.True(t, w.Equal(g), "%s: want %v got %v", msg, w, g)
			return
		}
	case data.TypeDate:
		if w, ok := want.(time.Time); ok {
			g, ok := got.(time.Time)
			require.True(t, ok, "%s: got %T %v", msg, got, got)
			require.True(t, w.Equal(g), "%s: want %v got %v", msg, w, g)
			return
		}
	case data.TypeBytes:
		if w, ok := want.([]byte); ok && len(w) == 0 {
			// base64 of no bytes is "": CSV and XLSX cannot tell it from NULL
			// or from an empty text; compare as empty
			if got == nil && f == CSV {
				return
			}
			require.Empty(t, got, msg)
			return
		}
	}
	require.Equal(t, want, got, msg)
}

// parseText reads one text value of column c as the encoders wrote it.
func parseText(t *testing.T, c data.Column, s string) any {
	t.Helper()
	var v any
	var err error
	switch c.Type {
	case data.TypeString:
		v = s
	case data.TypeInt:
		v, err = strconv.ParseInt(s, 10, 64)
	case data.TypeFloat:
		v, err = strconv.ParseFloat(s, 64)
	case data.TypeBool:
		v, err = strconv.ParseBool(s)
	case data.TypeDate:
		v, err = time.Parse(time.DateOnly, s)
	case data.TypeTimestamp:
		v, err = time.Parse(time.RFC3339Nano, s)
	case data.TypeBytes:
		v, err = base64.StdEncoding.DecodeString(s)
	}
	require.NoError(t, err, "column %q value %q", c.Name, s)
	return v
}

func readCSV(t *testing.T, file []byte, cols []data.Column, delim rune) [][]any {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(file))
	r.Comma = delim
	records, err := r.ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, records)
	header := records[0]
	for i, c := range cols {
		require.Equal(t, c.Name, header[i])
	}
	var rows [][]any
	for _, rec := range records[1:] {
		row := make([]any, len(cols))
		for i, c := range cols {
			if rec[i] == "" && c.Type != data.TypeString {
				continue // NULL
			}
			row[i] = parseText(t, c, rec[i])
		}
		rows = append(rows, row)
	}
	return rows
}

func readJSONL(t *testing.T, file []byte, cols []data.Column) [][]any {
	t.Helper()
	var rows [][]any
	lines := bytes.Split(bytes.TrimSuffix(file, []byte("\n")), []byte("\n"))
	for _, line := range lines {
		// key order: decode as an ordered token stream
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		require.NoError(t, dec.Decode(&obj), string(line))
		require.Len(t, obj, len(cols))
		keys := jsonKeys(t, line)
		row := make([]any, len(cols))
		for i, c := range cols {
			require.Equal(t, c.Name, keys[i])
			v := obj[c.Name]
			switch x := v.(type) {
			case nil:
			case bool:
				row[i] = x
			case json.Number:
				row[i] = parseText(t, c, x.String())
			case string:
				row[i] = parseText(t, c, x)
			default:
				t.Fatalf("column %q: unexpected JSON %T", c.Name, v)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func jsonKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	_, err := dec.Token() // {
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func readParquet(t *testing.T, file []byte, cols []data.Column) [][]any {
	t.Helper()
	pf, err := parquet.OpenFile(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	fields := pf.Schema().Fields()
	require.Len(t, fields, len(cols))
	for i, c := range cols {
		require.Equal(t, c.Name, fields[i].Name(), "column order")
		require.True(t, fields[i].Optional(), c.Name)
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	var rows [][]any
	buf := make([]parquet.Row, 16)
	for {
		n, err := r.ReadRows(buf)
		for _, pr := range buf[:n] {
			row := make([]any, len(cols))
			for _, v := range pr {
				i := v.Column()
				if v.IsNull() {
					continue
				}
				switch cols[i].Type {
				case data.TypeString:
					row[i] = string(v.ByteArray())
				case data.TypeInt:
					row[i] = v.Int64()
				case data.TypeFloat:
					row[i] = v.Double()
				case data.TypeBool:
					row[i] = v.Boolean()
				case data.TypeDate:
					row[i] = time.Unix(int64(v.Int32())*86400, 0).UTC()
				case data.TypeTimestamp:
					row[i] = time.UnixMicro(v.Int64()).UTC()
				case data.TypeBytes:
					row[i] = bytes.Clone(v.ByteArray())
				}
			}
			rows = append(rows, row)
		}
		if err == io.EOF {
			return rows
		}
		require.NoError(t, err)
	}
}

// readXLSX returns the data rows of every sheet, checking each header.
func readXLSX(t *testing.T, file []byte, cols []data.Column) [][][]any {
	t.Helper()
	x, err := excelize.OpenReader(bytes.NewReader(file))
	require.NoError(t, err)
	defer func() { require.NoError(t, x.Close()) }()
	var sheets [][][]any
	for _, name := range x.GetSheetList() {
		raw, err := x.GetRows(name, excelize.Options{RawCellValue: true})
		require.NoError(t, err)
		require.NotEmpty(t, raw, name)
		for i, c := range cols {
			require.Equal(t, c.Name, raw[0][i], "sheet %s header", name)
		}
		var rows [][]any
		for r := 1; r < len(raw); r++ {
			row := make([]any, len(cols))
			for i, c := range cols {
				cell, err := excelize.CoordinatesToCellName(i+1, r+1)
				require.NoError(t, err)
				typ, err := x.GetCellType(name, cell)
				require.NoError(t, err)
				s := ""
				if i < len(raw[r]) {
					s = raw[r][i]
				}
				// A number cell has no type attribute, so "unset" with no
				// text is how a missing cell (NULL) shows.
				if typ == excelize.CellTypeUnset && s == "" {
					continue
				}
				row[i] = xlsxValue(t, c, typ, s)
			}
			rows = append(rows, row)
		}
		sheets = append(sheets, rows)
	}
	return sheets
}

func xlsxValue(t *testing.T, c data.Column, typ excelize.CellType, s string) any {
	t.Helper()
	isText := typ == excelize.CellTypeInlineString || typ == excelize.CellTypeSharedString
	switch c.Type {
	case data.TypeBool:
		return s == "1" || s == "TRUE"
	case data.TypeDate, data.TypeTimestamp:
		if isText { // outside Excel's range
			return parseText(t, c, s)
		}
		f, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err)
		// excelize.ExcelDateToTime rounds to the second; keep microseconds
		days := math.Floor(f)
		ns := math.Round((f-days)*86400e6) * 1e3
		return time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days)).Add(time.Duration(ns))
	}
	return parseText(t, c, s)
}
