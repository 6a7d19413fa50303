package source_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/source"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

// forEachDialect runs fn as a parallel subtest on a fresh database of each
// dialect.
func forEachDialect(t *testing.T, fn func(t *testing.T, dialect, url string)) {
	t.Helper()
	for _, d := range sourcetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d, sourcetest.New(t, d))
		})
	}
}

// open opens a source closed at the end of the test.
func open(t testing.TB, url string) source.Source {
	t.Helper()
	src, err := source.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, src.Close()) })
	return src
}

// stmt builds a statement from SQL pieces and arguments, alternating:
// stmt("SELECT ", arg, " + 1").
func stmt(parts ...any) data.Statement {
	var st data.Statement
	cur := ""
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			cur += v
		case data.Arg:
			st.Parts = append(st.Parts, cur)
			st.Args = append(st.Args, v)
			cur = ""
		}
	}
	st.Parts = append(st.Parts, cur)
	return st
}

func sql(s string) data.Statement { return stmt(s) }

// collect reads every row, copying bytes, and closes the rows.
func collect(t testing.TB, rows data.Rows) [][]any {
	t.Helper()
	defer func() { require.NoError(t, rows.Close()) }()
	var out [][]any
	for rows.Next() {
		v := rows.Values()
		row := make([]any, len(v))
		for i, x := range v {
			if b, ok := x.([]byte); ok {
				x = append([]byte{}, b...)
			}
			row[i] = x
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

func query(t testing.TB, src source.Source, st data.Statement) ([]data.Column, [][]any) {
	t.Helper()
	rows, err := src.Query(context.Background(), st)
	require.NoError(t, err)
	cols := rows.Columns()
	return cols, collect(t, rows)
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func date(s string) time.Time { return ts(s + "T00:00:00Z") }

const unicodeText = `héllo "q", 世界 🎉 it's`

// typeCase is one column of the types table: its DDL type, the literal
// inserted, and what Query must yield.
type typeCase struct {
	name, ddl, literal string
	typ                data.Type
	want               any
}

var typeCases = map[string][]typeCase{
	source.Postgres: {
		{"i8", "bigint", "9007199254740993", data.TypeInt, int64(9007199254740993)},
		{"i4", "int", "-2147483648", data.TypeInt, int64(-2147483648)},
		{"i2", "smallint", "-7", data.TypeInt, int64(-7)},
		{"f8", "double precision", "1.5", data.TypeFloat, 1.5},
		{"f4", "real", "1.1", data.TypeFloat, 1.1},
		{"n", "numeric(12,2)", "12345.67", data.TypeFloat, 12345.67},
		{"b", "boolean", "true", data.TypeBool, true},
		{"s", "text", "'héllo \"q\", 世界 🎉 it''s'", data.TypeString, unicodeText},
		{"v", "varchar(20)", "''", data.TypeString, ""},
		{"c", "char(3)", "'ab'", data.TypeString, "ab "},
		{"u", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", data.TypeString, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"j", "jsonb", `'{"a":[1,2]}'`, data.TypeString, `{"a": [1, 2]}`},
		{"d", "date", "'2025-03-04'", data.TypeDate, date("2025-03-04")},
		{"old", "date", "'1899-12-31'", data.TypeDate, date("1899-12-31")},
		{"tz", "timestamptz", "'2025-03-04 05:06:07.123456+02'", data.TypeTimestamp, ts("2025-03-04T03:06:07.123456Z")},
		{"tn", "timestamp", "'1969-07-20 20:17:40'", data.TypeTimestamp, ts("1969-07-20T20:17:40Z")},
		{"bin", "bytea", `'\x00ff10'`, data.TypeBytes, []byte{0, 0xff, 0x10}},
		{"iv", "interval", "'1 day 02:00:00'", data.TypeString, "1 day 02:00:00"},
		{"arr", "int[]", "'{1,2}'", data.TypeString, "{1,2}"},
	},
	source.MySQL: {
		{"i8", "BIGINT", "9007199254740993", data.TypeInt, int64(9007199254740993)},
		{"i4", "INT", "-2147483648", data.TypeInt, int64(-2147483648)},
		{"u8", "BIGINT UNSIGNED", "42", data.TypeInt, int64(42)},
		{"f8", "DOUBLE", "1.5", data.TypeFloat, 1.5},
		{"f4", "FLOAT", "1.1", data.TypeFloat, 1.1},
		{"n", "DECIMAL(12,2)", "12345.67", data.TypeFloat, 12345.67},
		{"b", "BOOLEAN", "TRUE", data.TypeInt, int64(1)}, // TINYINT(1): see mysqlType
		{"s", "TEXT", "'héllo \"q\", 世界 🎉 it''s'", data.TypeString, unicodeText},
		{"v", "VARCHAR(20)", "''", data.TypeString, ""},
		{"c", "CHAR(3)", "'ab'", data.TypeString, "ab"},
		{"e", "ENUM('x','y')", "'y'", data.TypeString, "y"},
		{"tm", "TIME", "'10:11:12'", data.TypeString, "10:11:12"},
		{"d", "DATE", "'2025-03-04'", data.TypeDate, date("2025-03-04")},
		{"dt", "DATETIME(6)", "'2025-03-04 05:06:07.123456'", data.TypeTimestamp, ts("2025-03-04T05:06:07.123456Z")},
		{"tst", "TIMESTAMP(6) NULL", "'2025-03-04 05:06:07.5'", data.TypeTimestamp, ts("2025-03-04T05:06:07.5Z")},
		{"bin", "BLOB", "X'00FF10'", data.TypeBytes, []byte{0, 0xff, 0x10}},
		{"vb", "VARBINARY(8)", "X'01'", data.TypeBytes, []byte{1}},
	},
	source.SQLite: {
		{"i8", "BIGINT", "9007199254740993", data.TypeInt, int64(9007199254740993)},
		{"f8", "REAL", "1.5", data.TypeFloat, 1.5},
		{"n", "NUMERIC(12,2)", "12345.67", data.TypeFloat, 12345.67},
		{"b", "BOOLEAN", "1", data.TypeBool, true},
		{"s", "TEXT", "'héllo \"q\", 世界 🎉 it''s'", data.TypeString, unicodeText},
		{"v", "VARCHAR(20)", "''", data.TypeString, ""},
		{"d", "DATE", "'2025-03-04'", data.TypeDate, date("2025-03-04")},
		{"ts", "TIMESTAMP", "'2025-03-04T05:06:07Z'", data.TypeTimestamp, ts("2025-03-04T05:06:07Z")},
		{"dt", "DATETIME", "'2025-03-04 05:06:07.5'", data.TypeTimestamp, ts("2025-03-04T05:06:07.5Z")},
		{"tsi", "TIMESTAMP", "1741064767", data.TypeTimestamp, ts("2025-03-04T05:06:07Z")},
		{"bin", "BLOB", "X'00FF10'", data.TypeBytes, []byte{0, 0xff, 0x10}},
		{"odd", "FOO", "'whatever'", data.TypeString, "whatever"},
	},
}

// createTypes makes table t with one row of values (id 1) and one of NULLs
// (id 2).
func createTypes(t *testing.T, dialect, url string) []typeCase {
	cases := typeCases[dialect]
	ddl, cols, lits := "CREATE TABLE t (id INT PRIMARY KEY", "id", "1"
	for _, c := range cases {
		ddl += ", " + c.name + " " + c.ddl
		cols += ", " + c.name
		lits += ", " + c.literal
	}
	sourcetest.Exec(t, url, []string{
		ddl + ")",
		"INSERT INTO t (" + cols + ") VALUES (" + lits + ")",
		"INSERT INTO t (id) VALUES (2)",
	})
	return cases
}

func TestQueryTypes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		cases := createTypes(t, dialect, url)
		src := open(t, url)
		require.Equal(t, dialect, src.Dialect())
		check := func(t *testing.T, st data.Statement) {
			cols, rows := query(t, src, st)
			require.Len(t, cols, len(cases)+1)
			require.Equal(t, data.Column{Name: "id", Type: data.TypeInt}, cols[0])
			require.Len(t, rows, 2)
			for i, c := range cases {
				require.Equal(t, data.Column{Name: c.name, Type: c.typ}, cols[i+1], c.name)
				require.Equal(t, c.want, rows[0][i+1], c.name)
				require.Nil(t, rows[1][i+1], c.name)
			}
		}
		// MySQL answers a statement without arguments in its text protocol
		// and one with arguments in the binary protocol: both are read.
		check(t, sql("SELECT * FROM t ORDER BY id"))
		check(t, stmt("SELECT * FROM t WHERE id >= ", data.Arg{Name: "min", Type: data.TypeInt, Value: int64(0)}, " ORDER BY id"))
	})
}

func TestQuerySQLiteExpressions(t *testing.T) {
	t.Parallel()
	url := sourcetest.NewSQLite(t)
	createTypes(t, source.SQLite, url)
	src := open(t, url)
	cols, rows := query(t, src, sql(`SELECT i8 + 1 AS e_int, f8 * 2 AS e_float, 'x' || s AS e_text,
		x'0102' AS e_blob, NULL AS e_null, ts AS e_ts, (SELECT max(d) FROM t) AS e_max FROM t ORDER BY id`))
	require.Equal(t, []data.Column{
		{Name: "e_int", Type: data.TypeInt},
		{Name: "e_float", Type: data.TypeFloat},
		{Name: "e_text", Type: data.TypeString},
		{Name: "e_blob", Type: data.TypeBytes},
		{Name: "e_null", Type: data.TypeString},  // NULL in the first row
		{Name: "e_ts", Type: data.TypeTimestamp}, // a column reference keeps its declared type
		{Name: "e_max", Type: data.TypeString},   // an aggregate has none: the text as stored
	}, cols)
	require.Equal(t, []any{int64(9007199254740994), 3.0, "x" + unicodeText, []byte{1, 2}, nil, ts("2025-03-04T05:06:07Z"), "2025-03-04"}, rows[0])
	require.Equal(t, []any{nil, nil, nil, []byte{1, 2}, nil, nil, "2025-03-04"}, rows[1])

	// A column typed from its first row converts what follows.
	cols, rows = query(t, src, sql("SELECT NULL AS a UNION ALL SELECT 5 UNION ALL SELECT 'x'"))
	require.Equal(t, []data.Column{{Name: "a", Type: data.TypeString}}, cols)
	require.Equal(t, [][]any{{nil}, {"5"}, {"x"}}, rows)

	// No row at all.
	cols, rows = query(t, src, sql("SELECT 1 AS a WHERE 0"))
	require.Equal(t, []data.Column{{Name: "a", Type: data.TypeString}}, cols)
	require.Empty(t, rows)
}

func TestQueryBadStatement(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		src := open(t, url)
		rows, err := src.Query(context.Background(), sql("SELECT nope FROM missing_table"))
		if err == nil { // PostgreSQL reports at the first Next
			require.False(t, rows.Next())
			err = rows.Err()
			require.NoError(t, rows.Close())
		}
		require.ErrorContains(t, err, "missing_table")

		_, err = src.Query(context.Background(), stmt("SELECT ", data.Arg{Name: "x", Type: data.TypeInt, Value: "not an int"}))
		require.ErrorContains(t, err, `argument "x": string is not a int value`)
		_, err = src.Estimate(context.Background(), stmt("SELECT ", data.Arg{Name: "x", Type: data.TypeDate, Value: 3}))
		if dialect != source.SQLite {
			require.ErrorContains(t, err, `argument "x"`)
		}
	})
}
