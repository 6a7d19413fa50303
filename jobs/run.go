package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// WorkFunc does a task's work. It must return promptly once ctx is done
// (cancel, shutdown). Its result is stored as the task's JSON result; a
// result with a `Link() string` method also gives the success notification
// its link. Wrap an error with Permanent to fail without retries, and with
// NewUserError to choose the text the owner sees.
type WorkFunc func(ctx context.Context, r *Reporter) (result any, err error)

// Linker is implemented by results that point somewhere (a download).
type Linker interface{ Link() string }

// Summarizer is a task result that says in a few words what the task made ("100,000 rows,
// 11 MB."): the success notification's body, instead of "Finished.".
type Summarizer interface{ Summary() string }

// bookkeepingTimeout bounds the writes that record how a task ended; they
// run even when the work's context is already cancelled.
const bookkeepingTimeout = 10 * time.Second

// Run is how a River worker does the work of task taskID:
//   - it marks the task running (attempt+1) and notifies;
//   - it runs fn with a context that is cancelled when the task is
//     cancelled (here, or in another process: the row is polled every
//     500 ms) and at shutdown, but never by River's job timeout;
//   - while fn runs it heartbeats the River job so River's rescuer leaves it
//     alone (see Store.riverConfig);
//   - it records the end: succeeded (with result), failed (after the last
//     attempt, or at once for a Permanent error; the user-safe text stored,
//     the internal one logged), cancelled, or queued again for a retry or
//     after a shutdown. Success and failure store a notification;
//   - a cancelled task's progress says CancelledMessage, or what fn reported
//     after its context was cancelled: a work that stops for a cancel may
//     Report how far it got on its way out ("Cancelled after 52224 rows").
//
// The returned error is River's to act on; return it from Work.
func (s *Store) Run(ctx context.Context, taskID string, fn WorkFunc) error {
	parent, job := ctx, (*rivertype.JobRow)(nil)
	if ji := jobInfoFrom(ctx); ji != nil {
		parent, job = ji.ctx, ji.job
	}
	workCtx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	s.register(taskID, cancel)
	defer s.unregister(taskID)

	t, err := s.startTurn(ctx, taskID)
	if errors.Is(err, errNotYourTurn) {
		return river.JobSnooze(runningSnooze) // its owner runs enough already: others' tasks first
	}
	if errors.Is(err, sql.ErrNoRows) {
		return s.notActive(ctx, taskID)
	}
	if err != nil {
		return err
	}
	s.taskUpdated(ctx, t)

	r := &Reporter{s: s, ctx: workCtx, taskID: taskID, last: time.Now(), began: time.Now()}
	stopWatch := s.watch(workCtx, cancel, t)
	result, werr := fn(workCtx, r)
	stopWatch()

	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer bcancel()
	progress := r.current()
	switch {
	case werr == nil:
		return s.succeed(bctx, t, progress, result)
	case errors.Is(context.Cause(workCtx), ErrCancelled):
		if p, ok := r.afterStop(); ok {
			s.recordCancelled(bctx, taskID, p)
		}
		return river.JobCancel(ErrCancelled)
	case parent.Err() != nil && !IsPermanent(werr):
		// Shutdown (or River's own cancel, which Cancel pairs with ours):
		// back to the queue without using up an attempt.
		if err := s.requeue(bctx, taskID, progress, "Interrupted; will resume."); err != nil {
			return err
		}
		return river.JobSnooze(time.Second)
	}
	final := IsPermanent(werr) || job == nil || job.Attempt >= job.MaxAttempts
	attrs := []any{slog.String("task_id", taskID), slog.String("kind", t.Kind), slog.Int("attempt", t.Attempt)}
	if !final {
		s.logger.WarnContext(ctx, "jobs: task attempt failed; will retry", append(attrs, slog.String("error", werr.Error()))...)
		if err := s.requeue(bctx, taskID, progress, fmt.Sprintf("Attempt %d failed; retrying.", t.Attempt)); err != nil {
			return err
		}
		return werr
	}
	s.logError(ctx, "jobs: task failed", werr, attrs...)
	if err := s.fail(bctx, t, progress, userMessage(werr)); err != nil {
		return err
	}
	if IsPermanent(werr) {
		return river.JobCancel(werr) // no retry
	}
	return werr // attempts exhausted: River discards the job
}

// notActive decides what a worker does with a task that is no longer
// queued or running: a cancelled one cancels its job, a finished one (its
// process died after recording the end) completes it quietly.
func (s *Store) notActive(ctx context.Context, taskID string) error {
	t, err := s.get(ctx, s.be, "", taskID)
	if errors.Is(err, ErrNotFound) {
		return river.JobCancel(fmt.Errorf("task %q does not exist", taskID))
	}
	if err != nil {
		return err
	}
	if t.State == StateCancelled {
		return river.JobCancel(ErrCancelled)
	}
	return nil
}

