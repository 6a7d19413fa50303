package format

import (
	"archive/zip"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/heraldhq/herald/export/data"
)

// maxXLSXColumns is Excel's column limit (XFD).
const maxXLSXColumns = 16384

// xlsxFlateLevel trades size for speed on the sheet XML, which is most of
// the CPU an XLSX export costs: klauspost's deflate at level 1 is several
// times faster than the standard library's default level, and the orders
// benchmark still comes out at about 80 bytes/row (excelize: 65).
const xlsxFlateLevel = 1

// Cell styles, indexes into cellXfs of styles.xml (see xlsxStyles).
const (
	styleDate      = 1
	styleTimestamp = 2
	styleHeader    = 3
)

// xlsxEncoder streams an XLSX workbook. Each sheet's XML is written straight
// into its own deflated zip entry as rows arrive; the small parts that list
// the sheets (workbook, relationships, content types) and the styles are
// written at Close, since zip readers locate entries by the central
// directory, not by their order. Memory stays at one row buffer plus the
// deflate window; nothing goes to temporary files.
//
// Cell values: numbers and booleans as numbers; dates and timestamps as Excel
// serial numbers with a date style (text, RFC 3339, before 1900-03-01 or after
// 9999-12-31, which Excel cannot show); integers beyond 15 digits as text,
// since Excel keeps only 15 significant digits; strings and base64 bytes as
// inline strings; NULL as no cell at all, so that an empty string (a text cell
// with no text) stays distinct from NULL.
type xlsxEncoder struct {
	zw       *zip.Writer
	cols     []data.Column
	refs     [][]byte // column letters: A, B, …
	opts     Options
	modified time.Time
	sheet    io.Writer // current sheet entry, nil before the first
	sheets   int
	rowNum   int // spreadsheet row number of the last row written (1 = header)
	buf      []byte
	state
}

var _ Encoder = (*xlsxEncoder)(nil)

func newXLSXEncoder(w io.Writer, cols []data.Column, opts Options) (*xlsxEncoder, error) {
	if len(cols) > maxXLSXColumns {
		return nil, fmt.Errorf("format: %d columns exceed the XLSX limit of %d", len(cols), maxXLSXColumns)
	}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, xlsxFlateLevel)
	})
	e := &xlsxEncoder{
		zw: zw, cols: cols, opts: opts,
		modified: time.Now().UTC(),
		buf:      make([]byte, 0, csvFlushAt+4096),
	}
	e.refs = make([][]byte, len(cols))
	for i := range cols {
		e.refs[i] = columnLetters(i)
	}
	return e, nil
}

// columnLetters is Excel's name of the 0-based column i: A … Z, AA … XFD.
func columnLetters(i int) []byte {
	var b []byte
	for i++; i > 0; i = (i - 1) / 26 {
		b = append([]byte{byte('A' + (i-1)%26)}, b...)
	}
	return b
}

func (e *xlsxEncoder) Write(values []any) error {
	if err := e.usable(); err != nil {
		return err
	}
	if len(values) != len(e.cols) {
		return e.fail(countError(len(values), len(e.cols)))
	}
	if e.sheet == nil || e.rowNum-1 == e.opts.SheetRows {
		if err := e.nextSheet(); err != nil {
			return err
		}
	}
	start := len(e.buf)
	e.rowNum++
	e.buf = e.appendRowStart(e.buf)
	for i, v := range values {
		if err := e.appendCell(i, v); err != nil {
			e.rowNum--
			e.buf = e.buf[:start]
			return e.fail(err)
		}
	}
	e.buf = append(e.buf, "</row>"...)
	if len(e.buf) >= csvFlushAt {
		return e.flush()
	}
	return nil
}

func (e *xlsxEncoder) appendRowStart(b []byte) []byte {
	b = append(b, `<row r="`...)
	b = strconv.AppendInt(b, int64(e.rowNum), 10)
	return append(b, `">`...)
}

// appendCellStart writes `<c r="B7"` and, when not zero, the style and type.
func (e *xlsxEncoder) appendCellStart(i, style int, typ string) {
	e.buf = append(e.buf, `<c r="`...)
	e.buf = append(e.buf, e.refs[i]...)
	e.buf = strconv.AppendInt(e.buf, int64(e.rowNum), 10)
	e.buf = append(e.buf, '"')
	if style != 0 {
		e.buf = append(e.buf, ` s="`...)
		e.buf = strconv.AppendInt(e.buf, int64(style), 10)
		e.buf = append(e.buf, '"')
	}
	if typ != "" {
		e.buf = append(e.buf, ` t="`...)
		e.buf = append(e.buf, typ...)
		e.buf = append(e.buf, '"')
	}
	e.buf = append(e.buf, '>')
}

func (e *xlsxEncoder) appendString(i, style int, s string) {
	e.appendCellStart(i, style, "inlineStr")
	e.buf = appendInlineText(e.buf, s)
	e.buf = append(e.buf, "</c>"...)
}

func (e *xlsxEncoder) appendNumber(i, style int, f float64) {
	e.appendCellStart(i, style, "")
	e.buf = append(e.buf, "<v>"...)
	e.buf = appendFloat(e.buf, f)
	e.buf = append(e.buf, "</v></c>"...)
}

