package jobs

import (
	"context"
	"encoding/json"
	"strings"
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

// The operators' counts read the index on state (migration 4), not the task table.
func TestCountByStateUsesTheStateIndex(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig(t, "sqlite"), false)
	rs, err := b.store.be.query(context.Background(), `EXPLAIN QUERY PLAN SELECT state, COUNT(*) FROM herald_tasks GROUP BY state`)
	require.NoError(t, err)
	defer rs.Close()
	var plan []string
	for rs.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rs.Scan(&id, &parent, &unused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rs.Err())
	require.Contains(t, strings.Join(plan, "\n"), "COVERING INDEX herald_tasks_state")
}
