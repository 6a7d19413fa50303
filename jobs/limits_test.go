package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func requireLimit(t *testing.T, err error, limit string) *LimitError {
	t.Helper()
	var le *LimitError
	require.True(t, errors.As(err, &le), "want a LimitError, got %v", err)
	require.ErrorIs(t, err, ErrLimit)
	require.Equal(t, limit, le.Limit)
	require.Positive(t, le.RetryAfter)
	require.NotEmpty(t, le.Message)
	return le
}

// A refused task changes nothing: no task, no job.
func TestLimitsRefuseAndChangeNothing(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		cfg.Limits = Limits{PerMinute: 3, Active: -1, StoredBytes: -1}
		b := setup(t, cfg, false)
		for range 3 {
			_, err := b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
			require.NoError(t, err)
		}
		jobs := countJobs(t, b.store)
		_, err := b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		le := requireLimit(t, err, "tasks_per_minute")
		require.LessOrEqual(t, le.RetryAfter, time.Minute)
		require.Equal(t, jobs, countJobs(t, b.store), "no job was added")
		page, err := b.store.List(ctx, "alice", ListOptions{})
		require.NoError(t, err)
		require.Len(t, page.Tasks, 3, "no task was added")
		_, err = b.store.Enqueue(ctx, "bob", "Demo", &DemoArgs{Steps: 1})
		require.NoError(t, err, "another owner is not limited by alice's tasks")
	})
}

func TestLimitActiveTasks(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		cfg.Limits = Limits{PerMinute: -1, Active: 2, StoredBytes: -1}
		b := setup(t, cfg, false)
		first, err := b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		_, err = b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		_, err = b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		requireLimit(t, err, "active_tasks")
		_, err = b.store.Cancel(ctx, "alice", first.ID)
		require.NoError(t, err)
		_, err = b.store.Enqueue(ctx, "alice", "Demo", &DemoArgs{Steps: 1})
		require.NoError(t, err, "a cancelled task frees its place")
	})
}

func TestLimitStoredBytes(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		cfg.Limits = Limits{PerMinute: -1, Active: -1, StoredBytes: 1500}
		b := setup(t, cfg, false)
		for i := range 2 {
			task, err := b.store.Enqueue(ctx, "alice", "Export", &DemoArgs{Steps: 1})
			require.NoError(t, err, "export %d", i)
			require.NoError(t, b.store.Run(ctx, task.ID, func(ctx context.Context, r *Reporter) (any, error) {
				r.Update(1, 1, 1000, "Written")
				return map[string]any{"downloadUrl": "/x"}, nil
			}))
		}
		_, err := b.store.Enqueue(ctx, "alice", "Export", &DemoArgs{Steps: 1})
		requireLimit(t, err, "stored_bytes")
	})
}

// One owner's backlog does not take every worker: with 2 workers and 1 running task per owner,
// bob's task runs while alice's queue waits.
func TestLimitRunningLeavesWorkersToOthers(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		cfg.Workers = 2
		cfg.Limits = Limits{Running: 1}
		b := setup(t, cfg, true)
		var alice []string
		for range 3 {
			task, err := b.store.Enqueue(ctx, "alice", "Long", &DemoArgs{Steps: 100, StepMs: 100})
			require.NoError(t, err)
			alice = append(alice, task.ID)
		}
		running := func() int {
			page, err := b.store.List(ctx, "alice", ListOptions{State: StateRunning})
			require.NoError(t, err)
			return len(page.Tasks)
		}
		require.Eventually(t, func() bool { return running() == 1 }, 10*time.Second, 10*time.Millisecond)
		time.Sleep(500 * time.Millisecond) // River has fetched alice's others meanwhile
		require.Equal(t, 1, running(), "alice never runs more than one at once")
		bob, err := b.store.Enqueue(ctx, "bob", "Short", &DemoArgs{Steps: 2, StepMs: 10})
		require.NoError(t, err)
		waitState(t, b.store, "bob", bob.ID, StateSucceeded, 5*time.Second)
		require.Equal(t, 1, running(), "bob's task ran beside alice's, which still runs")
		for _, id := range alice {
			_, _ = b.store.Cancel(ctx, "alice", id)
		}
	})
}
