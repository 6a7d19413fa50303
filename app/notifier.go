package app

import (
	"context"
	"log/slog"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// hubNotifier pushes task changes and notifications to every connection of the owner on the
// notifications hub, on every node. Sending only publishes (the backplane delivers), and is
// bounded by notifyTimeout, so it never holds a task for long.
type hubNotifier struct {
	h   *hub.Hub
	log *slog.Logger
}

var _ jobs.Notifier = hubNotifier{}

func (n hubNotifier) TaskUpdated(ctx context.Context, t *jobs.Task) {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if err := n.h.Clients().User(t.Owner).Send(ctx, "taskUpdated", t); err != nil {
		n.log.Warn("push taskUpdated", "task", t.ID, "err", err)
	}
}

func (n hubNotifier) Notify(ctx context.Context, note *jobs.Notification) {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if err := n.h.Clients().User(note.Owner).Send(ctx, "notification", note); err != nil {
		n.log.Warn("push notification", "notification", note.ID, "err", err)
	}
}
