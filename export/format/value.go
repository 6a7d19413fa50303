package format

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/heraldhq/herald/export/data"
)

// Value formatting shared by the text formats (CSV, JSON Lines, and XLSX for
// what it writes as text). Every function appends to a caller's buffer so that
// encoding a row allocates nothing.

// typeError reports a value whose Go type does not match its column.
func typeError(c data.Column, v any) error {
	return fmt.Errorf("format: column %q (%s): unexpected Go value of type %T", c.Name, c.Type, v)
}

// countError reports a row with the wrong number of values.
func countError(got, want int) error {
	return fmt.Errorf("format: row has %d values, want %d", got, want)
}

// appendFloat writes f the way encoding/json (and JavaScript) do: the
// shortest decimal that reads back as the same float64, in plain notation
// between 1e-6 and 1e21 and in exponent notation outside. Callers handle NaN
// and ±Inf, which have no JSON form.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	b = strconv.AppendFloat(b, f, fmt, -1, 64)
	if fmt == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendTimestamp writes t in UTC as RFC 3339, with as many fractional digits
// as needed (none when the nanoseconds are zero), like time.RFC3339Nano but
// about three times faster.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	h, mi, s := t.Clock()
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

// appendDate writes t's calendar date (in t's own location, as data.Date
// reads it) as YYYY-MM-DD.
func appendDate(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, time.DateOnly)
	}
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	return append2(b, d)
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
