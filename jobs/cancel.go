package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CancelledMessage is a cancelled task's progress message, unless its work reported another
// once it had stopped (see Run).
const CancelledMessage = "Cancelled."

// Cancel cancels owner's task id: a queued task never runs, a running one
// is interrupted within about a second wherever it runs. It returns
// ErrNotFound for a task that is not owner's and ErrFinished for one that
// already ended.
func (s *Store) Cancel(ctx context.Context, owner, id string) (*Task, error) {
	return s.cancel(ctx, owner, id)
}

// CancelAny cancels any owner's task, for administrators.
func (s *Store) CancelAny(ctx context.Context, id string) (*Task, error) {
	return s.cancel(ctx, "", id)
}

// cancel marks the task cancelled and cancels its River job in one
// transaction, then interrupts the work. River's JobCancel interrupts a
// running job on PostgreSQL (through LISTEN/NOTIFY) but not on SQLite, so
// Herald interrupts its own work: directly through the registry of running
// tasks when the task runs in this process, and through Run's poll of the
// task row (every cancelPollInterval) when it runs in another.
func (s *Store) cancel(ctx context.Context, owner, id string) (*Task, error) {
	tx, err := s.be.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("cancel task %q: %w", id, err)
	}
	defer rollback(ctx, tx)
	now := nowMicros()
	// The message a running task had ("51200 rows exported") would claim a result that the
	// cancel throws away; its work may say more once it has stopped (see Run).
	q := `UPDATE herald_tasks SET state = ?, progress_message = ?, progress_eta = NULL, finished_at = ?, updated_at = ?
		WHERE id = ? AND state IN (?, ?)`
	args := []any{StateCancelled, CancelledMessage, now, now, id, StateQueued, StateRunning}
	if owner != "" {
		q += ` AND owner = ?`
		args = append(args, owner)
	}
	t, err := scanTask(tx.queryRow(ctx, q+` RETURNING `+taskColumns, args...))
	if errors.Is(err, sql.ErrNoRows) {
		// Not cancellable: tell a missing task from a finished one.
		if _, err := s.get(ctx, tx, owner, id); err != nil {
			return nil, err
		}
		return nil, ErrFinished
	}
	if err != nil {
		return nil, fmt.Errorf("cancel task %q: %w", id, err)
	}
	if t.jobID != 0 {
		if err := tx.cancelJob(ctx, t.jobID); err != nil {
			return nil, fmt.Errorf("cancel task %q: cancel job: %w", id, err)
		}
	}
	if err := tx.commit(ctx); err != nil {
		return nil, fmt.Errorf("cancel task %q: commit: %w", id, err)
	}
	// Tell the owner's pages before interrupting the work: what the work says once it has
	// stopped (see Run) must reach them after "Cancelled.", not before it.
	s.taskUpdated(ctx, t)
	s.interrupt(id)
	return t, nil
}

// register records the cancel function of a task about to run here.
func (s *Store) register(id string, cancel context.CancelCauseFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running[id] = cancel
}

func (s *Store) unregister(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, id)
}

// interrupt cancels the work of task id if it runs in this process.
func (s *Store) interrupt(id string) {
	s.mu.Lock()
	cancel := s.running[id]
	s.mu.Unlock()
	if cancel != nil {
		cancel(ErrCancelled)
	}
}
