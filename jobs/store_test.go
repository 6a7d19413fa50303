package jobs

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		require.NoError(t, Migrate(ctx, cfg))
		require.NoError(t, Migrate(ctx, cfg))
		b := setup(t, cfg, false)
		b2 := setup(t, cfg, false) // Open migrates again
		var n int
		require.NoError(t, b2.store.be.queryRow(ctx, `SELECT COUNT(*) FROM herald_migrations`).Scan(&n))
		require.Equal(t, len(b.store.d.migrations), n)
	})
}

// Several processes starting at once on a new database all migrate it.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		errs := make(chan error, 4)
		for range 4 {
			go func() { errs <- Migrate(context.Background(), cfg) }()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
	})
}

// badArgs cannot be encoded, so River's insert fails and nothing may remain.
type badArgs struct {
	TaskID string   `json:"taskId"`
	Bad    chan int `json:"bad"`
}

func (badArgs) Kind() string           { return "herald_bad" }
func (a *badArgs) SetTaskID(id string) { a.TaskID = id }

func countJobs(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	require.NoError(t, s.be.queryRow(context.Background(), `SELECT COUNT(*) FROM river_job`).Scan(&n))
	return n
}

func TestEnqueueIsAtomic(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)

		_, err := b.store.Enqueue(ctx, "alice", "bad", &badArgs{Bad: make(chan int)})
		require.Error(t, err)
		page, err := b.store.List(ctx, "alice", ListOptions{})
		require.NoError(t, err)
		require.Empty(t, page.Tasks)
		require.Zero(t, countJobs(t, b.store))

		_, err = b.store.Enqueue(ctx, "", "no owner", &DemoArgs{Steps: 1})
		require.ErrorIs(t, err, ErrInvalid)

		task, err := b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		require.Equal(t, StateQueued, task.State)
		require.Equal(t, DemoKind, task.Kind)
		require.Equal(t, 1, countJobs(t, b.store))
		var args string
		argsSQL := `SELECT CAST(args AS TEXT) FROM river_job WHERE id = ?`
		if b.store.d == sqliteDialect {
			argsSQL = `SELECT json(args) FROM river_job WHERE id = ?` // River stores SQLite JSONB
		}
		require.NoError(t, b.store.be.queryRow(ctx, argsSQL, task.jobID).Scan(&args))
		var decoded DemoArgs
		require.NoError(t, json.Unmarshal([]byte(args), &decoded))
		require.Equal(t, task.ID, decoded.TaskID)
	})
}

func TestDemoSucceeds(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, true)
		task, err := b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 5, StepMs: 30})
		require.NoError(t, err)

		done := waitState(t, b.store, "alice", task.ID, StateSucceeded, 20*time.Second)
		require.Equal(t, Progress{Done: 5, Total: 5, Percent: 100, Message: "Step 5 of 5"}, done.Progress)
		require.JSONEq(t, `{"steps":5}`, string(done.Result))
		require.Equal(t, 1, done.Attempt)
		require.Empty(t, done.Error)
		require.NotNil(t, done.StartedAt)
		require.NotNil(t, done.FinishedAt)

		// The end is pushed to the notifier once it is recorded: waitState may read it first.
		require.Eventually(t, func() bool {
			u := b.rec.updatesOf(task.ID)
			return len(u) > 0 && u[len(u)-1].State == StateSucceeded && len(b.rec.notesOf(task.ID)) > 0
		}, 10*time.Second, 10*time.Millisecond, "final state is notified")
		updates := b.rec.updatesOf(task.ID)
		var running, progress int
		for _, u := range updates {
			if u.State == StateRunning {
				running++
				if u.Progress.Done > 0 && u.Progress.Done < 5 {
					progress++
				}
			}
		}
		require.Positive(t, running)
		require.Positive(t, progress, "progress updates are notified")

		notes := b.rec.notesOf(task.ID)
		require.Len(t, notes, 1)
		require.Equal(t, LevelSuccess, notes[0].Level)
		inbox, err := b.store.Notifications(ctx, "alice", true, 0)
		require.NoError(t, err)
		require.Len(t, inbox, 1)
		require.Equal(t, task.ID, inbox[0].TaskID)
	})
}

