package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
)

type flakyArgs struct {
	TaskID string `json:"taskId"`
}

func (flakyArgs) Kind() string           { return "herald_test_flaky" }
func (a *flakyArgs) SetTaskID(id string) { a.TaskID = id }

// flakyWorker always fails with a retryable error.
type flakyWorker struct {
	river.WorkerDefaults[flakyArgs]
	store *Store
}

func (w *flakyWorker) Work(ctx context.Context, job *river.Job[flakyArgs]) error {
	return w.store.Run(ctx, job.Args.TaskID, func(context.Context, *Reporter) (any, error) {
		return nil, errors.New("internal: connection reset by peer")
	})
}

func TestRetryableErrorRetriesThenFails(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		cfg.MaxAttemptsByKind = map[string]int{"herald_test_flaky": 2}
		s, err := Open(ctx, cfg, func(s *Store, w *river.Workers) error {
			return river.AddWorkerSafely(w, &flakyWorker{store: s})
		})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		rec := &recorder{}
		s.SetNotifier(rec)
		require.NoError(t, s.Start(ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, s.Stop(ctx))
		})

		task, err := s.Enqueue(ctx, "alice", "Flaky", &flakyArgs{})
		require.NoError(t, err)
		failed := waitState(t, s, "alice", task.ID, StateFailed, 30*time.Second)
		require.Equal(t, 2, failed.Attempt, "retried once, then failed at MaxAttempts")
		require.Equal(t, genericFailure, failed.Error, "the internal error text is not shown")

		var sawRetry bool
		for _, u := range rec.updatesOf(task.ID) {
			sawRetry = sawRetry || u.State == StateQueued && u.Attempt == 1
		}
		require.True(t, sawRetry, "the first failure puts the task back in the queue")
		// The notification is pushed once the failure is recorded: waitState may see the state first.
		require.Eventually(t, func() bool { return len(rec.notesOf(task.ID)) > 0 }, 10*time.Second, 10*time.Millisecond, "a failure notification")
		require.Len(t, rec.notesOf(task.ID), 1, "one failure notification, not one per attempt")
	})
}
