package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// A user's feed: every taskUpdated, notification and notificationsRead the notifications hub pushes
// to a user is numbered (seq, 1, 2, 3, … per user, whichever node or worker sends it) and kept, the
// last feedKeep of them for feedTTL after the user's last one, in the cluster's Store (Redis Streams
// with --redis, memory on one node). A page that missed some (its node died, the server restarted,
// a reconnect without stateful reconnect) calls the hub method Missed with the last seq it saw and
// gets what came after, in order; when the feed no longer reaches back that far (complete false)
// it fetches the task list and the inbox instead.

const (
	// feedKeep bounds a user's feed: several minutes of progress of a few exports at once.
	feedKeep = 200
	// feedTTL is how long a feed is kept after its last message.
	feedTTL = time.Hour
)

// feed numbers and keeps what is pushed to users.
type feed struct{ store backplane.Store }

func feedKey(user string) string { return "feed:" + user }

// feedEntry is what the Store keeps of one message: its target and argument.
type feedEntry struct {
	Target string          `json:"t"`
	Arg    json.RawMessage `json:"a"`
}

// append numbers a message to user and keeps it; 0 when the Store failed (the message still goes
// out live, unnumbered, and the page refetches on its next gap).
func (f feed) append(ctx context.Context, user, target string, arg any) (int64, error) {
	raw, err := json.Marshal(arg)
	if err != nil {
		return 0, err
	}
	value, err := json.Marshal(feedEntry{Target: target, Arg: raw})
	if err != nil {
		return 0, err
	}
	return f.store.LogAppend(ctx, feedKey(user), value, feedKeep, feedTTL)
}

// MissedMessage is one message of a user's feed, as the hub method Missed returns it: the
// argument is the one the target got live, with its seq.
type MissedMessage struct {
	Seq    int64  `json:"seq"`
	Target string `json:"target"`
	Arg    any    `json:"arg"`
}

// Missed is the reply of the hub method Missed.
type Missed struct {
	// Complete is false when the feed does not reach back to the seq asked for (it was trimmed,
	// or expired, or lost with Redis): fetch the task list and the inbox instead.
	Complete bool `json:"complete"`
	// Last is the seq of the user's last message (0: none kept).
	Last     int64           `json:"last"`
	Messages []MissedMessage `json:"messages"`
}

// missed reads user's feed after seq after.
func (f feed) missed(ctx context.Context, user string, after int64) (Missed, error) {
	if after < 0 {
		return Missed{}, &hub.Error{Message: "after must be 0 or more"}
	}
	r, err := f.store.LogSince(ctx, feedKey(user), after, feedKeep)
	if err != nil {
		return Missed{}, fmt.Errorf("read feed: %w", err)
	}
	out := Missed{Last: r.Last, Messages: []MissedMessage{}}
	// Complete when nothing after `after` was dropped: the feed's oldest kept entry comes right
	// after it (or earlier), or nothing came since. A feed numbered below `after` was lost and
	// began again.
	out.Complete = after <= r.Last && (after >= r.Last || r.First > 0 && r.First <= after+1)
	for _, e := range r.Entries {
		var fe feedEntry
		if err := json.Unmarshal(e.Value, &fe); err != nil {
			out.Complete = false
			continue
		}
		var arg map[string]any
		if err := json.Unmarshal(fe.Arg, &arg); err != nil {
			out.Complete = false
			continue
		}
		arg["seq"] = e.Seq
		out.Messages = append(out.Messages, MissedMessage{Seq: e.Seq, Target: fe.Target, Arg: arg})
	}
	return out, nil
}

// registerMissed adds the hub method Missed(after) to the notifications hub.
func (f feed) registerMissed(h *hub.Hub) {
	h.On("Missed", func(c *hub.Context, after int64) (Missed, error) {
		ctx, cancel := context.WithTimeout(c, notifyTimeout)
		defer cancel()
		return f.missed(ctx, c.UserID(), after)
	})
}

// sequencedTask is a task as taskUpdated carries it: with the seq of the user's feed.
type sequencedTask struct {
	*jobs.Task
	Seq int64 `json:"seq"`
}

// sequencedNotification is a notification as the notification target carries it.
type sequencedNotification struct {
	*jobs.Notification
	Seq int64 `json:"seq"`
}

// sequencedReadChange is a read mark as notificationsRead carries it.
type sequencedReadChange struct {
	jobs.ReadChange
	Seq int64 `json:"seq"`
}