func TestDemoFailsAtStep(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, true)
		task, err := b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 3, StepMs: 10, FailAtStep: 2})
		require.NoError(t, err)

		failed := waitState(t, b.store, "alice", task.ID, StateFailed, 20*time.Second)
		require.Equal(t, "Failed at step 2 of 3.", failed.Error)
		require.Equal(t, 1, failed.Attempt, "a permanent error is not retried")
		require.Nil(t, failed.Result)

		require.Eventually(t, func() bool { return len(b.rec.notesOf(task.ID)) == 1 }, 5*time.Second, 10*time.Millisecond)
		n := b.rec.notesOf(task.ID)[0]
		require.Equal(t, LevelError, n.Level)
		require.Equal(t, "Failed at step 2 of 3.", n.Body)
		inbox, err := b.store.Notifications(ctx, "alice", false, 10)
		require.NoError(t, err)
		require.Len(t, inbox, 1)
	})
}

func TestCancelRunningInterrupts(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		worker := setup(t, cfg, true)
		// other is a second process on the same database, running nothing:
		// its cancel must reach the worker through the database.
		other := setup(t, cfg, false)

		for _, canceller := range []*Store{worker.store, other.store} {
			task, err := worker.store.Enqueue(ctx, "alice", "Long", &DemoArgs{Steps: 1000, StepMs: 100})
			require.NoError(t, err)
			waitState(t, worker.store, "alice", task.ID, StateRunning, 20*time.Second)
			require.Eventually(t, func() bool { return worker.store.runsHere(task.ID) }, 5*time.Second, 5*time.Millisecond)

			cancelled, err := canceller.Cancel(ctx, "alice", task.ID)
			require.NoError(t, err)
			require.Equal(t, StateCancelled, cancelled.State)
			require.Eventually(t, func() bool { return !worker.store.runsHere(task.ID) }, time.Second, 5*time.Millisecond,
				"the running task stops within a second")

			got, err := worker.store.Get(ctx, "alice", task.ID)
			require.NoError(t, err)
			require.Equal(t, StateCancelled, got.State)
			require.Empty(t, worker.rec.notesOf(task.ID), "a cancel stores no notification")

			_, err = canceller.Cancel(ctx, "alice", task.ID)
			require.ErrorIs(t, err, ErrFinished)
		}
	})
}

// A cancelled task does not keep its running message ("5 rows exported" claims a result the
// cancel threw away): it says "Cancelled.", or what its work reported once it had stopped.
func TestCancelKeepsWhereTheWorkStopped(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		for _, lastWords := range []bool{true, false} {
			task, err := b.store.Enqueue(ctx, "alice", "Count", &DemoArgs{Steps: 1})
			require.NoError(t, err)
			reported, errc := make(chan struct{}), make(chan error, 1)
			go func() {
				errc <- b.store.Run(ctx, task.ID, func(ctx context.Context, r *Reporter) (any, error) {
					require.Eventually(t, func() bool {
						r.Update(5, 10, 500, "5 things done")
						got, err := b.store.Get(ctx, "alice", task.ID)
						require.NoError(t, err)
						return got.Progress.Message == "5 things done"
					}, 5*time.Second, 5*time.Millisecond)
					close(reported)
					<-ctx.Done()
					if lastWords {
						r.Update(6, 10, 600, "Cancelled after 6 things")
					}
					return nil, ctx.Err()
				})
			}()
			<-reported
			cancelled, err := b.store.Cancel(ctx, "alice", task.ID)
			require.NoError(t, err)
			require.Equal(t, StateCancelled, cancelled.State)
			require.Equal(t, CancelledMessage, cancelled.Progress.Message, "the cancel does not repeat the running message")
			require.Error(t, <-errc)

			got, err := b.store.Get(ctx, "alice", task.ID)
			require.NoError(t, err)
			require.Equal(t, StateCancelled, got.State)
			require.Nil(t, got.Progress.ETA, "a cancelled task has no estimated end")
			updates := b.rec.updatesOf(task.ID)
			last := updates[len(updates)-1]
			if !lastWords {
				require.Equal(t, CancelledMessage, got.Progress.Message)
				require.EqualValues(t, 5, got.Progress.Done, "the progress stored before the cancel stays")
				continue
			}
			require.Equal(t, "Cancelled after 6 things", got.Progress.Message)
			require.EqualValues(t, 6, got.Progress.Done)
			require.EqualValues(t, 600, got.Progress.Bytes)
			require.Equal(t, got.Progress.Message, last.Progress.Message, "the owner's pages hear it")
			require.Equal(t, StateCancelled, last.State)
		}
	})
}

