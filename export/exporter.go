package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/export/data"
	"github.com/heraldhq/herald/export/format"
	"github.com/heraldhq/herald/export/source"
)

// DefaultProgressInterval is Config.ProgressInterval's default.
const DefaultProgressInterval = 250 * time.Millisecond

// Config configures an Exporter.
type Config struct {
	// Registry holds the datasets. Default: Builtin().
	Registry *Registry
	// DefaultSourceURL is the database of datasets that name no source:
	// Herald's own (see export/source.ParseURL). Required.
	DefaultSourceURL string
	// ProgressInterval is how often the pipeline reports rows and bytes.
	// Default 250 ms (the task store throttles what it stores and pushes).
	ProgressInterval time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills in the defaults.
func (c Config) WithDefaults() Config {
	if c.Registry == nil {
		c.Registry = Builtin()
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.DefaultSourceURL == "" {
		errs = append(errs, errors.New("export: the default source URL is required"))
	}
	for name, u := range c.Registry.Sources {
		if _, err := source.ParseURL(u); err != nil {
			errs = append(errs, fmt.Errorf("export: source %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Exporter runs exports: dataset → source rows → encoder → compressor →
// writer. It opens each source once, on first use, and keeps it. It is safe
// for concurrent use.
type Exporter struct {
	cfg Config

	mu      sync.Mutex
	sources map[string]source.Source
}

// New checks cfg and returns an Exporter; sources are opened on first use.
func New(cfg Config) (*Exporter, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Exporter{cfg: cfg, sources: map[string]source.Source{}}, nil
}

// Registry returns the exporter's datasets.
func (e *Exporter) Registry() *Registry { return e.cfg.Registry }

// Close closes the sources.
func (e *Exporter) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for name, s := range e.sources {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close source %q: %w", name, err))
		}
	}
	e.sources = map[string]source.Source{}
	return errors.Join(errs...)
}

func (e *Exporter) source(ctx context.Context, name string) (source.Source, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.sources[name]; ok {
		return s, nil
	}
	url := e.cfg.DefaultSourceURL
	if name != DefaultSource {
		url = e.cfg.Registry.Sources[name]
	}
	s, err := source.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open source %q: %w", name, err)
	}
	e.sources[name] = s
	return s, nil
}

// Progress is how far a running export has come.
type Progress struct {
	Rows      int64 // written so far
	Estimate  int64 // the source's estimate of the total, 0 if unknown
	Bytes     int64 // of output, after compression
	StartedAt time.Time
}

// Stats is what a finished export wrote.
type Stats struct {
	Rows  int64
	Bytes int64
}

// Run runs plan and writes the file to w, calling progress (if not nil)
// about every ProgressInterval. It does not close w. A failure of the
// source is a *SourceError, whose message is safe to show; its cause is for
// the log.
func (e *Exporter) Run(ctx context.Context, plan *Plan, w io.Writer, progress func(Progress)) (Stats, error) {
	src, err := e.source(ctx, plan.Dataset.Source)
	if err != nil {
		return Stats{}, &SourceError{msg: "The export could not connect to its database.", err: err}
	}
	cw := &countingWriter{w: w}
	p := &progressTicker{every: e.cfg.ProgressInterval, fn: progress, cur: Progress{StartedAt: time.Now()}, cw: cw}
	if progress != nil {
		// A cheap planner estimate: a progress bar, not a promise.
		n, err := src.Estimate(ctx, plan.Statement)
		switch {
		case err == nil && n > 0:
			p.estimate.Store(n)
		case err == nil:
			// No planner estimate (SQLite): count the rows beside the export,
			// on another connection, and give up after countTimeout.
			cctx, cancel := context.WithTimeout(ctx, countTimeout)
			counted := make(chan struct{})
			defer func() { cancel(); <-counted }()
			go func() {
				defer close(counted)
				if n, err := countRows(cctx, src, plan.Statement); err == nil {
					p.estimate.Store(n)
				}
			}()
		case ctx.Err() == nil:
			e.cfg.Logger.DebugContext(ctx, "export: no row estimate", "dataset", plan.Dataset.Name, "error", err)
		}
	}
	comp, err := format.NewCompressor(plan.Compression, cw)
	if err != nil {
		return Stats{}, err
	}
	var rows int64
	if copier, ok := src.(source.CSVCopier); ok && plan.Format == format.CSV {
		delim := plan.Options.Delimiter
		if delim == 0 {
			delim = ','
		}
		rows, err = copier.CopyCSV(ctx, plan.Statement, comp, delim, p.rows)
		if err != nil {
			err = sourceError(ctx, err)
		}
	} else {
		rows, err = encodeRows(ctx, src, plan, comp, p)
	}
	if err != nil {
		_ = comp.Close() // the first error is the one to report
		return Stats{Rows: rows, Bytes: cw.n.Load()}, err
	}
	if err := comp.Close(); err != nil {
		return Stats{Rows: rows, Bytes: cw.n.Load()}, fmt.Errorf("finish compression: %w", err)
	}
	p.rows(rows)
	p.flush()
	return Stats{Rows: rows, Bytes: cw.n.Load()}, nil
}

// Rows travel from the reading goroutine to the encoding one in batches:
// batchRows rows each, pipelineBatches batches in flight. Reading (driver
// decoding) and encoding then run on two cores at once; the bound keeps the
// memory of the pipeline to a few thousand rows.
const (
	batchRows       = 1024
	pipelineBatches = 4
)

type rowBatch struct {
	rows [][]any
	n    int
}

// encodeRows reads rows in one goroutine and encodes them in this one.
func encodeRows(ctx context.Context, src source.Source, plan *Plan, w io.Writer, p *progressTicker) (int64, error) {
	rs, err := src.Query(ctx, plan.Statement)
	if err != nil {
		return 0, sourceError(ctx, err)
	}
	defer rs.Close() //nolint:errcheck // a count read to its end; Err was checked
	enc, err := format.NewEncoder(plan.Format, w, rs.Columns(), plan.Options)
	if err != nil {
		// Options were checked by Prepare; what is left is the columns, which a retry
		// does not change.
		return 0, &SetupError{err: fmt.Errorf("start %s encoder: %w", plan.Format, err)}
	}
	width := len(rs.Columns())
	free, full := make(chan *rowBatch, pipelineBatches), make(chan *rowBatch, pipelineBatches)
	for range pipelineBatches {
		b := &rowBatch{rows: make([][]any, batchRows)}
		for i := range b.rows {
			b.rows[i] = make([]any, width)
		}
		free <- b
	}
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() { readErr <- readBatches(rs, free, full, stop) }()

	var n int64
	var werr error
	for b := range full {
		for _, row := range b.rows[:b.n] {
			if werr = enc.Write(row); werr != nil {
				werr = fmt.Errorf("encode row %d: %w", n+1, werr)
				break
			}
			n++
		}
		if werr != nil {
			close(stop)
			for range full { // let the reader finish its send and see stop
			}
			break
		}
		free <- b
		p.rows(n)
	}
	if err := <-readErr; err != nil && werr == nil {
		return n, sourceError(ctx, err)
	}
	if werr != nil {
		return n, werr
	}
	if err := enc.Close(); err != nil {
		return n, fmt.Errorf("finish %s file: %w", plan.Format, err)
	}
	return n, nil
}

// readBatches fills batches from free with rows and sends them on full,
// which it closes at the end; it returns the rows' error. Values are copied:
// a Rows may reuse its slice and the []byte in it on Next.
func readBatches(rs data.Rows, free <-chan *rowBatch, full chan<- *rowBatch, stop <-chan struct{}) error {
	defer close(full)
	var b *rowBatch
	for rs.Next() {
		if b == nil {
			select {
			case b = <-free:
				b.n = 0
			case <-stop:
				return nil
			}
		}
		row := b.rows[b.n]
		for i, v := range rs.Values() {
			if bs, ok := v.([]byte); ok {
				v = append([]byte(nil), bs...)
			}
			row[i] = v
		}
		b.n++
		if b.n == len(b.rows) {
			select {
			case full <- b:
				b = nil
			case <-stop:
				return nil
			}
		}
	}
	if b != nil && b.n > 0 {
		select {
		case full <- b:
		case <-stop:
		}
	}
	return rs.Err()
}

// SetupError is an export that cannot start for a reason a retry does not
// change, such as a column of a type the format cannot hold.
type SetupError struct{ err error }

func (e *SetupError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e *SetupError) Unwrap() error { return e.err }

// SourceError is a failure of the dataset's database: its message is safe
// to show users, its cause (Unwrap) goes to the log.
type SourceError struct {
	msg string
	err error
}

func (e *SourceError) Error() string { return e.msg + ": " + e.err.Error() }

// UserMessage is the text for the user.
func (e *SourceError) UserMessage() string { return e.msg }

// Unwrap returns the database's error.
func (e *SourceError) Unwrap() error { return e.err }

func sourceError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err // cancelled or shutting down: not the database's fault
	}
	return &SourceError{msg: "The export failed while reading its data.", err: err}
}

// countingWriter counts the bytes written through it. The compressors write
// from goroutines of their own while progress reads the count, hence atomic.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// progressTicker calls fn at most once per interval with the rows so far.
type progressTicker struct {
	every    time.Duration
	fn       func(Progress)
	cur      Progress
	cw       *countingWriter
	last     time.Time
	estimate atomic.Int64 // set by the estimate, maybe late (a count running beside)
}

// countTimeout bounds the row count run beside an export whose source gives
// no estimate; past it the export goes on without a total.
const countTimeout = 30 * time.Second

// countRows counts the statement's rows: SELECT COUNT(*) FROM (statement).
func countRows(ctx context.Context, src source.Source, st data.Statement) (int64, error) {
	parts := slices.Clone(st.Parts)
	parts[0] = "SELECT COUNT(*) FROM (" + parts[0]
	parts[len(parts)-1] += "\n) AS herald_count"
	rows, err := src.Query(ctx, data.Statement{Parts: parts, Args: st.Args})
	if err != nil {
		return 0, err
	}
	defer rows.Close() //nolint:errcheck // rows read to their end; Err was checked
	if !rows.Next() {
		return 0, rows.Err()
	}
	n, ok := rows.Values()[0].(int64)
	if !ok {
		return 0, fmt.Errorf("count is a %T", rows.Values()[0])
	}
	return n, nil
}

func (p *progressTicker) rows(n int64) {
	if p.fn == nil {
		return
	}
	p.cur.Rows = n
	if time.Since(p.last) >= p.every {
		p.flush()
	}
}

func (p *progressTicker) flush() {
	if p.fn == nil {
		return
	}
	p.last = time.Now()
	p.cur.Bytes = p.cw.n.Load()
	p.cur.Estimate = p.estimate.Load()
	p.fn(p.cur)
}
