// Package jobs runs Herald's durable background tasks on River, with SQLite
// (embedded, the default) or PostgreSQL (scale-out) underneath.
//
// A task is Herald's user-facing record of a piece of work (herald_tasks):
// who owns it, its state, progress, result and a user-safe error. Each task
// has exactly one River job that does the work; Store.Enqueue writes both in
// one transaction. Workers wrap their work in Store.Run, which keeps the task
// row in step with the job (running, progress, succeeded, failed,
// cancelled, queued again for a retry), stores a Notification in the owner's
// inbox (herald_notifications) on success and failure, and tells the app
// through its Notifier so the hub can push the change to the owner's pages.
//
// Files: config.go (Config), store.go (Open, Migrate, Start, Stop and the
// River setup, including how long tasks are told from dead ones), task.go
// (Task, Enqueue, Get, List), cancel.go (Cancel), run.go (Run, Reporter,
// heartbeat), notification.go (Notification, Notifier, the inbox),
// errors.go, demo.go (the demo task kind), backend*.go (the two databases
// behind one small internal interface).
package jobs