func (s *Store) markRunning(ctx context.Context, q querier, id string) (*Task, error) {
	now := nowMicros()
	t, err := scanTask(q.queryRow(ctx, `UPDATE herald_tasks
		SET state = ?, attempt = attempt + 1, started_at = COALESCE(started_at, ?), updated_at = ?, error = ''
		WHERE id = ? AND state IN (?, ?) RETURNING `+taskColumns,
		StateRunning, now, now, id, StateQueued, StateRunning))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mark task %q running: %w", id, err)
	}
	return t, err
}

// setEnd moves a running task to state with its final progress, result and
// error text, and stores n in the same transaction. It returns
// sql.ErrNoRows when the task was no longer running (cancelled meanwhile).
func (s *Store) setEnd(ctx context.Context, id string, state State, p Progress, result *string, errText string, n *Notification) (*Task, error) {
	if s.d.dataModifyingCTE && n != nil {
		return s.setEndOneStatement(ctx, id, state, p, result, errText, n)
	}
	tx, err := s.be.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer rollback(ctx, tx)
	now := nowMicros()
	t, err := scanTask(tx.queryRow(ctx, `UPDATE herald_tasks
		SET state = ?, progress_done = ?, progress_total = ?, progress_message = ?, progress_bytes = ?, progress_eta = NULL,
		    result = ?, error = ?, finished_at = ?, updated_at = ?
		WHERE id = ? AND state = ? RETURNING `+taskColumns,
		state, p.Done, p.Total, p.Message, p.Bytes, result, errText, now, now, id, StateRunning))
	if err != nil {
		return nil, err
	}
	if n != nil {
		if err := insertNotification(ctx, tx, n); err != nil {
			return nil, err
		}
	}
	return t, tx.commit(ctx)
}

// setEndOneStatement is setEnd in one statement, and so one round trip
// instead of four: the notification is inserted from the UPDATE's RETURNING,
// so it exists exactly when the task was still running and has ended.
func (s *Store) setEndOneStatement(ctx context.Context, id string, state State, p Progress, result *string, errText string, n *Notification) (*Task, error) {
	now := nowMicros()
	n.ID, n.CreatedAt = newID(), fromMicros(now)
	var taskID *string
	if n.TaskID != "" {
		taskID = &n.TaskID
	}
	return scanTask(s.be.queryRow(ctx, `WITH t AS (
		UPDATE herald_tasks
		SET state = ?, progress_done = ?, progress_total = ?, progress_message = ?, progress_bytes = ?, progress_eta = NULL,
		    result = ?, error = ?, finished_at = ?, updated_at = ?
		WHERE id = ? AND state = ? RETURNING `+taskColumns+`
	), n AS (
		INSERT INTO herald_notifications (id, owner, level, title, body, link, task_id, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM t
	)
	SELECT `+taskColumns+` FROM t`,
		state, p.Done, p.Total, p.Message, p.Bytes, result, errText, now, now, id, StateRunning,
		n.ID, n.Owner, n.Level, n.Title, n.Body, n.Link, taskID, now))
}

func (s *Store) succeed(ctx context.Context, t *Task, p Progress, result any) error {
	var res *string
	link, body := "", "Finished."
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			s.logError(ctx, "jobs: task result cannot be stored", err, slog.String("task_id", t.ID))
			if err := s.fail(ctx, t, p, "The task's result could not be stored."); err != nil {
				return err
			}
			return river.JobCancel(err)
		}
		str := string(b)
		res = &str
		if l, ok := result.(Linker); ok {
			link = l.Link()
		}
		if sm, ok := result.(Summarizer); ok && sm.Summary() != "" {
			body = sm.Summary()
		}
	}
	n := &Notification{Owner: t.Owner, Level: LevelSuccess, Title: t.Title, Body: body, Link: link, TaskID: t.ID}
	return s.end(ctx, t.ID, StateSucceeded, p, res, "", n)
}

func (s *Store) fail(ctx context.Context, t *Task, p Progress, msg string) error {
	n := &Notification{Owner: t.Owner, Level: LevelError, Title: t.Title, Body: msg, TaskID: t.ID}
	return s.end(ctx, t.ID, StateFailed, p, nil, msg, n)
}

func (s *Store) end(ctx context.Context, id string, state State, p Progress, result *string, errText string, n *Notification) error {
	t, err := s.setEnd(ctx, id, state, p, result, errText, n)
	if errors.Is(err, sql.ErrNoRows) {
		return s.notActive(ctx, id) // cancelled while finishing
	}
	if err != nil {
		return fmt.Errorf("record end of task %q: %w", id, err)
	}
	s.taskUpdated(ctx, t)
	s.notify(ctx, n)
	return nil
}