func TestCancelQueuedAndFinished(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		task, err := b.store.Enqueue(ctx, "alice", "Queued", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		_, err = b.store.Cancel(ctx, "alice", task.ID)
		require.NoError(t, err)
		var jobState string
		require.NoError(t, b.store.be.queryRow(ctx, `SELECT CAST(state AS TEXT) FROM river_job WHERE id = ?`, task.jobID).Scan(&jobState))
		require.Equal(t, "cancelled", jobState)
		_, err = b.store.Cancel(ctx, "alice", task.ID)
		require.ErrorIs(t, err, ErrFinished)
	})
}

func TestOtherOwnersTaskIsNotFound(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		task, err := b.store.Enqueue(ctx, "alice", "Mine", &DemoArgs{Steps: 1})
		require.NoError(t, err)

		_, err = b.store.Get(ctx, "bob", task.ID)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = b.store.Cancel(ctx, "bob", task.ID)
		require.ErrorIs(t, err, ErrNotFound)
		_, err = b.store.Get(ctx, "alice", "no-such-task")
		require.ErrorIs(t, err, ErrNotFound)
		page, err := b.store.List(ctx, "bob", ListOptions{})
		require.NoError(t, err)
		require.Empty(t, page.Tasks)

		got, err := b.store.GetAny(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, "alice", got.Owner)
		still, err := b.store.Get(ctx, "alice", task.ID)
		require.NoError(t, err)
		require.Equal(t, StateQueued, still.State, "bob's cancel changed nothing")
	})
}

func TestListPagingAndFilter(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		var ids []string
		for range 7 {
			task, err := b.store.Enqueue(ctx, "alice", "Task", &DemoArgs{Steps: 1})
			require.NoError(t, err)
			ids = append(ids, task.ID)
		}
		_, err := b.store.Enqueue(ctx, "bob", "Not alice's", &DemoArgs{Steps: 1})
		require.NoError(t, err)

		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 4)
			page, err := b.store.List(ctx, "alice", ListOptions{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Tasks), 3)
			for _, tk := range page.Tasks {
				got = append(got, tk.ID)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		want := make([]string, len(ids))
		for i, id := range ids {
			want[len(ids)-1-i] = id
		}
		require.Equal(t, want, got, "newest first, every task once")

		for _, id := range ids[:2] {
			_, err := b.store.Cancel(ctx, "alice", id)
			require.NoError(t, err)
		}
		page, err := b.store.List(ctx, "alice", ListOptions{State: StateCancelled})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 2)
		page, err = b.store.List(ctx, "alice", ListOptions{State: StateQueued})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 5)

		_, err = b.store.List(ctx, "alice", ListOptions{Cursor: "%%%"})
		require.ErrorIs(t, err, ErrInvalid)
		_, err = b.store.List(ctx, "alice", ListOptions{State: "sleeping"})
		require.ErrorIs(t, err, ErrInvalid)
		_, err = b.store.List(ctx, "alice", ListOptions{Limit: -1})
		require.ErrorIs(t, err, ErrInvalid)
	})
}

