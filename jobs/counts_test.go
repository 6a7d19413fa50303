package jobs

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCountByStateAndRunning(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, cfg Config) {
		ctx := context.Background()
		b := setup(t, cfg, false)
		counts, err := b.store.CountByState(ctx)
		require.NoError(t, err)
		require.Equal(t, map[State]int64{StateQueued: 0, StateRunning: 0, StateSucceeded: 0, StateFailed: 0, StateCancelled: 0}, counts)

		long, err := b.store.Enqueue(ctx, "alice", "Long", &DemoArgs{Steps: 1000, StepMs: 1000})
		require.NoError(t, err)
		cancelled, err := b.store.Enqueue(ctx, "bob", "Cancelled", &DemoArgs{Steps: 1})
		require.NoError(t, err)
		_, err = b.store.Cancel(ctx, "bob", cancelled.ID)
		require.NoError(t, err)
		running, err := b.store.Running(ctx, "", 0)
		require.NoError(t, err)
		require.Empty(t, running)

		require.NoError(t, b.store.Start(ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, b.store.Stop(ctx))
		})
		waitState(t, b.store, "alice", long.ID, StateRunning, 10*time.Second)
		counts, err = b.store.CountByState(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), counts[StateRunning])
		require.Equal(t, int64(1), counts[StateCancelled])
		require.Equal(t, int64(0), counts[StateQueued])

		running, err = b.store.Running(ctx, DemoKind, 0)
		require.NoError(t, err)
		require.Len(t, running, 1)
		require.Equal(t, long.ID, running[0].ID)
		require.NotNil(t, running[0].StartedAt)
		var args DemoArgs
		require.NoError(t, json.Unmarshal(running[0].Args, &args), string(running[0].Args))
		require.Equal(t, 1000, args.Steps)
		other, err := b.store.Running(ctx, "herald_export", 0)
		require.NoError(t, err)
		require.Empty(t, other, "the kind filters")
		_, err = b.store.Cancel(ctx, "alice", long.ID)
		require.NoError(t, err)
	})
}
