// Package jobs runs Herald's durable background tasks on River, with SQLite (embedded, the
// default) or PostgreSQL (scale-out) underneath.
//
// # Tasks and jobs
//
// A [Task] is the user's record of a piece of work: who owns it, its [State] (queued, running,
// succeeded, failed, cancelled), its [Progress], its result and a user-safe error. Each task has
// exactly one River job that does the work. A task kind is a River job kind whose arguments
// implement [TaskArgs], and whose worker wraps its work in [Store.Run]:
//
//	type ReportArgs struct {
//		TaskID string `json:"taskId"`
//		Month  string `json:"month"`
//	}
//	func (ReportArgs) Kind() string          { return "report" }
//	func (a *ReportArgs) SetTaskID(id string) { a.TaskID = id }
//
//	type reportWorker struct {
//		river.WorkerDefaults[ReportArgs]
//		store *jobs.Store
//	}
//	func (w *reportWorker) Work(ctx context.Context, j *river.Job[ReportArgs]) error {
//		return w.store.Run(ctx, j.Args.TaskID, func(ctx context.Context, r *jobs.Reporter) (any, error) {
//			r.Report(1, 2, "Half way")
//			return map[string]string{"month": j.Args.Month}, nil
//		})
//	}
//
// Workers are added when the store opens, by a [RegisterFunc]; [Store.Enqueue] then writes the
// task row and its job in one transaction, so a task is never half created:
//
//	store, _ := jobs.Open(ctx, jobs.Config{}, func(s *jobs.Store, w *river.Workers) error {
//		return river.AddWorkerSafely(w, &reportWorker{store: s})
//	})
//	_ = store.Start(ctx)
//	task, _ := store.Enqueue(ctx, "alice", "Report for May", &ReportArgs{Month: "2026-05"})
//
// # What Run keeps in step
//
// Run marks the task running, throttles what the [Reporter] reports (Config.ProgressInterval)
// while the final state is always written, and ends the task: succeeded with the work's result,
// failed with a [UserError]'s message (or a generic one: internal error texts are logged, never
// shown), or queued again for River to retry an error that is not [Permanent]. A task's end
// stores a [Notification] in the owner's inbox in the same statement or transaction. Cancel
// ([Store.Cancel]) reaches a running task's context in this process at once and in other
// processes within half a second.
//
// # Telling users
//
// The store tells a [Notifier] (set with [Store.SetNotifier]) of every state change, progress
// step and notification; package app wires it to the hub, which pushes taskUpdated and
// notification to every connection of the owner. This package knows nothing of the hub.
//
// # Surviving a dead process
//
// Running tasks heartbeat every Config.RescueAfter/4; River's rescuer hands a task whose process
// died (no heartbeat for RescueAfter) to another worker, and Run resumes it as a new attempt.
// Stop gives running tasks a grace period and then puts them back in the queue.
//
// # Schema
//
// River's migrations run first, then Herald's own steps, embedded from migrations/sqlite and
// migrations/postgres (one NNN_what.sql file per step, the same numbers in both), applied once
// each, in order, by Open and by [Migrate]; processes starting at once take turns.
package jobs
