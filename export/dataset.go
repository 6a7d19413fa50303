package export

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/format"
)

// DefaultSource names the database Herald itself runs on (--database), the
// source of datasets that name none.
const DefaultSource = "default"

// Dataset is a named, parameterised query users may export. Clients never
// send SQL: they name a dataset and give values for its parameters, which
// are checked against their types and bound, never spliced into the text.
type Dataset struct {
	Name        string `yaml:"name" json:"name"`
	Title       string `yaml:"title" json:"title"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Source names an entry of the file's sources; empty means DefaultSource.
	Source string `yaml:"source" json:"-"`
	// Role, when set, is required of users who list or export the dataset.
	Role string `yaml:"role" json:"role,omitempty"`
	// Formats are the allowed output formats, in any letter case in the file (as in requests)
	// and in lower case once loaded; empty means all of them.
	Formats []string `yaml:"formats" json:"formats"`
	Params  []*Param `yaml:"params" json:"params"`
	// SQL is the query, with :name for parameter name. The same parameter
	// may appear several times.
	SQL string `yaml:"sql" json:"-"`

	parts []string // SQL split around the references
	refs  []*Param // the parameter of each reference, in order
}

// Registry is the set of datasets, from a YAML file or the built-in demo.
type Registry struct {
	// Sources maps source names to database URLs (see export/source.Open).
	// DefaultSource is added by the caller: Herald's own database.
	Sources  map[string]string
	datasets map[string]*Dataset
}

// file is the YAML layout of a datasets file.
type file struct {
	Sources  map[string]string `yaml:"sources"`
	Datasets []*Dataset        `yaml:"datasets"`
}

//go:embed datasets.yaml
var builtinYAML []byte

// Builtin returns the built-in registry: the demo dataset orders, read from
// Herald's own database.
func Builtin() *Registry {
	r, err := Parse(builtinYAML)
	if err != nil {
		panic(fmt.Sprintf("built-in datasets: %v", err)) // a test covers this file
	}
	return r
}

// Load reads a datasets file; path "" means the built-in one.
func Load(path string) (*Registry, error) {
	if path == "" {
		return Builtin(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read datasets: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("datasets %s: %w", path, err)
	}
	return r, nil
}

// Parse reads datasets from YAML and checks every one of them.
func Parse(b []byte) (*Registry, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	r := &Registry{Sources: f.Sources, datasets: map[string]*Dataset{}}
	if r.Sources == nil {
		r.Sources = map[string]string{}
	}
	var errs []error
	for i, d := range f.Datasets {
		if d == nil {
			errs = append(errs, fmt.Errorf("dataset %d is empty", i+1))
			continue
		}
		if err := d.compile(r.Sources); err != nil {
			errs = append(errs, fmt.Errorf("dataset %q: %w", d.Name, err))
			continue
		}
		if _, dup := r.datasets[d.Name]; dup {
			errs = append(errs, fmt.Errorf("dataset %q is defined twice", d.Name))
		}
		r.datasets[d.Name] = d
	}
	return r, errors.Join(errs...)
}

func (d *Dataset) compile(sources map[string]string) error {
	if !validName(d.Name) {
		return fmt.Errorf("name must be a letter or _ followed by letters, digits or _")
	}
	if d.Title == "" {
		d.Title = d.Name
	}
	if d.Source == "" {
		d.Source = DefaultSource
	}
	if _, ok := sources[d.Source]; !ok && d.Source != DefaultSource {
		return fmt.Errorf("source %q is not among the file's sources", d.Source)
	}
	names := d.Formats
	if len(names) == 0 {
		for _, f := range format.Formats {
			names = append(names, string(f))
		}
	}
	d.Formats = nil
	for _, name := range names {
		f, err := format.ParseFormat(name)
		if err != nil {
			return fmt.Errorf("format %q is not one of %s", name, formatList())
		}
		if !slices.Contains(d.Formats, string(f)) {
			d.Formats = append(d.Formats, string(f))
		}
	}
	byName := map[string]*Param{}
	for _, p := range d.Params {
		if p == nil {
			return fmt.Errorf("an empty parameter")
		}
		if err := p.check(); err != nil {
			return err
		}
		if byName[p.Name] != nil {
			return fmt.Errorf("parameter %q is defined twice", p.Name)
		}
		byName[p.Name] = p
	}
	for _, p := range d.Params {
		if p.After == "" {
			continue
		}
		if q := byName[p.After]; q == nil || q == p || q.Type != p.Type {
			return fmt.Errorf("parameter %q: after must name another parameter of type %s", p.Name, p.Type)
		}
	}
	if strings.TrimSpace(d.SQL) == "" {
		return fmt.Errorf("sql is empty")
	}
	refs, err := scanParams(d.SQL)
	if err != nil {
		return fmt.Errorf("sql: %w", err)
	}
	used := map[string]bool{}
	prev := 0
	for _, ref := range refs {
		p := byName[ref.name]
		if p == nil {
			return fmt.Errorf("sql uses :%s, which is not a parameter", ref.name)
		}
		used[p.Name] = true
		d.parts = append(d.parts, d.SQL[prev:ref.start])
		d.refs = append(d.refs, p)
		prev = ref.end
	}
	d.parts = append(d.parts, d.SQL[prev:])
	for _, p := range d.Params {
		if !used[p.Name] {
			return fmt.Errorf("parameter %q is not used in the sql", p.Name)
		}
	}
	return nil
}

// Get returns the dataset name, if it exists and the user's roles allow it.
func (r *Registry) Get(name string, roles []string) (*Dataset, bool) {
	d, ok := r.datasets[name]
	if !ok || !d.Allows(roles) {
		return nil, false
	}
	return d, true
}

// List returns the datasets the roles allow, by name.
func (r *Registry) List(roles []string) []*Dataset {
	var out []*Dataset
	for _, d := range r.datasets {
		if d.Allows(roles) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Roles lists every role some dataset requires.
func (r *Registry) Roles() []string {
	var roles []string
	for _, d := range r.datasets {
		if d.Role != "" && !slices.Contains(roles, d.Role) {
			roles = append(roles, d.Role)
		}
	}
	sort.Strings(roles)
	return roles
}

// Allows reports whether a user with roles may use the dataset.
func (d *Dataset) Allows(roles []string) bool {
	return d.Role == "" || slices.Contains(roles, d.Role)
}

// AllowsFormat reports whether the dataset may be exported as format, a name in any letter
// case (as format.ParseFormat reads it).
func (d *Dataset) AllowsFormat(name string) bool {
	f, err := format.ParseFormat(name)
	return err == nil && slices.Contains(d.Formats, string(f))
}

// formatList is every format's name, for messages: "csv, jsonl, parquet, xlsx".
func formatList() string {
	names := make([]string, len(format.Formats))
	for i, f := range format.Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// FieldError is what is wrong with one parameter.
type FieldError struct {
	Param   string `json:"param"`
	Message string `json:"message"`
}

// ValidationError lists every problem with the parameters of a request.
type ValidationError struct {
	Dataset string
	Fields  []FieldError
}

func (e *ValidationError) Error() string { return "export: " + e.UserMessage() }

// UserMessage says what is wrong in a sentence for the user, e.g.
// `The parameters of "orders" are not valid: "from" must be a date like 2026-01-31.`
func (e *ValidationError) UserMessage() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = fmt.Sprintf("%q %s", f.Param, f.Message)
	}
	return fmt.Sprintf("The parameters of %q are not valid: %s.", e.Dataset, strings.Join(parts, "; "))
}

// Bind checks raw parameter values (JSON values, or strings from the
// command line) against the dataset's parameters and returns the statement
// to run. Unknown, missing and mistyped parameters are all reported in one
// *ValidationError.
func (d *Dataset) Bind(raw map[string]any) (data.Statement, error) {
	verr := &ValidationError{Dataset: d.Name}
	values := map[string]any{}
	for _, p := range d.Params {
		v, given := raw[p.Name]
		switch {
		case !given || v == nil:
			if p.Required {
				verr.Fields = append(verr.Fields, FieldError{p.Name, "is required"})
				continue
			}
			values[p.Name] = p.def
		default:
			parsed, err := p.parse(v)
			if err != nil {
				verr.Fields = append(verr.Fields, FieldError{p.Name, err.Error()})
				continue
			}
			values[p.Name] = parsed
		}
	}
	for _, p := range d.Params {
		if p.After == "" || values[p.Name] == nil || values[p.After] == nil {
			continue
		}
		if !greater(values[p.Name], values[p.After]) {
			verr.Fields = append(verr.Fields, FieldError{p.Name, fmt.Sprintf("must be after %q (%s)", p.After, p.formatValue(values[p.After]))})
		}
	}
	var unknown []string
	for name := range raw {
		if !slices.ContainsFunc(d.Params, func(p *Param) bool { return p.Name == name }) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		verr.Fields = append(verr.Fields, FieldError{name, "is not a parameter of this dataset"})
	}
	if len(verr.Fields) > 0 {
		return data.Statement{}, verr
	}
	st := data.Statement{Parts: d.parts, Args: make([]data.Arg, len(d.refs))}
	for i, p := range d.refs {
		typ := p.Type
		if typ == data.TypeEnum {
			typ = data.TypeString
		}
		st.Args[i] = data.Arg{Name: p.Name, Type: typ, Value: values[p.Name]}
	}
	return st, nil
}
