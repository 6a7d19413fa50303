package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStopGivesRunningTasksBoundedTime is what SIGTERM does: Stop waits for
// running tasks while its context lasts, then interrupts the ones still
// running; they go back to the queue and the next worker resumes them.
func TestStopGivesRunningTasksBoundedTime(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		first := setup(t, cfg, false)
		// Like `herald serve`, start with the context that SIGTERM cancels.
		sigCtx, sigterm := context.WithCancel(ctx)
		defer sigterm()
		require.NoError(t, first.store.Start(sigCtx))

		short, err := first.store.Enqueue(ctx, "alice", "Short", &DemoArgs{Steps: 4, StepMs: 100})
		require.NoError(t, err)
		// 10 s: it must still run when the grace period ends, however long a loaded machine takes
		// to see both tasks running (3 s was not enough once in make test).
		long, err := first.store.Enqueue(ctx, "alice", "Long", &DemoArgs{Steps: 100, StepMs: 100})
		require.NoError(t, err)
		for _, id := range []string{short.ID, long.ID} {
			waitState(t, first.store, "alice", id, StateRunning, 20*time.Second)
			require.Eventually(t, func() bool { return first.store.runsHere(id) }, 5*time.Second, 5*time.Millisecond)
		}

		// The grace period outlasts the short task and not the long one.
		grace := 1500 * time.Millisecond
		stopCtx, cancel := context.WithTimeout(ctx, grace)
		defer cancel()
		began := time.Now()
		sigterm()
		require.NoError(t, first.store.Stop(stopCtx))
		require.Less(t, time.Since(began), grace+10*time.Second, "Stop returns soon after its grace period")

		got, err := first.store.Get(ctx, "alice", short.ID)
		require.NoError(t, err)
		require.Equal(t, StateSucceeded, got.State, "a task that ends within the grace period completes")

		got, err = first.store.Get(ctx, "alice", long.ID)
		require.NoError(t, err)
		require.Equal(t, StateQueued, got.State, "an interrupted task goes back to the queue")
		require.Equal(t, "Interrupted; will resume.", got.Progress.Message)
		require.Empty(t, first.rec.notesOf(long.ID), "an interrupted task is not reported as ended")
		require.False(t, first.store.runsHere(long.ID))

		// The next process (here: a new store on the same database) resumes it.
		second := setup(t, cfg, true)
		done := waitState(t, second.store, "alice", long.ID, StateSucceeded, 60*time.Second)
		require.JSONEq(t, `{"steps":100}`, string(done.Result))
		notes, err := second.store.Notifications(ctx, "alice", false, 10)
		require.NoError(t, err)
		var forLong int
		for _, n := range notes {
			if n.TaskID == long.ID {
				forLong++
			}
		}
		require.Equal(t, 1, forLong, "exactly one completion notification")
	})
}
