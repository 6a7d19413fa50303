package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// DemoKind is the kind of the demo task.
const DemoKind = "herald_demo"

// DemoArgs are the demo task's arguments: Steps steps of StepMs
// milliseconds each, failing permanently at step FailAtStep when it is > 0.
type DemoArgs struct {
	TaskID     string `json:"taskId"`
	Steps      int    `json:"steps"`
	StepMs     int    `json:"stepMs"`
	FailAtStep int    `json:"failAtStep,omitempty"`
}

// Kind is River's name of the demo task.
func (DemoArgs) Kind() string { return DemoKind }

// SetTaskID is called by Enqueue.
func (a *DemoArgs) SetTaskID(id string) { a.TaskID = id }

var _ TaskArgs = (*DemoArgs)(nil)

// Validate checks arguments that come from users.
func (a DemoArgs) Validate() error {
	switch {
	case a.Steps < 1 || a.Steps > 10_000:
		return invalidf(`"steps" must be between 1 and 10000.`)
	case a.StepMs < 0 || a.StepMs > 60_000:
		return invalidf(`"stepMs" must be between 0 and 60000.`)
	case a.FailAtStep < 0 || a.FailAtStep > a.Steps:
		return invalidf(`"failAtStep" must be between 0 and "steps".`)
	}
	return nil
}

// DemoResult is what a demo task returns.
type DemoResult struct {
	Steps int `json:"steps"`
}

// DemoWorker runs demo tasks.
type DemoWorker struct {
	river.WorkerDefaults[DemoArgs]
	store *Store
}

func registerDemo(s *Store, w *river.Workers) error {
	return river.AddWorkerSafely(w, &DemoWorker{store: s})
}

// Work sleeps step by step, reporting progress, until done, failed or
// cancelled.
func (w *DemoWorker) Work(ctx context.Context, job *river.Job[DemoArgs]) error {
	a := job.Args
	return w.store.Run(ctx, a.TaskID, func(ctx context.Context, r *Reporter) (any, error) {
		step := time.Duration(a.StepMs) * time.Millisecond
		timer := time.NewTimer(step)
		defer timer.Stop()
		r.Report(0, int64(a.Steps), "Starting")
		for i := 1; i <= a.Steps; i++ {
			timer.Reset(step)
			select {
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			case <-timer.C:
			}
			if i == a.FailAtStep {
				return nil, Permanent(NewUserError(fmt.Sprintf("Failed at step %d of %d.", i, a.Steps),
					errors.New("demo failure requested")))
			}
			r.Report(int64(i), int64(a.Steps), fmt.Sprintf("Step %d of %d", i, a.Steps))
		}
		return DemoResult{Steps: a.Steps}, nil
	})
}
