package source

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/export/data"
)

// convFunc turns one non-nil value a database/sql driver produced into the Go
// type data.Type promises. Drivers are looser than their declared column
// types (SQLite most of all), so each accepts every reasonable input and
// names the value it cannot take.
type convFunc func(v any) (any, error)

// converters is indexed by data.Type.
var converters = [...]convFunc{
	data.TypeString:    toString,
	data.TypeInt:       toInt,
	data.TypeFloat:     toFloat,
	data.TypeBool:      toBool,
	data.TypeDate:      toDate,
	data.TypeTimestamp: toTimestamp,
	data.TypeBytes:     toBytes,
	data.TypeEnum:      toString,
}

func converterFor(t data.Type) convFunc {
	if int(t) < len(converters) && converters[t] != nil {
		return converters[t]
	}
	return toString
}

func cannot(v any, t data.Type) error {
	if s, ok := v.(string); ok && len(s) > 40 {
		v = s[:40] + "…"
	}
	return fmt.Errorf("cannot read %T %v as %s", v, v, t)
}

func toString(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	}
	return fmt.Sprint(v), nil
}

func toInt(v any) (any, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%d does not fit an int64", x)
		}
		return int64(x), nil
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), nil
		}
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case []byte:
		return parseInt(string(x))
	case string:
		return parseInt(x)
	}
	return nil, cannot(v, data.TypeInt)
}

func parseInt(s string) (any, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return nil, cannot(s, data.TypeInt)
	}
	return n, nil
}

func toFloat(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		// Through its shortest decimal form, so that a FLOAT 1.1 reads as
		// 1.1 and not as 1.100000023841858.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return f, nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case []byte:
		return parseFloat(string(x))
	case string:
		return parseFloat(x)
	}
	return nil, cannot(v, data.TypeFloat)
}

func parseFloat(s string) (any, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return nil, cannot(s, data.TypeFloat)
	}
	return f, nil
}

func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case float64:
		return x != 0, nil
	case []byte:
		return parseBool(string(x))
	case string:
		return parseBool(x)
	}
	return nil, cannot(v, data.TypeBool)
}

func parseBool(s string) (any, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "y", "yes", "on":
		return true, nil
	case "0", "f", "false", "n", "no", "off":
		return false, nil
	}
	return nil, cannot(s, data.TypeBool)
}

func toDate(v any) (any, error) {
	t, err := toTime(v, data.TypeDate)
	if err != nil {
		return nil, err
	}
	return data.Date(t), nil
}

func toTimestamp(v any) (any, error) {
	t, err := toTime(v, data.TypeTimestamp)
	if err != nil {
		return nil, err
	}
	return t.UTC(), nil
}

// timeLayouts are tried in order on text. The first two are how Herald
// writes timestamps and dates into SQLite; the others are what SQLite's own
// date functions and other writers produce. A text without an offset is UTC.
var timeLayouts = []string{
	sqliteTimestampLayout,
	sqliteDateLayout,
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
}

func toTime(v any, t data.Type) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case int64:
		// SQLite's unixepoch(): seconds since 1970.
		return time.Unix(x, 0).UTC(), nil
	case []byte:
		return parseTime(string(x), t)
	case string:
		return parseTime(x, t)
	}
	return time.Time{}, cannot(v, t)
}

func parseTime(s string, t data.Type) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if tm, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return tm, nil
		}
	}
	return time.Time{}, cannot(s, t)
}

func toBytes(v any) (any, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return nil, cannot(v, data.TypeBytes)
}

// argText renders an argument as PostgreSQL reads it in text format: it is
// what COPY's settings carry and what Query sends for every type but bytes.
// ok is false for NULL.
func argText(a data.Arg) (s string, ok bool, err error) {
	if a.Value == nil {
		return "", false, nil
	}
	switch a.Type {
	case data.TypeString, data.TypeEnum:
		if v, ok := a.Value.(string); ok {
			return v, true, nil
		}
	case data.TypeInt:
		if v, ok := a.Value.(int64); ok {
			return strconv.FormatInt(v, 10), true, nil
		}
	case data.TypeFloat:
		if v, ok := a.Value.(float64); ok {
			switch {
			case math.IsInf(v, 1):
				return "Infinity", true, nil
			case math.IsInf(v, -1):
				return "-Infinity", true, nil
			}
			return strconv.FormatFloat(v, 'g', -1, 64), true, nil
		}
	case data.TypeBool:
		if v, ok := a.Value.(bool); ok {
			return strconv.FormatBool(v), true, nil
		}
	case data.TypeDate:
		if v, ok := a.Value.(time.Time); ok {
			return v.Format(sqliteDateLayout), true, nil
		}
	case data.TypeTimestamp:
		if v, ok := a.Value.(time.Time); ok {
			return v.UTC().Format("2006-01-02 15:04:05.999999Z07:00"), true, nil
		}
	case data.TypeBytes:
		if v, ok := a.Value.([]byte); ok {
			return string(v), true, nil
		}
	}
	return "", false, badArg(a)
}

func badArg(a data.Arg) error {
	return fmt.Errorf("argument %q: %T is not a %s value", a.Name, a.Value, a.Type)
}
