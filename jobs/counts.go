package jobs

import (
	"context"
	"encoding/json"
	"fmt"
)

// CountByState counts every owner's tasks by state; a state no task is in is 0. It counts over
// the index on state (migration 4): an operator's view, not a per-request one.
func (s *Store) CountByState(ctx context.Context) (map[State]int64, error) {
	counts := map[State]int64{StateQueued: 0, StateRunning: 0, StateSucceeded: 0, StateFailed: 0, StateCancelled: 0}
	rs, err := s.be.query(ctx, `SELECT state, COUNT(*) FROM herald_tasks GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count tasks by state: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var st State
		var n int64
		if err := rs.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count tasks by state: %w", err)
		}
		counts[st] = n
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("count tasks by state: %w", err)
	}
	return counts, nil
}

// RunningTask is a running task with the arguments it was queued with.
type RunningTask struct {
	*Task
	// Args are the task's River job arguments as JSON (what its TaskArgs marshal to); nil when
	// the job is gone.
	Args json.RawMessage
}

// MaxRunningList bounds Running's answer.
const MaxRunningList = 500

// Running returns every owner's running tasks of kind ("" for every kind), those that started
// first first, at most limit (0 or more than MaxRunningList: MaxRunningList).
func (s *Store) Running(ctx context.Context, kind string, limit int) ([]RunningTask, error) {
	if limit <= 0 || limit > MaxRunningList {
		limit = MaxRunningList
	}
	q := `SELECT ` + taskColumns + `, (SELECT ` + s.d.jobArgsText + ` FROM river_job WHERE river_job.id = herald_tasks.job_id)
		FROM herald_tasks WHERE state = ?`
	args := []any{StateRunning}
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	q += ` ORDER BY started_at, id LIMIT ?`
	args = append(args, limit)
	rs, err := s.be.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list running tasks: %w", err)
	}
	defer rs.Close()
	var out []RunningTask
	for rs.Next() {
		var jobArgs []byte
		t, err := scanTask(withExtra{rs, &jobArgs})
		if err != nil {
			return nil, fmt.Errorf("list running tasks: %w", err)
		}
		rt := RunningTask{Task: t}
		if len(jobArgs) > 0 {
			rt.Args = json.RawMessage(jobArgs)
		}
		out = append(out, rt)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list running tasks: %w", err)
	}
	return out, nil
}

// withExtra scans a task row followed by more columns.
type withExtra struct {
	r     row
	extra any
}

func (w withExtra) Scan(dest ...any) error { return w.r.Scan(append(dest, w.extra)...) }
