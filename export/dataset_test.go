package export

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/data"
)

func TestScanParamsSkipsQuotesCommentsAndCasts(t *testing.T) {
	t.Parallel()
	sql := `SELECT ':no', "col:no", ` + "`x:no`" + `, a::text, $$ :no $$, $tag$ :no $tag$, $1 -- :no
	/* :no */ FROM t WHERE a = :yes AND b = 'it''s :no' AND c = :yes2::int`
	refs, err := scanParams(sql)
	require.NoError(t, err)
	var names []string
	for _, r := range refs {
		names = append(names, r.name)
		require.Equal(t, ":"+r.name, sql[r.start:r.end])
	}
	require.Equal(t, []string{"yes", "yes2"}, names)

	for _, bad := range []string{"SELECT 'open", `SELECT "open`, "SELECT /* open"} {
		_, err := scanParams(bad)
		require.Error(t, err, bad)
	}
}

func TestBuiltinOrders(t *testing.T) {
	t.Parallel()
	r := Builtin()
	d, ok := r.Get("orders", nil)
	require.True(t, ok)
	require.Equal(t, []string{"csv", "jsonl", "parquet", "xlsx"}, d.Formats)
	require.Len(t, r.List(nil), 1)

	st, err := d.Bind(map[string]any{"from": "2026-01-01", "status": "paid", "minAmount": json.Number("10.5")})
	require.NoError(t, err)
	require.Len(t, st.Parts, len(st.Args)+1)
	require.Len(t, st.Args, 8, "each of four parameters appears twice")
	require.Equal(t, data.Arg{Name: "from", Type: data.TypeDate, Value: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, st.Args[0])
	require.Equal(t, data.Arg{Name: "to", Type: data.TypeDate, Value: nil}, st.Args[2], "a parameter left out is NULL")
	require.Equal(t, data.Arg{Name: "status", Type: data.TypeString, Value: "paid"}, st.Args[4], "an enum binds as a string")
	require.Equal(t, 10.5, st.Args[6].Value)
	rendered := st.SQL(func(i int) string { return "?" })
	require.NotContains(t, rendered, ":from")
	require.NotContains(t, rendered, "paid", "values are never in the text")
	require.Equal(t, 8, strings.Count(rendered, "?"))
}

func TestBindReportsEveryProblem(t *testing.T) {
	t.Parallel()
	r, err := Parse([]byte(`
datasets:
  - name: things
    role: analyst
    params:
      - {name: n, type: int, required: true, min: 1, max: 10}
      - {name: f, type: float}
      - {name: b, type: bool}
      - {name: d, type: date}
      - {name: ts, type: timestamp, default: "2026-01-01T00:00:00Z"}
      - {name: e, type: enum, values: [a, b]}
      - {name: s, type: string}
    sql: SELECT * FROM t WHERE n = :n AND f = :f AND b = :b AND d = :d AND ts = :ts AND e = :e AND s = :s
`))
	require.NoError(t, err)
	_, ok := r.Get("things", nil)
	require.False(t, ok, "a dataset that needs a role is hidden from others")
	require.Empty(t, r.List([]string{"viewer"}))
	d, ok := r.Get("things", []string{"analyst"})
	require.True(t, ok)

	_, err = d.Bind(map[string]any{"f": "x", "b": "maybe", "d": "2026-13-01", "e": "c", "s": 5.0, "extra": 1, "ts": "yesterday"})
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	got := map[string]string{}
	for _, f := range verr.Fields {
		got[f.Param] = f.Message
	}
	require.Equal(t, map[string]string{
		"n": "is required", "f": "must be a number", "b": "must be true or false",
		"d": "must be a date like 2026-01-31", "e": "must be one of a, b", "s": "must be a string",
		"extra": "is not a parameter of this dataset", "ts": "must be a timestamp like 2026-01-31T15:04:05Z (or a date)",
	}, got)

	for _, tc := range []struct {
		n   any
		msg string
	}{{0.0, "must be at least 1"}, {11.0, "must be at most 10"}, {1.5, "must be an integer"}, {"7x", "must be an integer"}} {
		_, err = d.Bind(map[string]any{"n": tc.n})
		require.ErrorAs(t, err, &verr)
		require.Equal(t, []FieldError{{"n", tc.msg}}, verr.Fields)
	}

	st, err := d.Bind(map[string]any{"n": "7", "b": "true", "s": "x'); DROP TABLE t; --"})
	require.NoError(t, err)
	byName := map[string]any{}
	for _, a := range st.Args {
		byName[a.Name] = a.Value
	}
	require.Equal(t, int64(7), byName["n"])
	require.Equal(t, true, byName["b"])
	require.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), byName["ts"], "the default applies")
	require.Nil(t, byName["d"])
	require.Equal(t, "x'); DROP TABLE t; --", byName["s"])
}

