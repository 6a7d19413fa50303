package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Store is Herald's task store and River client: it enqueues tasks, runs
// their workers (after Start), and answers owners' questions about them.
// It is safe for concurrent use.
type Store struct {
	cfg      Config
	be       backend
	d        *dialect
	logger   *slog.Logger
	notifier Notifier

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // task id → cancel of its work
	started bool
}

// RegisterFunc adds task workers to River's worker bundle at Open. The demo
// worker is always registered.
type RegisterFunc func(s *Store, workers *river.Workers) error

// stuckThreshold keeps River from calling a long task "stuck": Herald's
// heartbeat, not River's job timeout, decides whether a task is alive.
const stuckThreshold = 7 * 24 * time.Hour

// Open connects to the configured database, runs River's and Herald's
// migrations (idempotent) and builds the River client. Workers run only
// after Start. Close releases the database.
func Open(ctx context.Context, cfg Config, register ...RegisterFunc) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	be, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:      cfg,
		be:       be,
		d:        be.dialect(),
		logger:   cfg.Logger,
		notifier: NopNotifier{},
		running:  make(map[string]context.CancelCauseFunc),
	}
	if err := s.migrate(ctx); err != nil {
		be.close()
		return nil, err
	}
	workers := river.NewWorkers()
	register = append([]RegisterFunc{registerDemo}, register...)
	for _, r := range register {
		if err := r(s, workers); err != nil {
			be.close()
			return nil, fmt.Errorf("register workers: %w", err)
		}
	}
	if err := be.newClient(s.riverConfig(workers)); err != nil {
		be.close()
		return nil, err
	}
	return s, nil
}

// Migrate runs River's and Herald's migrations and returns; it is what
// `herald migrate` does. Running it again changes nothing.
func Migrate(ctx context.Context, cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	be, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	defer be.close()
	s := &Store{cfg: cfg, be: be, d: be.dialect(), logger: cfg.Logger}
	return s.migrate(ctx)
}

func openBackend(ctx context.Context, cfg Config) (backend, error) {
	if cfg.isPostgres() {
		return openPostgres(ctx, cfg)
	}
	return openSQLite(ctx, cfg)
}

// riverConfig is River's configuration. On rescue of dead tasks: River's
// rescuer retries a running job when its attempted_at is older than
// RescueStuckJobsAfter AND older than the job timeout; with JobTimeout -1
// (infinite) it never rescues at all (v0.51.2 job_rescuer.go), and with a
// finite JobTimeout River cancels the work's context when it elapses. Its
// write checks attempted_at again (since v0.48), so a heartbeat that lands
// between the rescuer's read and its write keeps the task. Herald wants
// both: long tasks that are never cut, and dead ones rescued once they have
// gone RescueAfter without a heartbeat (see DefaultRescueAfter). So:
//   - JobTimeout = RescueStuckJobsAfter = RescueAfter;
//   - every running task heartbeats its river_job.attempted_at every
//     RescueAfter/4 (see Run), so only a job whose process stopped
//     heartbeating is ever older than RescueAfter;
//   - a worker middleware hands Run the job's context from before River
//     applied the timeout, so the timeout never cancels Herald's work while
//     shutdown and River's own cancel still do;
//   - JobStuckThreshold is a week, so River does not log long tasks as stuck.
func (s *Store) riverConfig(workers *river.Workers) *river.Config {
	return &river.Config{
		Logger:               s.logger,
		JobTimeout:           s.cfg.RescueAfter,
		RescueStuckJobsAfter: s.cfg.RescueAfter,
		JobStuckThreshold:    stuckThreshold,
		MaxAttempts:          s.cfg.MaxAttempts,
		FetchCooldown:        s.cfg.FetchCooldown,
		PeriodicJobs:         s.cfg.PeriodicJobs,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: s.cfg.Workers}},
		Workers:              workers,
		Middleware:           []rivertype.Middleware{&outerContextMiddleware{}},
	}
}

// SetNotifier sets who hears of task changes and notifications. Call it
// before Start; the default drops everything.
func (s *Store) SetNotifier(n Notifier) {
	if n == nil {
		n = NopNotifier{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notifier = n
}

func (s *Store) getNotifier() Notifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notifier
}

// Start starts River's workers in this process. Only Stop stops them: ctx
// is not watched after Start returns. (River treats the end of its start
// context as StopAndCancel, which would interrupt running tasks at SIGTERM
// without the grace period Stop gives them.)
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("jobs: store already started")
	}
	if err := s.be.start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	s.started = true
	return nil
}

// Stop stops fetching new tasks and waits for running ones until ctx ends;
// then it cancels those still running, which return to the queue (state
// queued) to be resumed by the next worker. Stop on a store never started
// does nothing.
func (s *Store) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.started = false
	s.mu.Unlock()
	if !started {
		return nil
	}
	err := s.be.stop(ctx)
	if err == nil {
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop river: %w", err)
	}
	s.logger.Warn("jobs: running tasks did not finish in time; cancelling them")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.be.stopAndCancel(cctx); err != nil {
		return fmt.Errorf("stop river: %w", err)
	}
	return nil
}

// Close releases the database. Stop the store first if it was started.
func (s *Store) Close() { s.be.close() }

// migrate runs River's migrations, then Herald's own steps not yet applied,
// each in a transaction that also records it.
func (s *Store) migrate(ctx context.Context) error {
	unlock, err := s.be.lockMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrations: lock: %w", err)
	}
	defer unlock()
	if err := s.be.migrateRiver(ctx); err != nil {
		return err
	}
	tx, err := s.be.begin(ctx)
	if err != nil {
		return fmt.Errorf("herald migrations: %w", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.exec(ctx, `CREATE TABLE IF NOT EXISTS herald_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("herald migrations: %w", err)
	}
	var current int
	if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM herald_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("herald migrations: read version: %w", err)
	}
	for _, m := range s.d.migrations[min(current, len(s.d.migrations)):] {
		if _, err := tx.exec(ctx, m.sql); err != nil {
			return fmt.Errorf("herald migration %s: %w", m.name, err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO herald_migrations (version, applied_at) VALUES (?, ?)`, m.version, nowMicros()); err != nil {
			return fmt.Errorf("herald migration %s: record: %w", m.name, err)
		}
	}
	if err := tx.commit(ctx); err != nil {
		return fmt.Errorf("herald migrations: commit: %w", err)
	}
	return nil
}

// rollback ends tx if it is still open; after a commit it does nothing.
func rollback(ctx context.Context, tx txn) {
	_ = tx.rollback(context.WithoutCancel(ctx)) // fails only after commit, or with the error already returned
}

// outerContextMiddleware stores the job's context as River hands it to the
// middleware chain, before JobTimeout is applied, so Run can ignore the
// timeout (see riverConfig) while still seeing shutdown and remote cancel.
type outerContextMiddleware struct{ river.MiddlewareDefaults }

type outerContextKey struct{}

type jobInfo struct {
	ctx context.Context
	job *rivertype.JobRow
}

func (m *outerContextMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	return doInner(context.WithValue(ctx, outerContextKey{}, &jobInfo{ctx: ctx, job: job}))
}

func jobInfoFrom(ctx context.Context) *jobInfo {
	ji, _ := ctx.Value(outerContextKey{}).(*jobInfo)
	return ji
}

func nowMicros() int64 { return time.Now().UnixMicro() }
