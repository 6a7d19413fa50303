package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/export/data"
)

// postgresSource talks to PostgreSQL at the wire-protocol level (pgconn)
// rather than through pgx's Rows: it picks each result column's format
// itself (binary for the types it decodes, text for every other type, which
// then reads as its text form) and decodes into a reused values slice.
type postgresSource struct {
	pool *pgxpool.Pool
	host string
}

var (
	_ Source    = (*postgresSource)(nil)
	_ CSVCopier = (*postgresSource)(nil)
)

func openPostgres(ctx context.Context, url string) (*postgresSource, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres URL: %v", ErrBadURL, err)
	}
	// On cancel, ask the server to stop the query (pgx's default only
	// closes the socket, and the server would go on computing a sort or an
	// aggregate until it next writes), then give up on the socket after 2 s.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return &postgresSource{pool: pool, host: cfg.ConnConfig.Host}, nil
}

func (s *postgresSource) Dialect() string { return Postgres }

func (s *postgresSource) Close() error {
	s.pool.Close()
	return nil
}

// pgCast is the type each argument is cast to where it is used, so that
// the server never has to guess (and "$1 IS NULL" plans).
var pgCast = [...]string{
	data.TypeString:    "text",
	data.TypeEnum:      "text",
	data.TypeInt:       "bigint",
	data.TypeFloat:     "double precision",
	data.TypeBool:      "boolean",
	data.TypeDate:      "date",
	data.TypeTimestamp: "timestamptz",
	data.TypeBytes:     "bytea",
}

var pgOID = [...]uint32{
	data.TypeString:    pgtype.TextOID,
	data.TypeEnum:      pgtype.TextOID,
	data.TypeInt:       pgtype.Int8OID,
	data.TypeFloat:     pgtype.Float8OID,
	data.TypeBool:      pgtype.BoolOID,
	data.TypeDate:      pgtype.DateOID,
	data.TypeTimestamp: pgtype.TimestamptzOID,
	data.TypeBytes:     pgtype.ByteaOID,
}

func castOf(t data.Type) string {
	if int(t) < len(pgCast) && pgCast[t] != "" {
		return pgCast[t]
	}
	return "text"
}

// pgSQL renders the statement with $n::type placeholders.
func pgSQL(st data.Statement) string {
	return st.SQL(func(i int) string {
		return "$" + strconv.Itoa(i+1) + "::" + castOf(st.Args[i].Type)
	})
}

// pgParams are a statement's arguments in wire form: text for every type
// (the server parses it with the declared OID) but bytes, sent as binary.
type pgParams struct {
	values  [][]byte
	oids    []uint32
	formats []int16
}

func newPGParams(args []data.Arg) (pgParams, error) {
	p := pgParams{
		values:  make([][]byte, len(args)),
		oids:    make([]uint32, len(args)),
		formats: make([]int16, len(args)),
	}
	for i, a := range args {
		if int(a.Type) >= len(pgOID) || pgOID[a.Type] == 0 {
			return p, fmt.Errorf("argument %q: unknown type %s", a.Name, a.Type)
		}
		p.oids[i] = pgOID[a.Type]
		txt, ok, err := argText(a)
		if err != nil {
			return p, err
		}
		if !ok {
			continue // NULL
		}
		if a.Type == data.TypeBytes {
			p.formats[i] = pgtype.BinaryFormatCode
			p.values[i] = a.Value.([]byte)
			continue
		}
		p.values[i] = []byte(txt)
	}
	return p, nil
}

