package export

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/export/data"
)

// maxStringParam bounds a string parameter's length, in bytes.
const maxStringParam = 1000

// Param is one typed parameter of a dataset.
type Param struct {
	Name        string    `yaml:"name" json:"name"`
	Type        data.Type `yaml:"type" json:"type"`
	Title       string    `yaml:"title" json:"title,omitempty"`
	Description string    `yaml:"description" json:"description,omitempty"`
	// Required parameters must be given; the others are NULL (or Default)
	// when left out.
	Required bool `yaml:"required" json:"required"`
	// Default, when set, is used when the parameter is left out; it is
	// written as a value of the parameter's type.
	Default any `yaml:"default" json:"default,omitempty"`
	// Values lists the allowed values of an enum.
	Values []string `yaml:"values" json:"values,omitempty"`
	// Min and Max bound int and float parameters (inclusive) when set.
	Min *float64 `yaml:"min" json:"min,omitempty"`
	Max *float64 `yaml:"max" json:"max,omitempty"`
	// After names another parameter of the same int, float, date or timestamp type that this
	// one, when both are given, must be greater than: a range's end after its start ("to"
	// after "from"), so that a reversed range is refused instead of exporting nothing.
	After string `yaml:"after" json:"after,omitempty"`

	def any // Default, parsed
}

func (p *Param) check() error {
	if !validName(p.Name) {
		return fmt.Errorf("parameter name %q must be a letter or _ followed by letters, digits or _", p.Name)
	}
	if p.Type < data.TypeString || p.Type > data.TypeEnum || p.Type == data.TypeBytes {
		return fmt.Errorf("parameter %q: type must be string, int, float, bool, date, timestamp or enum", p.Name)
	}
	if p.Type == data.TypeEnum && len(p.Values) == 0 {
		return fmt.Errorf("parameter %q: an enum needs values", p.Name)
	}
	if p.Type != data.TypeEnum && len(p.Values) > 0 {
		return fmt.Errorf("parameter %q: only an enum has values", p.Name)
	}
	if (p.Min != nil || p.Max != nil) && p.Type != data.TypeInt && p.Type != data.TypeFloat {
		return fmt.Errorf("parameter %q: only int and float parameters have min and max", p.Name)
	}
	if p.After != "" && !ordered(p.Type) {
		return fmt.Errorf("parameter %q: only int, float, date and timestamp parameters have after", p.Name)
	}
	if p.Default != nil {
		v, err := p.parse(p.Default)
		if err != nil {
			return fmt.Errorf("parameter %q: default: %w", p.Name, err)
		}
		p.def = v
	}
	return nil
}

// parse converts a value given by a client (a JSON value, or a string from
// the command line) to the parameter's Go type, as listed at data.Type.
func (p *Param) parse(raw any) (any, error) {
	if n, ok := raw.(json.Number); ok {
		raw = string(n)
	}
	switch p.Type {
	case data.TypeString:
		return parseString(raw)
	case data.TypeEnum:
		return p.parseEnum(raw)
	case data.TypeInt:
		n, err := parseInt(raw)
		if err != nil {
			return nil, err
		}
		return n, p.inRange(float64(n))
	case data.TypeFloat:
		f, err := parseFloat(raw)
		if err != nil {
			return nil, err
		}
		return f, p.inRange(f)
	case data.TypeBool:
		return parseBool(raw)
	case data.TypeDate:
		return parseDate(raw)
	case data.TypeTimestamp:
		return parseTimestamp(raw)
	}
	return nil, fmt.Errorf("has an unsupported type")
}

func parseString(raw any) (any, error) {
	s, ok := raw.(string)
	switch {
	case !ok:
		return nil, fmt.Errorf("must be a string")
	case len(s) > maxStringParam:
		return nil, fmt.Errorf("must be at most %d bytes long", maxStringParam)
	case strings.ContainsRune(s, 0):
		return nil, fmt.Errorf("must not contain NUL characters")
	}
	return s, nil
}

func (p *Param) parseEnum(raw any) (any, error) {
	s, ok := raw.(string)
	if !ok || !slices.Contains(p.Values, s) {
		return nil, fmt.Errorf("must be one of %s", strings.Join(p.Values, ", "))
	}
	return s, nil
}

func parseInt(raw any) (int64, error) {
	errInt := fmt.Errorf("must be an integer")
	switch v := raw.(type) {
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, errInt
		}
		return i, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, errInt
		}
		return int64(v), nil
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	}
	return 0, errInt
}

func parseFloat(raw any) (float64, error) {
	var f float64
	switch v := raw.(type) {
	case string:
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("must be a number")
		}
		f = x
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	default:
		return 0, fmt.Errorf("must be a number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("must be a finite number")
	}
	return f, nil
}

func parseBool(raw any) (any, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("must be true or false")
}

func parseDate(raw any) (any, error) {
	s, ok := raw.(string)
	if !ok {
		if t, ok := raw.(time.Time); ok { // YAML reads an unquoted date as a time
			return data.Date(t), nil
		}
		return nil, fmt.Errorf("must be a date like 2026-01-31")
	}
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("must be a date like 2026-01-31")
	}
	return t, nil
}

func parseTimestamp(raw any) (any, error) {
	s, ok := raw.(string)
	if !ok {
		if t, ok := raw.(time.Time); ok {
			return t.UTC(), nil
		}
		return nil, fmt.Errorf("must be a timestamp like 2026-01-31T15:04:05Z")
	}
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return nil, fmt.Errorf("must be a timestamp like 2026-01-31T15:04:05Z (or a date)")
}

func (p *Param) inRange(f float64) error {
	if p.Min != nil && f < *p.Min {
		return fmt.Errorf("must be at least %v", *p.Min)
	}
	if p.Max != nil && f > *p.Max {
		return fmt.Errorf("must be at most %v", *p.Max)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}

func ordered(t data.Type) bool {
	return t == data.TypeInt || t == data.TypeFloat || t == data.TypeDate || t == data.TypeTimestamp
}

// greater reports whether a > b for two parsed values of one ordered type.
func greater(a, b any) bool {
	switch a := a.(type) {
	case int64:
		return a > b.(int64)
	case float64:
		return a > b.(float64)
	case time.Time:
		return a.After(b.(time.Time))
	}
	return false
}

// formatValue writes a parsed value back as a client would give it.
func (p *Param) formatValue(v any) string {
	if t, ok := v.(time.Time); ok {
		if p.Type == data.TypeDate {
			return t.Format(time.DateOnly)
		}
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