func TestNotificationsMarkRead(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		var ids []string
		for _, title := range []string{"one", "two", "three"} {
			n := &Notification{Owner: "alice", Title: title}
			require.NoError(t, b.store.AddNotification(ctx, n))
			ids = append(ids, n.ID)
		}
		require.Len(t, b.rec.notes, 3)

		read, err := b.store.MarkRead(ctx, "alice", ids[1])
		require.NoError(t, err)
		require.NotNil(t, read.ReadAt)
		again, err := b.store.MarkRead(ctx, "alice", ids[1])
		require.NoError(t, err)
		require.Equal(t, read.ReadAt, again.ReadAt, "marking read twice keeps the first time")
		_, err = b.store.MarkRead(ctx, "bob", ids[0])
		require.ErrorIs(t, err, ErrNotFound)

		unread, err := b.store.Notifications(ctx, "alice", true, 0)
		require.NoError(t, err)
		require.Len(t, unread, 2)
		require.Equal(t, ids[2], unread[0].ID, "newest first")
		require.Equal(t, ids[0], unread[1].ID)
		all, err := b.store.Notifications(ctx, "alice", false, 0)
		require.NoError(t, err)
		require.Len(t, all, 3)
		none, err := b.store.Notifications(ctx, "bob", false, 0)
		require.NoError(t, err)
		require.Empty(t, none)
	})
}

// A task that runs longer than RescueAfter (and so than River's job
// timeout) keeps its job alive by heartbeat and is neither cut nor retried.
func TestLongTaskHeartbeats(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		cfg.RescueAfter = time.Second
		b := setup(t, cfg, true)
		task, err := b.store.Enqueue(ctx, "alice", "Long", &DemoArgs{Steps: 25, StepMs: 100})
		require.NoError(t, err)
		waitState(t, b.store, "alice", task.ID, StateRunning, 20*time.Second)

		attemptedAt := func() string {
			var at string
			require.NoError(t, b.store.be.queryRow(ctx, `SELECT CAST(attempted_at AS TEXT) FROM river_job WHERE id = ?`, task.jobID).Scan(&at))
			return at
		}
		first := attemptedAt()
		require.Eventually(t, func() bool { return attemptedAt() != first }, 2*time.Second, 50*time.Millisecond, "heartbeat moves attempted_at")

		done := waitState(t, b.store, "alice", task.ID, StateSucceeded, 20*time.Second)
		require.Equal(t, 1, done.Attempt)
	})
}

func TestProgressBytesAndETA(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		task, err := b.store.Enqueue(ctx, "alice", "Export", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		err = b.store.Run(ctx, task.ID, func(ctx context.Context, r *Reporter) (any, error) {
			r.Update(10, 100, 1000, "Working")
			require.Eventually(t, func() bool {
				r.Update(20, 100, 2000, "Working")
				got, err := b.store.Get(ctx, "alice", task.ID)
				require.NoError(t, err)
				return got.Progress.Bytes == 2000
			}, 5*time.Second, 5*time.Millisecond, "an update is stored after the progress interval")
			got, err := b.store.Get(ctx, "alice", task.ID)
			require.NoError(t, err)
			require.Equal(t, int64(20), got.Progress.Done)
			require.NotNil(t, got.Progress.ETA, "a running task with a total has an estimated end")
			require.True(t, got.Progress.ETA.After(time.Now().Add(-time.Second)))
			return nil, nil
		})
		require.NoError(t, err)
		done, err := b.store.Get(ctx, "alice", task.ID)
		require.NoError(t, err)
		require.Equal(t, StateSucceeded, done.State)
		require.Equal(t, int64(2000), done.Progress.Bytes, "the final progress keeps the bytes")
		require.Nil(t, done.Progress.ETA, "a finished task has no estimated end")
	})
}