// Query prepares the statement as the connection's unnamed statement to
// learn its columns, then runs it asking for each column in the format its
// decoder reads. Two round trips; an export makes one query.
func (s *postgresSource) Query(ctx context.Context, st data.Statement) (data.Rows, error) {
	params, err := newPGParams(st.Args)
	if err != nil {
		return nil, fmt.Errorf("query postgres: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("query postgres: acquire connection: %w", err)
	}
	// Its own context, so that closing the rows early can stop the query.
	qctx, cancel := context.WithCancel(ctx)
	pc := conn.Conn().PgConn()
	sd, err := pc.Prepare(qctx, "", pgSQL(st), params.oids)
	if err != nil {
		cancel()
		conn.Release()
		return nil, fmt.Errorf("query postgres: prepare: %w", ctxError(ctx, err))
	}
	r := &pgRows{
		ctx:    ctx,
		conn:   conn,
		cancel: cancel,
		cols:   make([]data.Column, len(sd.Fields)),
		dec:    make([]pgDecoder, len(sd.Fields)),
		vals:   make([]any, len(sd.Fields)),
	}
	formats := make([]int16, len(sd.Fields))
	for i, f := range sd.Fields {
		t, format, dec := pgColumn(f.DataTypeOID)
		r.cols[i] = data.Column{Name: f.Name, Type: t}
		r.dec[i] = dec
		formats[i] = format
	}
	r.rr = pc.ExecPrepared(qctx, "", params.values, params.formats, formats)
	return r, nil
}

// pgRows reads a ResultReader. Values are decoded into vals, reused for
// every row; bytea values point into the connection's read buffer, valid
// until the next Next as data.Rows allows.
type pgRows struct {
	ctx    context.Context // the caller's
	conn   *pgxpool.Conn
	cancel context.CancelFunc
	rr     *pgconn.ResultReader
	cols   []data.Column
	dec    []pgDecoder
	vals   []any
	err    error
	done   bool
	closed bool
	clean  bool // the query ran to its end: the connection can be reused
}

var _ data.Rows = (*pgRows)(nil)

func (r *pgRows) Columns() []data.Column { return r.cols }

func (r *pgRows) Next() bool {
	if r.done {
		return false
	}
	if !r.rr.NextRow() {
		r.done = true
		if _, err := r.rr.Close(); err != nil {
			r.err = fmt.Errorf("read rows: %w", ctxError(r.ctx, err))
		} else {
			r.clean = true
		}
		return false
	}
	raw := r.rr.Values()
	for i, b := range raw {
		if b == nil {
			r.vals[i] = nil
			continue
		}
		v, err := r.dec[i](b)
		if err != nil {
			r.err = fmt.Errorf("read rows: column %q: %w", r.cols[i].Name, err)
			r.stop()
			return false
		}
		r.vals[i] = v
	}
	return true
}

// stop ends a query before its end: cancelling its context makes pgconn send
// the server a cancel request and stop reading.
func (r *pgRows) stop() {
	r.done = true
	r.cancel()
	_, _ = r.rr.Close() // the query was abandoned on purpose; its error says only that
}

func (r *pgRows) Values() []any { return r.vals }

func (r *pgRows) Err() error { return r.err }

func (r *pgRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if !r.done {
		r.stop()
	}
	r.cancel()
	if r.clean {
		r.conn.Release()
		return nil
	}
	// A cancel request is served asynchronously and could hit the next
	// query run on this connection, so a connection whose query was stopped
	// or failed is closed, not returned to the pool.
	c := r.conn.Hijack()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx) // the connection is being discarded; nothing waits on it
	return nil
}

// Estimate returns the planner's top-level row estimate from EXPLAIN
// (FORMAT JSON), planned with the statement's arguments bound.
func (s *postgresSource) Estimate(ctx context.Context, st data.Statement) (int64, error) {
	params, err := newPGParams(st.Args)
	if err != nil {
		return 0, fmt.Errorf("estimate postgres: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("estimate postgres: acquire connection: %w", err)
	}
	defer conn.Release()
	res := conn.Conn().PgConn().ExecParams(ctx, "EXPLAIN (FORMAT JSON) "+pgSQL(st),
		params.values, params.oids, params.formats, nil).Read()
	if res.Err != nil {
		return 0, fmt.Errorf("estimate postgres: %w", res.Err)
	}
	if len(res.Rows) == 0 || len(res.Rows[0]) == 0 {
		return 0, fmt.Errorf("estimate postgres: EXPLAIN returned no plan")
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(res.Rows[0][0], &plan); err != nil || len(plan) == 0 {
		return 0, fmt.Errorf("estimate postgres: read EXPLAIN output: %v", err)
	}
	return int64(plan[0].Plan.Rows), nil
}

// ctxError makes err, when ctx is done, an error that is the context's
// error too: the server may answer a cancel request with its own error
// ("canceling statement due to user request") before pgx notices the
// context, and callers test for context.Canceled.
func ctxError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
