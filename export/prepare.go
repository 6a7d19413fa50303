package export

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/format"
)

// Request is what a user asks to export.
type Request struct {
	Dataset     string         `json:"dataset"`
	Format      string         `json:"format"`
	Compression string         `json:"compression,omitempty"`
	Params      map[string]any `json:"params,omitempty"`
	// Delimiter is the CSV field separator: one character, default ",".
	Delimiter string `json:"delimiter,omitempty"`
}

// Plan is a checked Request, ready to run.
type Plan struct {
	Dataset     *Dataset
	Statement   data.Statement
	Format      format.Format
	Compression format.Compression
	Options     format.Options
	// filters are the parameters the request gave, as "Title: value", for Title.
	filters []string
}

// FileName is the plan's file name for an export started at t.
func (p *Plan) FileName(t time.Time) string {
	return format.FileName(p.Dataset.Name, t, p.Format, p.Compression)
}

// ContentType is the MIME type of the plan's file.
func (p *Plan) ContentType() string { return format.ContentType(p.Format, p.Compression) }

// Title describes the export to its owner, with the filters it was given, so that two exports
// of one dataset tell apart: "Export of Orders (CSV, gzip) · Status: paid · Created on or after:
// 2026-01-01". At most maxTitle characters.
func (p *Plan) Title() string {
	t := fmt.Sprintf("Export of %s (%s", p.Dataset.Title, strings.ToUpper(string(p.Format)))
	if p.Compression != format.None {
		t += ", " + string(p.Compression)
	}
	t += ")"
	for _, f := range p.filters {
		t += " · " + f
	}
	return clip(t, maxTitle)
}

const (
	maxTitle       = 200
	maxFilterValue = 40
)

// describeFilters writes each parameter the request gave (in the dataset's order) as
// "Title: value", the value as a client would write it, clipped, without control or
// bidirectional-override characters.
func describeFilters(d *Dataset, raw map[string]any) []string {
	var out []string
	for _, p := range d.Params {
		v, given := raw[p.Name]
		if !given || v == nil {
			continue
		}
		parsed, err := p.parse(v)
		if err != nil {
			continue // Bind has refused the request already
		}
		name := p.Title
		if name == "" {
			name = p.Name
		}
		out = append(out, name+": "+clip(printable(p.formatValue(parsed)), maxFilterValue))
	}
	return out
}

// printable drops control characters and the bidirectional formatting ones (Unicode's
// Bidi_Control: U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069, as auth refuses in user ids),
// which could make a title read otherwise than it is.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
}

// clip cuts s to at most n characters, ending in "…" when cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ErrUnknownDataset is returned by Prepare for a dataset that does not
// exist or that the user's roles do not allow (the two are not told apart).
var ErrUnknownDataset = errors.New("unknown dataset")

// RequestError is a request that cannot be run, with a message for the user.
type RequestError struct {
	Code    string // stable: unknown_dataset, invalid_format, invalid_params
	Message string
	// Fields lists the parameter problems of an invalid_params error.
	Fields []FieldError
	err    error
}

func (e *RequestError) Error() string { return e.Message }
func (e *RequestError) Unwrap() error { return e.err }

// Prepare checks a request for a user with roles: the dataset exists and is
// allowed, the format and compression are known and allowed together and by
// the dataset, and the parameters are valid. Every problem is a
// *RequestError; nothing is run.
func (e *Exporter) Prepare(req Request, roles []string) (*Plan, error) {
	d, ok := e.cfg.Registry.Get(req.Dataset, roles)
	if !ok {
		return nil, &RequestError{Code: "unknown_dataset", Message: fmt.Sprintf("There is no dataset %q.", req.Dataset), err: ErrUnknownDataset}
	}
	f, err := format.ParseFormat(req.Format)
	if err != nil {
		return nil, &RequestError{Code: "invalid_format", Message: fmt.Sprintf("Format %q is not supported; use one of %s.", req.Format, strings.Join(d.Formats, ", ")), err: err}
	}
	if !d.AllowsFormat(string(f)) {
		return nil, &RequestError{Code: "invalid_format", Message: fmt.Sprintf("Dataset %q cannot be exported as %s; use one of %s.", d.Name, f, strings.Join(d.Formats, ", "))}
	}
	comp := req.Compression
	if comp == "" {
		comp = string(format.None)
	}
	c, err := format.ParseCompression(comp)
	if err != nil {
		return nil, &RequestError{Code: "invalid_format", Message: fmt.Sprintf("Compression %q is not supported; use gzip, zstd or none.", req.Compression), err: err}
	}
	if err := format.Allowed(f, c); err != nil {
		return nil, &RequestError{Code: "invalid_format", Message: userText(err), err: err}
	}
	opts := format.Options{}
	if req.Delimiter != "" {
		r := []rune(req.Delimiter)
		if f != format.CSV || len(r) != 1 {
			return nil, &RequestError{Code: "invalid_format", Message: "The delimiter must be one character, and only CSV has one."}
		}
		if r[0] != '\t' && (unicode.IsControl(r[0]) || r[0] == utf8.RuneError) {
			// NUL would otherwise mean "the default" (a comma) without a word.
			return nil, &RequestError{Code: "invalid_format", Message: "The delimiter must be a printable character or a tab."}
		}
		opts.Delimiter = r[0]
	}
	if err := opts.Validate(); err != nil {
		return nil, &RequestError{Code: "invalid_format", Message: userText(err), err: err}
	}
	st, err := d.Bind(req.Params)
	if err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			return nil, &RequestError{Code: "invalid_params", Message: verr.UserMessage(), Fields: verr.Fields, err: err}
		}
		return nil, err
	}
	return &Plan{Dataset: d, Statement: st, Format: f, Compression: c, Options: opts, filters: describeFilters(d, req.Params)}, nil
}

// userText turns a package error into a sentence for users: the format
// package prefixes its errors with "format: ".
func userText(err error) string {
	s := strings.TrimPrefix(err.Error(), "format: ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}
