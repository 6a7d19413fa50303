package format

import (
	"encoding/base64"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/export/data"
)

// csvFlushAt is the size at which the row buffer is handed to the writer.
// 64 KiB amortises the writer's per-call cost (a compressor, a multipart
// upload) while staying far from any memory concern.
const csvFlushAt = 64 << 10

// csvEncoder writes RFC 4180 CSV by appending each value straight into one
// reusable buffer with strconv.Append*: no per-value allocation and no
// intermediate []string as encoding/csv needs.
type csvEncoder struct {
	w       io.Writer
	cols    []data.Column
	delim   []byte
	special [256]bool // bytes that force a field to be quoted
	buf     []byte
	header  bool // header row written
	state
}

var _ Encoder = (*csvEncoder)(nil)

func newCSVEncoder(w io.Writer, cols []data.Column, opts Options) *csvEncoder {
	e := &csvEncoder{w: w, cols: cols, buf: make([]byte, 0, csvFlushAt+4096)}
	e.delim = utf8.AppendRune(nil, opts.Delimiter)
	e.special['"'], e.special['\r'], e.special['\n'] = true, true, true
	// For a multi-byte delimiter this marks its lead byte, which may quote a
	// field that did not need it: harmless, and it keeps the scan a table
	// lookup.
	e.special[e.delim[0]] = true
	return e
}

func (e *csvEncoder) Write(values []any) error {
	if err := e.usable(); err != nil {
		return err
	}
	if len(values) != len(e.cols) {
		return e.fail(countError(len(values), len(e.cols)))
	}
	if !e.header {
		e.writeHeader()
	}
	start := len(e.buf)
	for i, v := range values {
		if i > 0 {
			e.buf = append(e.buf, e.delim...)
		}
		if err := e.appendValue(e.cols[i], v); err != nil {
			e.buf = e.buf[:start] // drop the half row
			return e.fail(err)
		}
	}
	e.buf = append(e.buf, '\r', '\n')
	if len(e.buf) >= csvFlushAt {
		return e.flush()
	}
	return nil
}

func (e *csvEncoder) writeHeader() {
	e.header = true
	for i, c := range e.cols {
		if i > 0 {
			e.buf = append(e.buf, e.delim...)
		}
		e.buf = e.appendString(e.buf, c.Name)
	}
	e.buf = append(e.buf, '\r', '\n')
}

func (e *csvEncoder) appendValue(c data.Column, v any) error {
	if v == nil {
		return nil // NULL is an empty, unquoted field
	}
	ok := true
	switch c.Type {
	case data.TypeString:
		var s string
		if s, ok = v.(string); ok {
			e.buf = e.appendString(e.buf, s)
		}
	case data.TypeInt:
		var n int64
		if n, ok = v.(int64); ok {
			e.buf = strconv.AppendInt(e.buf, n, 10)
		}
	case data.TypeFloat:
		var f float64
		if f, ok = v.(float64); ok {
			e.buf = appendCSVFloat(e.buf, f)
		}
	case data.TypeBool:
		var b bool
		if b, ok = v.(bool); ok {
			e.buf = strconv.AppendBool(e.buf, b)
		}
	case data.TypeDate:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			e.buf = appendDate(e.buf, t)
		}
	case data.TypeTimestamp:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			e.buf = appendTimestamp(e.buf, t)
		}
	case data.TypeBytes:
		var p []byte
		if p, ok = v.([]byte); ok {
			// base64's alphabet never needs quoting
			e.buf = base64.StdEncoding.AppendEncode(e.buf, p)
		}
	}
	if !ok {
		return typeError(c, v)
	}
	return nil
}

// appendCSVFloat spells the non-finite values as PostgreSQL, DuckDB, Python
// and strconv.ParseFloat all read them.
func appendCSVFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return appendFloat(b, f)
}

// appendString writes s as one field. The empty string is written as "" so
// that readers which make the distinction (PostgreSQL COPY, DuckDB) tell it
// from NULL, which is written as nothing. Fields holding the delimiter, a
// quote, CR or LF are quoted per RFC 4180, as are fields with leading or
// trailing blanks (which some readers would otherwise trim) and the lone
// "\." (PostgreSQL's end-of-data marker). Each invalid UTF-8 byte becomes
// U+FFFD.
func (e *csvEncoder) appendString(b []byte, s string) []byte {
	if s == "" {
		return append(b, '"', '"')
	}
	quote, high := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		quote = quote || e.special[c]
		high = high || c >= utf8.RuneSelf
	}
	if high && !utf8.ValidString(s) {
		s = string([]rune(s)) // each invalid byte becomes U+FFFD, as in JSON and XLSX
	}
	if f, l := s[0], s[len(s)-1]; f == ' ' || f == '\t' || l == ' ' || l == '\t' || s == `\.` {
		quote = true
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

func (e *csvEncoder) flush() error { return e.flushTo(e.w, &e.buf, "csv") }

func (e *csvEncoder) Close() error {
	if err := e.closing(); err != nil {
		return err
	}
	if !e.header {
		e.writeHeader() // an empty result is still a valid file with a header
	}
	return e.flush()
}