// recordCancelled stores the progress a cancelled task's work reported once it had stopped. The
// cancel itself is already recorded; this only makes its message exact, so a failure is logged.
func (s *Store) recordCancelled(ctx context.Context, id string, p Progress) {
	t, err := scanTask(s.be.queryRow(ctx, `UPDATE herald_tasks
		SET progress_done = ?, progress_total = ?, progress_message = ?, progress_bytes = ?, progress_eta = NULL, updated_at = ?
		WHERE id = ? AND state = ? RETURNING `+taskColumns,
		p.Done, p.Total, p.Message, p.Bytes, nowMicros(), id, StateCancelled))
	switch {
	case err == nil:
		s.taskUpdated(ctx, t)
	case errors.Is(err, sql.ErrNoRows):
		// deleted meanwhile: nothing to say
	default:
		s.logError(ctx, "jobs: store a cancelled task's last progress", err, slog.String("task_id", id))
	}
}

func (s *Store) requeue(ctx context.Context, id string, p Progress, message string) error {
	t, err := scanTask(s.be.queryRow(ctx, `UPDATE herald_tasks
		SET state = ?, progress_done = ?, progress_total = ?, progress_message = ?, progress_bytes = ?, progress_eta = NULL,
		    updated_at = ?
		WHERE id = ? AND state = ? RETURNING `+taskColumns,
		StateQueued, p.Done, p.Total, message, p.Bytes, nowMicros(), id, StateRunning))
	if errors.Is(err, sql.ErrNoRows) {
		return s.notActive(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("requeue task %q: %w", id, err)
	}
	s.taskUpdated(ctx, t)
	return nil
}

// watch runs beside a task's work until the returned stop is called: it
// cancels the work when the row says cancelled (a cancel from another
// process) and heartbeats the River job every RescueAfter/4.
func (s *Store) watch(ctx context.Context, cancel context.CancelCauseFunc, t *Task) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		poll := time.NewTicker(cancelPollInterval)
		defer poll.Stop()
		beat := time.NewTicker(s.cfg.RescueAfter / 4)
		defer beat.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-poll.C:
				var state State
				err := s.be.queryRow(ctx, `SELECT state FROM herald_tasks WHERE id = ?`, t.ID).Scan(&state)
				if err == nil && state == StateCancelled {
					cancel(ErrCancelled)
				} else if err != nil && ctx.Err() == nil {
					s.logError(ctx, "jobs: poll task state", err, slog.String("task_id", t.ID))
				}
			case <-beat.C:
				if t.jobID == 0 {
					continue
				}
				if _, err := s.be.exec(ctx, s.d.heartbeat, t.jobID); err != nil && ctx.Err() == nil {
					s.logError(ctx, "jobs: heartbeat", err, slog.String("task_id", t.ID))
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// Reporter reports a running task's progress; see Run.
type Reporter struct {
	s      *Store
	ctx    context.Context
	taskID string

	mu    sync.Mutex
	cur   Progress
	last  time.Time
	began time.Time
	// stopped is set by a report made once ctx was done: the work's last word on where it
	// stopped, which a cancelled task keeps.
	stopped bool
}

func etaMicros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// Report records that done of total units are done, with an optional
// message for the owner. At most one report per ProgressInterval is stored
// and notified; the others only update what the final state will show. A
// report made once the work's context is done is not stored then; a
// cancelled task keeps the last such report (see Run). Safe for concurrent
// use.
func (r *Reporter) Report(done, total int64, message string) {
	r.Update(done, total, 0, message)
}

// Update is Report with the number of bytes written so far. The estimated
// end (Progress.ETA) is worked out from the rate since the work started.
func (r *Reporter) Update(done, total, bytes int64, message string) {
	r.mu.Lock()
	r.cur = newProgress(done, total, message)
	r.cur.Bytes = bytes
	if done > 0 && total > done {
		elapsed := time.Since(r.began)
		eta := time.Now().Add(time.Duration(float64(elapsed) * float64(total-done) / float64(done))).UTC()
		r.cur.ETA = &eta
	}
	p := r.cur
	if r.ctx.Err() != nil {
		r.stopped = true
	}
	due := time.Since(r.last) >= r.s.cfg.ProgressInterval
	if due {
		r.last = time.Now()
	}
	r.mu.Unlock()
	if due {
		r.flush(p)
	}
}

func (r *Reporter) current() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// afterStop is the last progress reported once the work's context was done, if there was one.
func (r *Reporter) afterStop() (Progress, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur, r.stopped
}

func (r *Reporter) flush(p Progress) {
	t, err := scanTask(r.s.be.queryRow(r.ctx, `UPDATE herald_tasks
		SET progress_done = ?, progress_total = ?, progress_message = ?, progress_bytes = ?, progress_eta = ?,
		    updated_at = ?
		WHERE id = ? AND state = ? RETURNING `+taskColumns,
		p.Done, p.Total, p.Message, p.Bytes, etaMicros(p.ETA), nowMicros(), r.taskID, StateRunning))
	switch {
	case err == nil:
		r.s.taskUpdated(r.ctx, t)
	case errors.Is(err, sql.ErrNoRows) || r.ctx.Err() != nil:
		// cancelled: nothing to report
	default:
		r.s.logError(r.ctx, "jobs: store progress", err, slog.String("task_id", r.taskID))
	}
}
