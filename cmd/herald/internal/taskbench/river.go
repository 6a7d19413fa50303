package taskbench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/heraldhq/herald/jobs"
)

// noopArgs is the baseline's job: River's cost alone.
type noopArgs struct{}

func (noopArgs) Kind() string { return "herald_bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	done *atomic.Int64
	all  chan struct{}
	n    int64
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	if w.done.Add(1) == w.n {
		close(w.all)
	}
	return nil
}

// riverDB is a fresh database for one baseline run with River's tables.
type riverDB struct {
	sqlite  *sql.DB
	pool    *pgxpool.Pool
	schema  string
	cleanup func()
}

func openRiverDB(ctx context.Context, db Database, dir string) (*riverDB, error) {
	if db.URL == "" {
		q := url.Values{}
		// The pragmas and the single connection are the task store's (jobs/backend_sqlite.go).
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		h, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "river.db")+"?"+q.Encode())
		if err != nil {
			return nil, err
		}
		h.SetMaxOpenConns(1)
		m, err := rivermigrate.New(riversqlite.New(h), nil)
		if err == nil {
			_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
		if err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("river migrations: %w", err)
		}
		return &riverDB{sqlite: h, cleanup: func() { _ = h.Close() }}, nil
	}
	schema := uniqueSchema("herald_bench_river")
	pcfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return nil, err
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	r := &riverDB{pool: pool, schema: schema, cleanup: func() {
		dropSchema(db.URL, schema)
		pool.Close()
	}}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		r.cleanup()
		return nil, err
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err == nil {
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err != nil {
		r.cleanup()
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	return r, nil
}

// RiverBurnDown inserts n no-op jobs, then starts River with the given
// number of workers and times until all of them are worked.
func RiverBurnDown(ctx context.Context, db Database, dir string, n, workers int) (Rate, error) {
	return runRiver(ctx, db, dir, n, workers, true, 0)
}

// RiverInsertAndWork starts River, then inserts n no-op jobs one by one from
// `enqueuers` goroutines while it works them; it times until all are worked.
func RiverInsertAndWork(ctx context.Context, db Database, dir string, n, workers, enqueuers int) (Rate, error) {
	return runRiver(ctx, db, dir, n, workers, false, enqueuers)
}

func runRiver(ctx context.Context, db Database, dir string, n, workers int, burnDown bool, enqueuers int) (Rate, error) {
	rdb, err := openRiverDB(ctx, db, dir)
	if err != nil {
		return Rate{}, err
	}
	defer rdb.cleanup()
	w := &noopWorker{done: new(atomic.Int64), all: make(chan struct{}), n: int64(n)}
	ws := river.NewWorkers()
	river.AddWorker(ws, w)
	cfg := &river.Config{
		Logger:  discardLogger(),
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers: ws,
		Schema:  rdb.schema,
		// Herald's setting, so that both sides fetch alike.
		FetchCooldown: jobs.DefaultFetchCooldown,
	}
	var rc *riverClient
	if rdb.sqlite != nil {
		rc, err = newRiverClient(riversqlite.New(rdb.sqlite), cfg)
	} else {
		rc, err = newRiverClient(riverpgxv5.New(rdb.pool), cfg)
	}
	if err != nil {
		return Rate{}, err
	}
	start, stop, insertMany, insert := rc.start, rc.stop, rc.insertMany, rc.insert

	if burnDown {
		const batch = 1000
		for i := 0; i < n; i += batch {
			p := make([]river.InsertManyParams, min(batch, n-i))
			for j := range p {
				p[j] = river.InsertManyParams{Args: noopArgs{}}
			}
			if err := insertMany(ctx, p); err != nil {
				return Rate{}, fmt.Errorf("insert jobs: %w", err)
			}
		}
	}
	began := time.Now()
	if err := start(ctx); err != nil {
		return Rate{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = stop(sctx) // the measurement is taken; a slow stop does not change it
	}()
	errc := make(chan error, 1)
	if !burnDown {
		go func() {
			errc <- spread(ctx, n, enqueuers, func(ctx context.Context, _ int) error { return insert(ctx) })
		}()
	}
	select {
	case <-w.all:
	case err := <-errc:
		if err != nil {
			return Rate{}, fmt.Errorf("insert jobs: %w", err)
		}
		select {
		case <-w.all:
		case <-ctx.Done():
			return Rate{}, ctx.Err()
		}
	case <-ctx.Done():
		return Rate{}, fmt.Errorf("%d of %d jobs worked: %w", w.done.Load(), n, ctx.Err())
	}
	return newRate(n, time.Since(began)), nil
}

// riverClient is what the baseline needs of River's client, whose type depends on the driver's
// transaction type (*sql.Tx for SQLite, pgx.Tx for PostgreSQL).
type riverClient struct {
	start, stop func(context.Context) error
	insertMany  func(context.Context, []river.InsertManyParams) error
	insert      func(context.Context) error
}

func newRiverClient[TTx any](driver riverdriver.Driver[TTx], cfg *river.Config) (*riverClient, error) {
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, err
	}
	return &riverClient{
		start: c.Start,
		stop:  c.Stop,
		insertMany: func(ctx context.Context, p []river.InsertManyParams) error {
			_, err := c.InsertMany(ctx, p)
			return err
		},
		insert: func(ctx context.Context) error {
			_, err := c.Insert(ctx, noopArgs{}, nil)
			return err
		},
	}, nil
}

// spread calls fn n times from k goroutines and returns the first error.
func spread(ctx context.Context, n, k int, fn func(ctx context.Context, i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first error
		once  sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range k {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
