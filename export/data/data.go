package data

import (
	"fmt"
	"strings"
	"time"
)

// Type is a column's or a parameter's type, independent of the database.
type Type uint8

// Column and parameter types. Every column may also hold NULL (a nil value).
//
// The Go value a Rows yields for each type:
//
//	TypeString    string
//	TypeInt       int64
//	TypeFloat     float64
//	TypeBool      bool
//	TypeDate      time.Time (midnight UTC)
//	TypeTimestamp time.Time (UTC)
//	TypeBytes     []byte
//	TypeEnum      string (parameters only; a column is TypeString)
const (
	TypeString Type = iota + 1
	TypeInt
	TypeFloat
	TypeBool
	TypeDate
	TypeTimestamp
	TypeBytes
	TypeEnum
)

var typeNames = map[Type]string{
	TypeString: "string", TypeInt: "int", TypeFloat: "float", TypeBool: "bool",
	TypeDate: "date", TypeTimestamp: "timestamp", TypeBytes: "bytes", TypeEnum: "enum",
}

// String is the type's name as written in dataset files and API documents.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType is the inverse of String.
func ParseType(s string) (Type, error) {
	for t, n := range typeNames {
		if strings.EqualFold(s, n) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (want string, int, float, bool, date, timestamp, bytes or enum)", s)
}

// MarshalText writes the type's name.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a type's name.
func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Column describes one column of a result.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
}

// Rows is a forward-only stream of rows, as database/sql's Rows is, but with
// values already converted to the Go types listed at Type.
//
//	for rows.Next() { use(rows.Values()) }
//	if err := rows.Err(); err != nil { … }
//	rows.Close()
type Rows interface {
	// Columns is known before the first Next.
	Columns() []Column
	// Next advances to the next row; false at the end or on error.
	Next() bool
	// Values is the current row, one value per column (nil for NULL). The
	// slice and any []byte in it are valid only until the next call to Next.
	Values() []any
	// Err is the error that ended iteration, if any.
	Err() error
	// Close releases the rows; it is safe to call more than once.
	Close() error
}

// Arg is one argument of a Statement: a value already parsed and checked
// against its parameter's type (nil for NULL).
type Arg struct {
	Name  string
	Type  Type
	Value any // as listed at Type; nil means NULL
}

// Statement is SQL with its arguments kept apart, so that no value is ever
// spliced into the text. Its SQL is Parts[0] arg0 Parts[1] arg1 … Parts[n]:
// len(Parts) == len(Args)+1, and each source writes the placeholder its
// database wants between the parts ($1, ?, …). The same argument may appear
// more than once.
type Statement struct {
	Parts []string
	Args  []Arg
}

// SQL renders the statement with placeholder(i) (i from 0) between parts.
func (s Statement) SQL(placeholder func(i int) string) string {
	var b strings.Builder
	for i, p := range s.Parts {
		b.WriteString(p)
		if i < len(s.Args) {
			b.WriteString(placeholder(i))
		}
	}
	return b.String()
}

// Values returns the argument values in order.
func (s Statement) Values() []any {
	v := make([]any, len(s.Args))
	for i, a := range s.Args {
		v[i] = a.Value
	}
	return v
}

// Date returns t's calendar date as midnight UTC, how TypeDate values are kept.
func Date(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