// Format names are read in any letter case wherever they come from: a request (API or CLI), and
// the datasets file; what is stored and listed is the lower-case name.
func TestFormatNamesInAnyLetterCase(t *testing.T) {
	t.Parallel()
	reg, err := Parse([]byte(`datasets: [{name: a, formats: [CSV, Parquet, csv], sql: "SELECT 1 AS one"}]`))
	require.NoError(t, err)
	d, ok := reg.Get("a", nil)
	require.True(t, ok)
	require.Equal(t, []string{"csv", "parquet"}, d.Formats)
	require.True(t, d.AllowsFormat("PARQUET"))
	require.True(t, d.AllowsFormat("csv"))
	require.False(t, d.AllowsFormat("jsonl"))

	exp, err := New(Config{Registry: reg, DefaultSourceURL: "sqlite:///nowhere.db"})
	require.NoError(t, err)
	for _, req := range []Request{
		{Dataset: "a", Format: "Csv", Compression: "GZIP"},
		{Dataset: "a", Format: "csv", Compression: "Zst"},
		{Dataset: "a", Format: "PARQUET", Compression: "None"},
	} {
		plan, err := exp.Prepare(req, nil)
		require.NoError(t, err, req)
		require.Equal(t, strings.ToLower(req.Format), string(plan.Format))
	}
	for _, tc := range []struct {
		req Request
		msg string
	}{
		{Request{Dataset: "a", Format: "JSONL"}, `Dataset "a" cannot be exported as jsonl; use one of csv, parquet.`},
		{Request{Dataset: "a", Format: "PDF"}, `Format "PDF" is not supported; use one of csv, parquet.`},
		{Request{Dataset: "a", Format: "CSV", Compression: "RAR"}, `Compression "RAR" is not supported; use gzip, zstd or none.`},
	} {
		_, err := exp.Prepare(tc.req, nil)
		var rerr *RequestError
		require.ErrorAs(t, err, &rerr, tc.req)
		require.Equal(t, "invalid_format", rerr.Code)
		require.Equal(t, tc.msg, rerr.Message)
	}
}

// A range's end must come after its start (the orders' "to" after "from"): a reversed range is
// refused with both values named instead of exporting nothing. Either end alone is fine.
func TestBindRefusesAReversedRange(t *testing.T) {
	t.Parallel()
	d, ok := Builtin().Get("orders", nil)
	require.True(t, ok)
	for _, bad := range []map[string]any{
		{"from": "2026-03-01", "to": "2026-02-01"},
		{"from": "2026-03-01", "to": "2026-03-01"}, // "to" is exclusive: an empty range
	} {
		_, err := d.Bind(bad)
		var verr *ValidationError
		require.ErrorAs(t, err, &verr)
		require.Equal(t, []FieldError{{"to", `must be after "from" (2026-03-01)`}}, verr.Fields)
	}
	for _, good := range []map[string]any{
		{"from": "2026-03-01", "to": "2026-03-02"},
		{"from": "2026-03-01"},
		{"to": "2026-03-01"},
	} {
		_, err := d.Bind(good)
		require.NoError(t, err)
	}
	// Numbers compare too, and a bad start is reported once, not again as a bad range.
	r, err := Parse([]byte(`datasets: [{name: a, params: [{name: lo, type: float}, {name: hi, type: float, after: lo}], sql: "SELECT :lo, :hi"}]`))
	require.NoError(t, err)
	a, _ := r.Get("a", nil)
	_, err = a.Bind(map[string]any{"lo": 5.0, "hi": 2.5})
	require.ErrorContains(t, err, `"hi" must be after "lo" (5)`)
	_, err = a.Bind(map[string]any{"lo": "x", "hi": 2.5})
	require.EqualError(t, err, `export: The parameters of "a" are not valid: "lo" must be a number.`)
}

