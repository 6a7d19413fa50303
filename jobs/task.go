package jobs

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// State is a task's lifecycle state.
type State string

// Task states. Queued and running are active; the other three are final.
const (
	StateQueued    State = "queued"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Final reports whether the state is an end state.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

func (s State) valid() bool { return s == StateQueued || s == StateRunning || s.Final() }

// Progress is how far a task has come.
type Progress struct {
	Done    int64   `json:"done"`
	Total   int64   `json:"total"`
	Percent float64 `json:"percent"`
	Message string  `json:"message,omitempty"`
	// Bytes is how much output the task has written, when it writes any.
	Bytes int64 `json:"bytes,omitempty"`
	// ETA is when the task is expected to end, estimated from its rate so
	// far; absent when unknown.
	ETA *time.Time `json:"eta,omitempty"`
}

func newProgress(done, total int64, message string) Progress {
	p := Progress{Done: done, Total: total, Message: message}
	if total > 0 {
		p.Percent = min(100, float64(done)*100/float64(total))
	}
	return p
}

// Task is a unit of background work started by a user (its owner).
type Task struct {
	ID       string          `json:"id"`
	Owner    string          `json:"owner"`
	Kind     string          `json:"kind"`
	Title    string          `json:"title"`
	State    State           `json:"state"`
	Progress Progress        `json:"progress"`
	Result   json.RawMessage `json:"result,omitempty"`
	// Error is safe to show the owner; internal details are only logged.
	Error      string     `json:"error,omitempty"`
	Attempt    int        `json:"attempt"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	UpdatedAt  time.Time  `json:"updatedAt"`

	jobID int64
}

// TaskArgs are River job args that carry the id of their Herald task.
// Enqueue sets it; the worker passes it to Run. Pass a pointer.
type TaskArgs interface {
	river.JobArgs
	SetTaskID(id string)
}

const taskColumns = `id, owner, kind, title, state, progress_done, progress_total, progress_message, progress_bytes, progress_eta,
 result, error, attempt, job_id, created_at, started_at, finished_at, updated_at`

func scanTask(r row) (*Task, error) {
	var (
		t                 Task
		result            *string
		jobID             *int64
		created, updated  int64
		started, finished *int64
		done, total       int64
		message           string
		bytes             int64
		eta               *int64
	)
	if err := r.Scan(&t.ID, &t.Owner, &t.Kind, &t.Title, &t.State, &done, &total, &message, &bytes, &eta,
		&result, &t.Error, &t.Attempt, &jobID, &created, &started, &finished, &updated); err != nil {
		return nil, err
	}
	t.Progress = newProgress(done, total, message)
	t.Progress.Bytes = bytes
	if t.State == StateRunning {
		t.Progress.ETA = fromMicrosPtr(eta)
	}
	if result != nil {
		t.Result = json.RawMessage(*result)
	}
	if jobID != nil {
		t.jobID = *jobID
	}
	t.CreatedAt = fromMicros(created)
	t.UpdatedAt = fromMicros(updated)
	t.StartedAt = fromMicrosPtr(started)
	t.FinishedAt = fromMicrosPtr(finished)
	return &t, nil
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromMicrosPtr(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := fromMicros(*us)
	return &t
}

// Enqueue creates a queued task of owner and its River job in one
// transaction: either both exist afterwards or neither does. args gets the
// new task's id. The kind's MaxAttempts applies.
func (s *Store) Enqueue(ctx context.Context, owner, title string, args TaskArgs) (*Task, error) {
	if owner == "" {
		return nil, fmt.Errorf("enqueue: %w: empty owner", ErrInvalid)
	}
	if args == nil {
		return nil, fmt.Errorf("enqueue: %w: nil args", ErrInvalid)
	}
	kind := args.Kind()
	id := newID()
	args.SetTaskID(id)
	now := nowMicros()

	tx, err := s.be.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", kind, err)
	}
	defer rollback(ctx, tx)
	if err := s.checkLimits(ctx, tx, owner); err != nil {
		return nil, err
	}
	// The job goes first so the task row can name it; neither is visible to
	// anyone (River's workers included) before the commit, and a failure of
	// either takes both back (the rollback above).
	jobID, err := tx.insertJob(ctx, args, &river.InsertOpts{MaxAttempts: s.cfg.maxAttemptsFor(kind)})
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: insert job: %w", kind, err)
	}
	t, err := scanTask(tx.queryRow(ctx, `INSERT INTO herald_tasks (id, owner, kind, title, state, job_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+taskColumns, id, owner, kind, title, StateQueued, jobID, now, now))
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: insert task: %w", kind, err)
	}
	if err := tx.commit(ctx); err != nil {
		return nil, fmt.Errorf("enqueue %s: commit: %w", kind, err)
	}
	s.taskUpdated(ctx, t)
	return t, nil
}

