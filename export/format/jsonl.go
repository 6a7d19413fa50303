package format

import (
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/export/data"
)

// jsonlEncoder writes JSON Lines: one object per row, keys in column order,
// LF after each object. Keys are escaped once, at construction; values are
// appended with strconv, without reflection.
type jsonlEncoder struct {
	w    io.Writer
	cols []data.Column
	keys [][]byte // `{"name":` for the first column, `,"name":` after
	buf  []byte
	state
}

var _ Encoder = (*jsonlEncoder)(nil)

func newJSONLEncoder(w io.Writer, cols []data.Column) *jsonlEncoder {
	e := &jsonlEncoder{w: w, cols: cols, buf: make([]byte, 0, csvFlushAt+4096)}
	e.keys = make([][]byte, len(cols))
	for i, c := range cols {
		k := []byte{','}
		if i == 0 {
			k[0] = '{'
		}
		k = appendJSONString(k, c.Name)
		e.keys[i] = append(k, ':')
	}
	return e
}

func (e *jsonlEncoder) Write(values []any) error {
	if err := e.usable(); err != nil {
		return err
	}
	if len(values) != len(e.cols) {
		return e.fail(countError(len(values), len(e.cols)))
	}
	start := len(e.buf)
	for i, v := range values {
		e.buf = append(e.buf, e.keys[i]...)
		if err := e.appendValue(e.cols[i], v); err != nil {
			e.buf = e.buf[:start]
			return e.fail(err)
		}
	}
	e.buf = append(e.buf, '}', '\n')
	if len(e.buf) >= csvFlushAt {
		return e.flush()
	}
	return nil
}

func (e *jsonlEncoder) appendValue(c data.Column, v any) error {
	if v == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	ok := true
	switch c.Type {
	case data.TypeString:
		var s string
		if s, ok = v.(string); ok {
			e.buf = appendJSONString(e.buf, s)
		}
	case data.TypeInt:
		// Written as a number even beyond 2^53: exact for Go, Python, jq 1.7;
		// JavaScript's JSON.parse rounds such values.
		var n int64
		if n, ok = v.(int64); ok {
			e.buf = strconv.AppendInt(e.buf, n, 10)
		}
	case data.TypeFloat:
		var f float64
		if f, ok = v.(float64); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				e.buf = append(e.buf, "null"...) // JSON has no NaN nor Infinity
			} else {
				e.buf = appendFloat(e.buf, f)
			}
		}
	case data.TypeBool:
		var b bool
		if b, ok = v.(bool); ok {
			e.buf = strconv.AppendBool(e.buf, b)
		}
	case data.TypeDate:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			e.buf = append(e.buf, '"')
			e.buf = append(appendDate(e.buf, t), '"')
		}
	case data.TypeTimestamp:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			e.buf = append(e.buf, '"')
			e.buf = append(appendTimestamp(e.buf, t), '"')
		}
	case data.TypeBytes:
		var p []byte
		if p, ok = v.([]byte); ok {
			e.buf = append(e.buf, '"')
			e.buf = append(base64.StdEncoding.AppendEncode(e.buf, p), '"')
		}
	}
	if !ok {
		return typeError(c, v)
	}
	return nil
}

// jsonSafe marks the ASCII bytes that go into a JSON string unescaped.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. Control characters, quote and
// backslash are escaped, invalid UTF-8 becomes U+FFFD, and U+2028/U+2029 are
// escaped so that a line is also valid JavaScript. HTML characters are left
// alone (unlike encoding/json's default): the output is a file, not a page.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func (e *jsonlEncoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	if err != nil {
		return e.fail(fmt.Errorf("format: write jsonl: %w", err))
	}
	return nil
}

func (e *jsonlEncoder) Close() error {
	if err := e.closing(); err != nil {
		return err
	}
	return e.flush()
}
