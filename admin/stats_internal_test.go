package admin

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/jobs"
)

func TestExportOf(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	task := jobs.RunningTask{
		Task: &jobs.Task{ID: "t1", Owner: "alice", Title: "Orders", StartedAt: &started,
			Progress: jobs.Progress{Done: 1000, Total: 4000, Percent: 25, Bytes: 2048}},
		Args: json.RawMessage(`{"taskId":"t1","request":{"dataset":"orders","format":"csv"}}`),
	}
	e := exportOf(task, started.Add(2*time.Second))
	require.Equal(t, Export{ID: "t1", User: "alice", Title: "Orders", Dataset: "orders", Format: "csv", Rows: 1000, Total: 4000,
		Percent: 25, Bytes: 2048, RowsPerSecond: 500, BytesPerSecond: 1024, StartedAt: started}, e)
	task.Args, task.StartedAt = nil, nil
	e = exportOf(task, started)
	require.Empty(t, e.Dataset, "no job arguments: no dataset, no failure")
	require.Zero(t, e.RowsPerSecond)
}
