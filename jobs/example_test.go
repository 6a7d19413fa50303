package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/riverqueue/river"

	"github.com/heraldhq/herald/jobs"
)

// ReportArgs are the arguments of a task kind of the application's: a monthly report.
type ReportArgs struct {
	TaskID string `json:"taskId"`
	Month  string `json:"month"`
}

func (ReportArgs) Kind() string { return "report" }

// SetTaskID is how Enqueue tells the job which task it works for.
func (a *ReportArgs) SetTaskID(id string) { a.TaskID = id }

type reportWorker struct {
	river.WorkerDefaults[ReportArgs]
	store *jobs.Store
}

// Work runs inside Store.Run, which keeps the task's state, progress and result in step.
func (w *reportWorker) Work(ctx context.Context, j *river.Job[ReportArgs]) error {
	return w.store.Run(ctx, j.Args.TaskID, func(ctx context.Context, r *jobs.Reporter) (any, error) {
		for day := 1; day <= 30; day++ {
			r.Report(int64(day), 30, fmt.Sprintf("Day %d of 30", day))
		}
		return map[string]any{"month": j.Args.Month, "orders": 1234}, nil
	})
}

// notifier is where the application hears about tasks (Herald wires it to the hub, which pushes
// taskUpdated and notification to the owner's pages). NopNotifier supplies what it does not hear.
type notifier struct {
	jobs.NopNotifier
	done chan *jobs.Notification
}

func (n notifier) Notify(_ context.Context, note *jobs.Notification) { n.done <- note }

// Define a task kind, enqueue a task for a user, and learn that it finished.
func Example() {
	dir, err := os.MkdirTemp("", "jobs-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// SQLite in dir; a postgres:// DatabaseURL is the same for several processes.
	store, err := jobs.Open(ctx, jobs.Config{DataDir: dir, Logger: quiet}, func(s *jobs.Store, w *river.Workers) error {
		return river.AddWorkerSafely(w, &reportWorker{store: s})
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	n := notifier{done: make(chan *jobs.Notification, 1)}
	store.SetNotifier(n)
	if err := store.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = store.Stop(sctx)
	}()

	task, err := store.Enqueue(ctx, "alice", "Report for May", &ReportArgs{Month: "2026-05"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Title, "is", task.State)

	note := <-n.done // the owner's inbox has it too
	done, err := store.Get(ctx, "alice", task.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(note.Level, note.Title+":", note.Body)
	fmt.Println(done.State, done.Progress.Percent, string(done.Result))
	// Output:
	// Report for May is queued
	// success Report for May: Finished.
	// succeeded 100 {"month":"2026-05","orders":1234}
}
