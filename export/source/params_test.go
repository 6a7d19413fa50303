package source_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/source"
	"github.com/heraldhq/herald/export/source/sourcetest"
)

// hostile strings must be compared as values, never read as SQL.
var hostile = []string{
	`'); DROP TABLE p; --`,
	`O'Brien`,
	`"double" quotes`,
	`back\slash\`,
	`\'`,
	`$1`,
	`?`,
	`%_`,
	"uni 世界 🎉 é",
	"new\nline\r\n",
	"",
	" lead",
	"tab\t,comma",
	`current_setting('herald.p1')`,
	`') END)::text; SELECT 1; --`,
}

type pRow struct {
	id  int64
	s   string
	n   int64
	f   float64
	b   bool
	d   time.Time
	ts  time.Time
	bin []byte
}

func pRows() []pRow {
	var out []pRow
	for i, s := range hostile {
		out = append(out, pRow{
			id:  int64(i),
			s:   s,
			n:   int64(i) * 1_000_000_007,
			f:   float64(i) + 0.25,
			b:   i%2 == 0,
			d:   time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC),
			ts:  time.Date(2025, 1, 1, i, 30, 15, 0, time.UTC),
			bin: []byte{byte(i), 0, '\'', '\\'},
		})
	}
	return out
}

// createParams makes table p with one row per hostile string.
func createParams(t *testing.T, dialect, url string) []pRow {
	ddl := map[string]string{
		source.Postgres: "CREATE TABLE p (id bigint, s text, n bigint, f double precision, b boolean, d date, ts timestamptz, bin bytea)",
		source.MySQL:    "CREATE TABLE p (id BIGINT, s TEXT, n BIGINT, f DOUBLE, b BOOLEAN, d DATE, ts DATETIME(6), bin BLOB)",
		source.SQLite:   "CREATE TABLE p (id INTEGER, s TEXT, n INTEGER, f REAL, b BOOLEAN, d DATE, ts TIMESTAMP, bin BLOB)",
	}[dialect]
	sourcetest.Exec(t, url, []string{ddl})
	ph := "?, ?, ?, ?, ?, ?, ?, ?"
	if dialect == source.Postgres {
		ph = "$1, $2, $3, $4, $5, $6, $7, $8"
	}
	rows := pRows()
	for _, r := range rows {
		var d, ts any = r.d, r.ts
		if dialect == source.SQLite {
			d, ts = r.d.Format("2006-01-02"), r.ts.Format("2006-01-02T15:04:05Z")
		}
		sourcetest.Exec(t, url, []string{"INSERT INTO p VALUES (" + ph + ")"}, r.id, r.s, r.n, r.f, r.b, d, ts, r.bin)
	}
	return rows
}

func arg(name string, typ data.Type, v any) data.Arg {
	return data.Arg{Name: name, Type: typ, Value: v}
}

// paramCases are statements over p, each matching exactly row r.
func paramCases(r pRow) map[string]data.Statement {
	return map[string]data.Statement{
		"string": stmt("SELECT id FROM p WHERE s = ", arg("s", data.TypeString, r.s), " ORDER BY id"),
		"enum":   stmt("SELECT id FROM p WHERE s = ", arg("e", data.TypeEnum, r.s), " ORDER BY id"),
		"typed": stmt("SELECT id FROM p WHERE n = ", arg("n", data.TypeInt, r.n),
			" AND f = ", arg("f", data.TypeFloat, r.f),
			" AND b = ", arg("b", data.TypeBool, r.b),
			" AND d = ", arg("d", data.TypeDate, r.d),
			" AND ts >= ", arg("from", data.TypeTimestamp, r.ts),
			" AND ts < ", arg("to", data.TypeTimestamp, r.ts.Add(time.Second)),
			" AND bin = ", arg("bin", data.TypeBytes, r.bin),
			" ORDER BY id"),
		// The same argument twice, once NULL-tested.
		"optional": stmt("SELECT id FROM p WHERE (", arg("s", data.TypeString, r.s), " IS NULL OR s = ",
			arg("s", data.TypeString, r.s), ") AND (", arg("n", data.TypeInt, nil), " IS NULL OR n = ",
			arg("n", data.TypeInt, nil), ") ORDER BY id"),
	}
}

