package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/heraldhq/herald/export/data"
)

// copyReportEvery is how many rows pass between two onRows calls.
const copyReportEvery = 8192

// CopyCSV runs COPY (query) TO STDOUT WITH (FORMAT csv, HEADER).
//
// COPY takes no bind parameters, and values must never be spliced into SQL,
// so the arguments travel as settings: in a transaction, one
// "SELECT set_config('herald.pN', $1, true), …" binds each value as text
// (and a herald.pN_null flag), and placeholder N in the query reads
// current_setting('herald.pN') cast to the argument's type. The settings are
// local to the transaction, which is committed at the end as Query's
// autocommit would.
//
// The transaction also sets TimeZone to UTC, DateStyle to ISO and
// bytea_output to hex, so values come out as: timestamps
// "2025-01-02 03:04:05+00" (fraction when non-zero; no "+00" for a
// timestamp without time zone), dates "2025-01-02",
// booleans t and f, floats in their shortest exact form, bytea \x and hex.
// The empty string is written "" and NULL as an empty unquoted field.
func (s *postgresSource) CopyCSV(ctx context.Context, st data.Statement, w io.Writer, delimiter rune, onRows func(n int64)) (int64, error) {
	if err := checkDelimiter(delimiter); err != nil {
		return 0, fmt.Errorf("copy postgres: %w", err)
	}
	settingSQL, settingVals, err := copySettings(st.Args)
	if err != nil {
		return 0, fmt.Errorf("copy postgres: %w", err)
	}
	copySQL := fmt.Sprintf("COPY (%s) TO STDOUT WITH (FORMAT csv, HEADER true, DELIMITER '%c')",
		st.SQL(copyPlaceholder(st.Args)), delimiter)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("copy postgres: acquire connection: %w", err)
	}
	clean := false
	defer func() {
		if clean {
			conn.Release()
			return
		}
		// Failed or cancelled mid-transaction: see pgRows.Close.
		c := conn.Hijack()
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(cctx) // the connection is being discarded; nothing waits on it
	}()
	pc := conn.Conn().PgConn()

	if err := execSimple(ctx, pc, "BEGIN"); err != nil {
		return 0, fmt.Errorf("copy postgres: begin: %w", err)
	}
	oids := make([]uint32, len(settingVals))
	for i := range oids {
		oids[i] = pgtype.TextOID
	}
	if err := pc.ExecParams(ctx, settingSQL, settingVals, oids, nil, nil).Read().Err; err != nil {
		return 0, fmt.Errorf("copy postgres: bind arguments: %w", err)
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	cw := &csvCounter{w: bw, onRows: onRows}
	tag, err := pc.CopyTo(ctx, cw, copySQL)
	if err != nil {
		return cw.rows(), fmt.Errorf("copy postgres: %w", ctxError(ctx, err))
	}
	if err := bw.Flush(); err != nil {
		return cw.rows(), fmt.Errorf("copy postgres: write: %w", err)
	}
	if err := execSimple(ctx, pc, "COMMIT"); err != nil {
		return cw.rows(), fmt.Errorf("copy postgres: commit: %w", err)
	}
	clean = true
	n := tag.RowsAffected() // the server's count is the authority
	if onRows != nil {
		onRows(n)
	}
	return n, nil
}

func execSimple(ctx context.Context, pc *pgconn.PgConn, sql string) error {
	_, err := pc.Exec(ctx, sql).ReadAll()
	return err
}

// checkDelimiter allows the delimiters PostgreSQL accepts in CSV that can
// also be written inside a SQL string literal unescaped.
func checkDelimiter(d rune) error {
	alnum := '0' <= d && d <= '9' || 'a' <= d && d <= 'z' || 'A' <= d && d <= 'Z'
	punct := d > ' ' && d < 0x7f && !alnum && !strings.ContainsRune("\"'\\.", d)
	if punct || d == ' ' || d == '\t' {
		return nil
	}
	return fmt.Errorf("delimiter %q: want one ASCII punctuation character, space or tab (not a quote, backslash or dot)", d)
}

// copySettings builds the statement that binds the arguments as
// transaction-local settings, with the session settings that fix the text
// forms of values.
func copySettings(args []data.Arg) (string, [][]byte, error) {
	var b strings.Builder
	b.WriteString("SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)," +
		" set_config('bytea_output', 'hex', true), set_config('extra_float_digits', '1', true)")
	vals := make([][]byte, 0, 2*len(args))
	for i, a := range args {
		if int(a.Type) >= len(pgOID) || pgOID[a.Type] == 0 {
			return "", nil, fmt.Errorf("argument %q: unknown type %s", a.Name, a.Type)
		}
		txt, ok, err := argText(a)
		if err != nil {
			return "", nil, err
		}
		if a.Type == data.TypeBytes {
			txt = hex.EncodeToString([]byte(txt))
		}
		isNull := "f"
		if !ok {
			isNull = "t"
		}
		name := "herald.p" + strconv.Itoa(i+1)
		fmt.Fprintf(&b, ", set_config('%s', $%d, true), set_config('%s_null', $%d, true)",
			name, len(vals)+1, name, len(vals)+2)
		vals = append(vals, []byte(txt), []byte(isNull))
	}
	return b.String(), vals, nil
}

// copyPlaceholder reads argument i back from its setting. current_setting
// is stable, so the planner can still use it as an index condition.
func copyPlaceholder(args []data.Arg) func(i int) string {
	return func(i int) string {
		name := "herald.p" + strconv.Itoa(i+1)
		v := "(CASE WHEN current_setting('" + name + "_null') = 't' THEN NULL ELSE current_setting('" + name + "') END)"
		if args[i].Type == data.TypeBytes {
			return "decode(" + v + ", 'hex')"
		}
		return v + "::" + castOf(args[i].Type)
	}
}

// csvCounter counts CSV records as they pass: line feeds outside quoted
// fields, less the header line. PostgreSQL sends one row per write, and most
// rows hold no quote, so the common case is one IndexByte and one Count.
type csvCounter struct {
	w        io.Writer
	onRows   func(int64)
	lines    int64
	reported int64
	inQuote  bool
}

func (c *csvCounter) Write(p []byte) (int, error) {
	if !c.inQuote && bytes.IndexByte(p, '"') < 0 {
		c.lines += int64(bytes.Count(p, []byte{'\n'}))
	} else {
		for _, ch := range p {
			switch {
			case ch == '"':
				c.inQuote = !c.inQuote // "" inside a field flips twice
			case ch == '\n' && !c.inQuote:
				c.lines++
			}
		}
	}
	if c.onRows != nil && c.lines-c.reported >= copyReportEvery {
		c.reported = c.lines
		c.onRows(c.rows())
	}
	return c.w.Write(p)
}

func (c *csvCounter) rows() int64 {
	if c.lines == 0 {
		return 0
	}
	return c.lines - 1
}
