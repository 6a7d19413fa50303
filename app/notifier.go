package app

import (
	"context"
	"log/slog"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// hubNotifier pushes task changes, notifications and read marks to every connection of the owner on the
// notifications hub, on every node, each numbered in the owner's feed (feed.go). Sending only
// publishes (the backplane delivers), and is bounded by notifyTimeout, so it never holds a task for
// long.
type hubNotifier struct {
	h    *hub.Hub
	feed feed
	log  *slog.Logger
}

var _ jobs.Notifier = hubNotifier{}

func (n hubNotifier) TaskUpdated(ctx context.Context, t *jobs.Task) {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	seq := n.number(ctx, t.Owner, "taskUpdated", t)
	if err := n.h.Clients().User(t.Owner).Send(ctx, "taskUpdated", sequencedTask{Task: t, Seq: seq}); err != nil {
		n.log.Warn("push taskUpdated", "task", t.ID, "err", err)
	}
}

func (n hubNotifier) Notify(ctx context.Context, note *jobs.Notification) {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	seq := n.number(ctx, note.Owner, "notification", note)
	if err := n.h.Clients().User(note.Owner).Send(ctx, "notification", sequencedNotification{Notification: note, Seq: seq}); err != nil {
		n.log.Warn("push notification", "notification", note.ID, "err", err)
	}
}

// number keeps a message in user's feed and returns its seq; 0 when the feed failed (the message
// goes out live anyway, and the page catches up from the task list and the inbox).
func (n hubNotifier) number(ctx context.Context, user, target string, arg any) int64 {
	seq, err := n.feed.append(ctx, user, target, arg)
	if err != nil {
		n.log.Warn("number a message in the user's feed", "target", target, "err", err)
		return 0
	}
	return seq
}

// NotificationsRead tells every page of owner which notifications were read and the unread
// count, so that the bell agrees across tabs. It is numbered in the feed like the others: a page
// that catches up through Missed learns what another tab marked read meanwhile.
func (n hubNotifier) NotificationsRead(ctx context.Context, owner string, r jobs.ReadChange) {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	seq := n.number(ctx, owner, "notificationsRead", r)
	if err := n.h.Clients().User(owner).Send(ctx, "notificationsRead", sequencedReadChange{ReadChange: r, Seq: seq}); err != nil {
		n.log.Warn("push notificationsRead", "err", err)
	}
}
