package format

import (
	"encoding/base64"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/internal/jsonx"
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
		k = jsonx.AppendString(k, c.Name)
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
			e.buf = jsonx.AppendString(e.buf, s)
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

func (e *jsonlEncoder) flush() error { return e.flushTo(e.w, &e.buf, "jsonl") }

func (e *jsonlEncoder) Close() error {
	if err := e.closing(); err != nil {
		return err
	}
	return e.flush()
}
