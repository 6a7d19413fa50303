package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits are what one owner may ask of the task system, so that a script flooding the API, or one
// user's backlog, cannot take it from everybody else. The defaults are far above what a person
// using a web app reaches by hand. Zero is the default; a negative value turns a limit off.
type Limits struct {
	// PerMinute bounds the tasks an owner creates in any 60 s. Default 60.
	PerMinute int
	// Active bounds an owner's tasks queued or running at once. Default 20.
	Active int
	// Running bounds an owner's tasks running at once (in the whole cluster), so that one owner's
	// backlog leaves workers to the others: a task over it waits (River snoozes it for 2 s) and
	// other owners' tasks run meanwhile. Default half this process's workers (at least 1).
	Running int
	// StoredBytes bounds the bytes an owner's finished tasks keep stored (exports' files not yet
	// expired). Default 10 GiB.
	StoredBytes int64
}

// Default limits.
const (
	DefaultTasksPerMinute  = 60
	DefaultActiveTasks     = 20
	DefaultStoredBytes     = 10 << 30
	limitRetryAfterDefault = 30 * time.Second
	// runningSnooze is how long a task over its owner's running limit waits before it is tried
	// again; others' tasks are fetched meanwhile.
	runningSnooze = 2 * time.Second
)

func (l Limits) withDefaults(workers int) Limits {
	if l.PerMinute == 0 {
		l.PerMinute = DefaultTasksPerMinute
	}
	if l.Active == 0 {
		l.Active = DefaultActiveTasks
	}
	if l.Running == 0 {
		l.Running = max(1, workers/2)
	}
	if l.StoredBytes == 0 {
		l.StoredBytes = DefaultStoredBytes
	}
	return l
}

// ErrLimit is matched by a LimitError.
var ErrLimit = errors.New("jobs: limit reached")

// LimitError refuses a task because its owner reached a limit: which, a message for the owner, and
// when trying again may succeed.
type LimitError struct {
	Limit      string // "tasks_per_minute", "active_tasks" or "stored_bytes"
	Message    string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return "jobs: limit reached: " + e.Message }

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// checkLimits refuses a new task of owner over a limit; q is the enqueue's transaction.
func (s *Store) checkLimits(ctx context.Context, q querier, owner string) error {
	l := s.cfg.Limits
	now := nowMicros()
	if l.PerMinute > 0 {
		var n int
		var oldest *int64
		window := now - time.Minute.Microseconds()
		if err := q.queryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM herald_tasks WHERE owner = ? AND created_at > ?`,
			owner, window).Scan(&n, &oldest); err != nil {
			return fmt.Errorf("count recent tasks: %w", err)
		}
		if n >= l.PerMinute {
			wait := limitRetryAfterDefault
			if oldest != nil {
				wait = time.Duration(*oldest-window) * time.Microsecond
			}
			return &LimitError{Limit: "tasks_per_minute", RetryAfter: max(wait, time.Second),
				Message: fmt.Sprintf("You started %d tasks in the last minute, the most allowed; try again shortly.", n)}
		}
	}
	if l.Active > 0 {
		var n int
		if err := q.queryRow(ctx, `SELECT COUNT(*) FROM herald_tasks WHERE owner = ? AND state IN (?, ?)`,
			owner, StateQueued, StateRunning).Scan(&n); err != nil {
			return fmt.Errorf("count active tasks: %w", err)
		}
		if n >= l.Active {
			return &LimitError{Limit: "active_tasks", RetryAfter: limitRetryAfterDefault,
				Message: fmt.Sprintf("You have %d tasks queued or running, the most allowed; wait for some to finish or cancel some.", n)}
		}
	}
	if l.StoredBytes > 0 {
		var stored int64
		if err := q.queryRow(ctx, `SELECT COALESCE(SUM(progress_bytes), 0) FROM herald_tasks
			WHERE owner = ? AND state = ? AND (result IS NULL OR result NOT LIKE '%"expired":true%')`,
			owner, StateSucceeded).Scan(&stored); err != nil {
			return fmt.Errorf("sum stored bytes: %w", err)
		}
		if stored >= l.StoredBytes {
			return &LimitError{Limit: "stored_bytes", RetryAfter: time.Hour,
				Message: fmt.Sprintf("Your stored files take %d bytes, the most allowed (%d); wait for old ones to expire.", stored, l.StoredBytes)}
		}
	}
	return nil
}

// errNotYourTurn: the task's owner has Limits.Running tasks running already.
var errNotYourTurn = errors.New("jobs: the owner runs enough tasks already")

// startTurn marks task id running (markRunning) unless its owner has Limits.Running tasks running
// already (others than id): then errNotYourTurn, and River tries it again later while other owners'
// tasks run. The count and the mark are one transaction holding the owner's active rows (PostgreSQL:
// FOR UPDATE; SQLite: the write lock of its immediate transactions), so two workers starting two
// tasks of one owner at once cannot both pass.
func (s *Store) startTurn(ctx context.Context, id string) (*Task, error) {
	limit := s.cfg.Limits.Running
	if limit <= 0 {
		return s.markRunning(ctx, s.be, id)
	}
	tx, err := s.be.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("start task %q: %w", id, err)
	}
	defer rollback(ctx, tx)
	rows, err := tx.query(ctx, `SELECT state FROM herald_tasks
		WHERE owner = (SELECT owner FROM herald_tasks WHERE id = ?) AND state IN (?, ?) AND id <> ?`+s.be.dialect().forUpdate,
		id, StateQueued, StateRunning, id)
	if err != nil {
		return nil, fmt.Errorf("count running tasks: %w", err)
	}
	running := 0
	for rows.Next() {
		var st State
		if err := rows.Scan(&st); err != nil {
			rows.Close()
			return nil, fmt.Errorf("count running tasks: %w", err)
		}
		if st == StateRunning {
			running++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count running tasks: %w", err)
	}
	if running >= limit {
		return nil, errNotYourTurn
	}
	t, err := s.markRunning(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.commit(ctx); err != nil {
		return nil, fmt.Errorf("start task %q: %w", id, err)
	}
	return t, nil
}