func TestQueryParams(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		rows := createParams(t, dialect, url)
		src := open(t, url)
		for _, r := range rows {
			for name, st := range paramCases(r) {
				_, got := query(t, src, st)
				require.Equal(t, [][]any{{r.id}}, got, "%s %q", name, r.s)
			}
		}
		// NULL everywhere matches everything, and the table survived.
		_, got := query(t, src, stmt("SELECT count(*) AS n FROM p WHERE ", arg("s", data.TypeString, nil), " IS NULL"))
		require.Equal(t, [][]any{{int64(len(hostile))}}, got)
	})
}

func TestCopyCSVParams(t *testing.T) {
	t.Parallel()
	url := sourcetest.NewPostgres(t)
	rows := createParams(t, source.Postgres, url)
	src := open(t, url).(source.CSVCopier)
	for _, r := range rows {
		for name, st := range paramCases(r) {
			var buf bytes.Buffer
			n, err := src.CopyCSV(context.Background(), st, &buf, ',', nil)
			require.NoError(t, err)
			require.Equal(t, int64(1), n, "%s %q", name, r.s)
			require.Equal(t, "id\n"+strconv.FormatInt(r.id, 10)+"\n", buf.String(), "%s %q", name, r.s)
		}
	}
}

// TestCopyCSVMatchesQuery reads the same statement both ways.
func TestCopyCSVMatchesQuery(t *testing.T) {
	t.Parallel()
	url := sourcetest.NewPostgres(t)
	createTypes(t, source.Postgres, url)
	createParams(t, source.Postgres, url)
	src := open(t, url)
	for _, st := range []data.Statement{
		sql("SELECT * FROM t ORDER BY id"),
		sql("SELECT * FROM p ORDER BY id"),
		stmt("SELECT * FROM p WHERE d >= ", arg("d", data.TypeDate, date("2025-01-03")), " ORDER BY id"),
	} {
		for _, delim := range []rune{',', ';', '\t', '|'} {
			cols, want := query(t, src, st)
			var buf bytes.Buffer
			var reported []int64
			n, err := src.(source.CSVCopier).CopyCSV(context.Background(), st, &buf, delim, func(n int64) { reported = append(reported, n) })
			require.NoError(t, err)
			require.Equal(t, int64(len(want)), n)
			require.Equal(t, n, reported[len(reported)-1])

			if bytes.Contains([]byte(fmt.Sprint(want)), []byte("\r\n")) {
				require.Contains(t, buf.String(), "\r\n")
			}
			r := csv.NewReader(&buf)
			r.Comma = delim
			recs, err := r.ReadAll()
			require.NoError(t, err)
			require.Len(t, recs, len(want)+1)
			for i, c := range cols {
				require.Equal(t, c.Name, recs[0][i])
			}
			for i, row := range want {
				for j, v := range row {
					want := copyText(v)
					if cols[j].Name == "tn" { // timestamp without time zone: no offset
						want = strings.TrimSuffix(want, "+00")
					}
					// encoding/csv reads CR LF in a quoted field as LF.
					want = strings.ReplaceAll(want, "\r\n", "\n")
					require.Equal(t, want, recs[i+1][j], "row %d column %s", i, cols[j].Name)
				}
			}
		}
	}
}

// copyText is how CopyCSV writes a value Query yields (see its doc).
func copyText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "t"
		}
		return "f"
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02") // a date; the test's timestamps are not at midnight
		}
		return x.Format("2006-01-02 15:04:05.999999") + "+00"
	case []byte:
		return fmt.Sprintf(`\x%x`, x)
	case string:
		return x
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

func TestCopyCSVBadDelimiter(t *testing.T) {
	t.Parallel()
	src := open(t, sourcetest.NewPostgres(t)).(source.CSVCopier)
	for _, d := range []rune{'"', '\'', '\\', '\n', '\r', 'a', '1', '.', 'é', 0} {
		_, err := src.CopyCSV(context.Background(), sql("SELECT 1"), &bytes.Buffer{}, d, nil)
		require.ErrorContains(t, err, "delimiter", "%q", d)
	}
}