// A task's title names the filters it was given, so two exports of one dataset tell apart; what a
// user typed is clipped and loses control and bidi-override characters.
func TestTitleNamesTheFilters(t *testing.T) {
	t.Parallel()
	exp, err := New(Config{Registry: Builtin(), DefaultSourceURL: "sqlite:///nowhere.db"})
	require.NoError(t, err)
	for _, tc := range []struct {
		params map[string]any
		want   string
	}{
		{nil, "Export of Orders (CSV, gzip)"},
		{map[string]any{"status": "paid", "from": "2026-01-01", "minAmount": json.Number("100.5")},
			"Export of Orders (CSV, gzip) · Created on or after: 2026-01-01 · Status: paid · Minimum amount: 100.5"},
		{map[string]any{"to": "2026-02-01", "status": nil}, "Export of Orders (CSV, gzip) · Created before: 2026-02-01"},
	} {
		plan, err := exp.Prepare(Request{Dataset: "orders", Format: "csv", Compression: "gzip", Params: tc.params}, nil)
		require.NoError(t, err)
		require.Equal(t, tc.want, plan.Title())
	}

	reg, err := Parse([]byte(`datasets: [{name: a, title: A, params: [{name: q, type: string, title: Search}], sql: "SELECT :q"}]`))
	require.NoError(t, err)
	exp, err = New(Config{Registry: reg, DefaultSourceURL: "sqlite:///nowhere.db"})
	require.NoError(t, err)
	plan, err := exp.Prepare(Request{Dataset: "a", Format: "csv", Params: map[string]any{"q": "ab\u202ecd\x01\u200f\u061c" + strings.Repeat("x", 100)}}, nil)
	require.NoError(t, err)
	require.Equal(t, "Export of A (CSV) · Search: abcd"+strings.Repeat("x", 35)+"…", plan.Title())
	reg, err = Parse([]byte(`datasets: [{name: a, params: [{name: a, type: string}, {name: b, type: string}, {name: c, type: string},
		{name: d, type: string}, {name: e, type: string}], sql: "SELECT :a, :b, :c, :d, :e"}]`))
	require.NoError(t, err)
	exp, err = New(Config{Registry: reg, DefaultSourceURL: "sqlite:///nowhere.db"})
	require.NoError(t, err)
	long := strings.Repeat("é", 50)
	plan, err = exp.Prepare(Request{Dataset: "a", Format: "csv", Params: map[string]any{"a": long, "b": long, "c": long, "d": long, "e": long}}, nil)
	require.NoError(t, err)
	require.Len(t, []rune(plan.Title()), 200, "the whole title is clipped too")
	require.True(t, strings.HasSuffix(plan.Title(), "é…"))
}

func TestParseRejectsBadDatasets(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ yaml, msg string }{
		"unknown param":    {`datasets: [{name: a, sql: "SELECT :x"}]`, "sql uses :x, which is not a parameter"},
		"unused param":     {`datasets: [{name: a, params: [{name: x, type: int}], sql: "SELECT 1"}]`, `parameter "x" is not used`},
		"bad type":         {`datasets: [{name: a, params: [{name: x, type: money}], sql: "SELECT :x"}]`, "unknown type"},
		"enum no values":   {`datasets: [{name: a, params: [{name: x, type: enum}], sql: "SELECT :x"}]`, "an enum needs values"},
		"bad default":      {`datasets: [{name: a, params: [{name: x, type: int, default: "z"}], sql: "SELECT :x"}]`, "default: must be an integer"},
		"bad format":       {`datasets: [{name: a, formats: [pdf], sql: "SELECT 1"}]`, `format "pdf"`},
		"bad name":         {`datasets: [{name: "a b", sql: "SELECT 1"}]`, "name must be"},
		"unknown source":   {`datasets: [{name: a, source: dw, sql: "SELECT 1"}]`, `source "dw"`},
		"empty sql":        {`datasets: [{name: a}]`, "sql is empty"},
		"duplicate":        {`datasets: [{name: a, sql: "SELECT 1"}, {name: a, sql: "SELECT 2"}]`, "defined twice"},
		"unknown key":      {`datasets: [{name: a, sql: "SELECT 1", query: x}]`, "field query not found"},
		"unterminated sql": {`datasets: [{name: a, sql: "SELECT 'x"}]`, "unterminated"},
		"after unknown":    {`datasets: [{name: a, params: [{name: x, type: int, after: y}], sql: "SELECT :x"}]`, `after must name another parameter of type int`},
		"after other type": {`datasets: [{name: a, params: [{name: x, type: int, after: y}, {name: y, type: float}], sql: "SELECT :x, :y"}]`, `after must name another parameter`},
		"after itself":     {`datasets: [{name: a, params: [{name: x, type: int, after: x}], sql: "SELECT :x"}]`, `after must name another parameter`},
		"after unordered":  {`datasets: [{name: a, params: [{name: x, type: string, after: y}, {name: y, type: string}], sql: "SELECT :x, :y"}]`, "only int, float, date and timestamp parameters have after"},
	} {
		_, err := Parse([]byte(tc.yaml))
		require.ErrorContains(t, err, tc.msg, name)
	}
}

// FuzzBind feeds request parameters (network input) to the demo dataset: it
// must never panic, and a value it accepts is of its parameter's Go type.
func FuzzBind(f *testing.F) {
	f.Add(`{"from":"2026-01-01","status":"paid","minAmount":1}`)
	f.Add(`{"to":"x","minAmount":"NaN"}`)
	f.Add(`{"minAmount":1e400}`)
	d, _ := Builtin().Get("orders", nil)
	f.Fuzz(func(t *testing.T, in string) {
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var raw map[string]any
		if dec.Decode(&raw) != nil {
			return
		}
		st, err := d.Bind(raw)
		if err != nil {
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			return
		}
		for _, a := range st.Args {
			switch a.Value.(type) {
			case nil, string, float64, time.Time:
			default:
				t.Fatalf("%s bound as %T", a.Name, a.Value)
			}
		}
	})
}