// maxExactInt is the largest integer Excel shows exactly (15 digits).
const maxExactInt = 999_999_999_999_999

func (e *xlsxEncoder) appendCell(i int, v any) error {
	if v == nil {
		return nil
	}
	c := e.cols[i]
	ok := true
	switch c.Type {
	case data.TypeString:
		var s string
		if s, ok = v.(string); ok {
			e.appendString(i, 0, s)
		}
	case data.TypeInt:
		var n int64
		if n, ok = v.(int64); ok {
			if n > maxExactInt || n < -maxExactInt {
				e.appendString(i, 0, strconv.FormatInt(n, 10))
			} else {
				e.appendCellStart(i, 0, "")
				e.buf = append(e.buf, "<v>"...)
				e.buf = strconv.AppendInt(e.buf, n, 10)
				e.buf = append(e.buf, "</v></c>"...)
			}
		}
	case data.TypeFloat:
		var f float64
		if f, ok = v.(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			e.appendNumber(i, 0, f) // NaN and ±Inf: no cell, Excel has no such numbers
		}
	case data.TypeBool:
		var b bool
		if b, ok = v.(bool); ok {
			e.appendCellStart(i, 0, "b")
			if b {
				e.buf = append(e.buf, "<v>1</v></c>"...)
			} else {
				e.buf = append(e.buf, "<v>0</v></c>"...)
			}
		}
	case data.TypeDate:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			if serial, inRange := excelSerial(data.Date(t)); inRange {
				e.appendNumber(i, styleDate, serial)
			} else {
				e.appendString(i, 0, string(appendDate(nil, t)))
			}
		}
	case data.TypeTimestamp:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			if serial, inRange := excelSerial(t); inRange {
				e.appendNumber(i, styleTimestamp, serial)
			} else {
				e.appendString(i, 0, string(appendTimestamp(nil, t)))
			}
		}
	case data.TypeBytes:
		var p []byte
		if p, ok = v.([]byte); ok {
			e.appendString(i, 0, base64.StdEncoding.EncodeToString(p))
		}
	}
	if !ok {
		return typeError(c, v)
	}
	return nil
}

// Excel serial numbers count days from 1899-12-30; 1970-01-01 is 25569. They
// are right only from 1900-03-01 (serial 61), because Excel counts a
// 29 February 1900 that never was, up to 9999-12-31.
var (
	excelMin = time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)
	excelMax = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// excelSerial converts t to a serial number, in whole days and a fraction.
// A float64 near 50,000 days resolves about 1 µs; Excel shows milliseconds.
func excelSerial(t time.Time) (float64, bool) {
	if t.Before(excelMin) || !t.Before(excelMax) {
		return 0, false
	}
	sec := t.Unix()
	days := sec / 86400
	if sec%86400 < 0 { // Go's division truncates; floor it before 1970
		days--
	}
	rem := sec - days*86400
	frac := (float64(rem) + float64(t.Nanosecond())/1e9) / 86400
	return float64(days+25569) + frac, true
}

func (e *xlsxEncoder) flush() error {
	if len(e.buf) == 0 || e.sheet == nil {
		return nil
	}
	_, err := e.sheet.Write(e.buf)
	e.buf = e.buf[:0]
	if err != nil {
		return e.fail(fmt.Errorf("format: write xlsx sheet %d: %w", e.sheets, err))
	}
	return nil
}

// nextSheet ends the current sheet, if any, and starts the next one with its
// header row.
func (e *xlsxEncoder) nextSheet() error {
	if err := e.endSheet(); err != nil {
		return err
	}
	e.sheets++
	w, err := e.zw.CreateHeader(&zip.FileHeader{
		Name:     fmt.Sprintf("xl/worksheets/sheet%d.xml", e.sheets),
		Method:   zip.Deflate,
		Modified: e.modified,
	})
	if err != nil {
		return e.fail(fmt.Errorf("format: start xlsx sheet %d: %w", e.sheets, err))
	}
	e.sheet = w
	e.buf = e.appendSheetStart(e.buf)
	e.rowNum = 1
	e.buf = e.appendRowStart(e.buf)
	for i, c := range e.cols {
		e.appendString(i, styleHeader, c.Name)
	}
	e.buf = append(e.buf, "</row>"...)
	return nil
}

func (e *xlsxEncoder) endSheet() error {
	if e.sheet == nil {
		return nil
	}
	e.buf = append(e.buf, sheetEnd...)
	return e.flush()
}

func (e *xlsxEncoder) Close() error {
	if err := e.closing(); err != nil {
		return err
	}
	if e.sheet == nil { // no rows: still one sheet, with the header
		if err := e.nextSheet(); err != nil {
			return err
		}
	}
	if err := e.endSheet(); err != nil {
		return err
	}
	if err := e.writeWorkbookParts(); err != nil {
		return e.fail(err)
	}
	if err := e.zw.Close(); err != nil {
		return e.fail(fmt.Errorf("format: close xlsx: %w", err))
	}
	return nil
}