// Get returns owner's task id, or ErrNotFound (also for another owner's).
func (s *Store) Get(ctx context.Context, owner, id string) (*Task, error) {
	return s.get(ctx, s.be, owner, id)
}

// GetAny returns any owner's task id, for administrators.
func (s *Store) GetAny(ctx context.Context, id string) (*Task, error) {
	return s.get(ctx, s.be, "", id)
}

// get reads a task; owner "" means any owner.
func (s *Store) get(ctx context.Context, q querier, owner, id string) (*Task, error) {
	t, err := scanTask(q.queryRow(ctx, `SELECT `+taskColumns+` FROM herald_tasks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || err == nil && owner != "" && t.Owner != owner {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get task %q: %w", id, err)
	}
	return t, nil
}

// List limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// ListOptions select a page of tasks.
type ListOptions struct {
	// State keeps only tasks in that state; "" keeps all.
	State State
	// Limit is the page size: 0 means DefaultListLimit, larger than
	// MaxListLimit means MaxListLimit.
	Limit int
	// Cursor is TaskPage.Next of the previous page; "" is the first page.
	Cursor string
}

// TaskPage is one page of tasks, newest first.
type TaskPage struct {
	Tasks []*Task `json:"tasks"`
	// Next is the cursor of the following page, "" on the last page.
	Next string `json:"next,omitempty"`
}

// List returns owner's tasks, newest first, a page at a time. A malformed
// cursor or state is an error wrapping ErrInvalid.
func (s *Store) List(ctx context.Context, owner string, opts ListOptions) (*TaskPage, error) {
	if opts.State != "" && !opts.State.valid() {
		return nil, invalidf(`Unknown state %q: use queued, running, succeeded, failed or cancelled.`, opts.State)
	}
	limit := opts.Limit
	switch {
	case limit < 0:
		return nil, invalidf(`"limit" must not be negative.`)
	case limit == 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	q := `SELECT ` + taskColumns + ` FROM herald_tasks WHERE owner = ?`
	args := []any{owner}
	if opts.State != "" {
		q += ` AND state = ?`
		args = append(args, opts.State)
	}
	if opts.Cursor != "" {
		at, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, at, at, id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rs, err := s.be.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer rs.Close()
	page := &TaskPage{Tasks: make([]*Task, 0, limit)}
	for rs.Next() {
		t, err := scanTask(rs)
		if err != nil {
			return nil, fmt.Errorf("list tasks: %w", err)
		}
		page.Tasks = append(page.Tasks, t)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	if len(page.Tasks) > limit {
		page.Tasks = page.Tasks[:limit]
		last := page.Tasks[limit-1]
		page.Next = encodeCursor(last.CreatedAt.UnixMicro(), last.ID)
	}
	return page, nil
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", invalidf(`"cursor" is not one this server gave out: use the "next" of the previous page.`)
	}
	at, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", invalidf(`"cursor" is not one this server gave out: use the "next" of the previous page.`)
	}
	return n, id, nil
}

// AmendResult changes the result of a succeeded task after the fact (the
// export retention sweep marks a deleted file so): every key of patch is
// set in the task's JSON result object (a nil value removes the key), the
// progress message becomes message, and the owner is told with taskUpdated.
// It returns ErrNotFound for a missing task and ErrInvalid for one that has
// not succeeded.
func (s *Store) AmendResult(ctx context.Context, id string, patch map[string]any, message string) (*Task, error) {
	tx, err := s.be.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("amend task %q: %w", id, err)
	}
	defer rollback(ctx, tx)
	t, err := s.get(ctx, tx, "", id)
	if err != nil {
		return nil, err
	}
	if t.State != StateSucceeded {
		return nil, fmt.Errorf("amend task %q: %w: it is %s, not succeeded", id, ErrInvalid, t.State)
	}
	result := map[string]any{}
	if len(t.Result) > 0 {
		if err := json.Unmarshal(t.Result, &result); err != nil {
			return nil, fmt.Errorf("amend task %q: its result is not a JSON object: %w", id, err)
		}
	}
	for k, v := range patch {
		if v == nil {
			delete(result, k)
		} else {
			result[k] = v
		}
	}
	b, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("amend task %q: %w", id, err)
	}
	t, err = scanTask(tx.queryRow(ctx, `UPDATE herald_tasks SET result = ?, progress_message = ?, updated_at = ?
		WHERE id = ? RETURNING `+taskColumns, string(b), message, nowMicros(), id))
	if err != nil {
		return nil, fmt.Errorf("amend task %q: %w", id, err)
	}
	if err := tx.commit(ctx); err != nil {
		return nil, fmt.Errorf("amend task %q: commit: %w", id, err)
	}
	s.taskUpdated(ctx, t)
	return t, nil
}
