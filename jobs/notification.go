package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Level is a notification's severity.
type Level string

// Notification levels.
const (
	LevelInfo    Level = "info"
	LevelSuccess Level = "success"
	LevelError   Level = "error"
)

// Notification is a message kept in its owner's inbox and pushed to their
// open pages.
type Notification struct {
	ID        string     `json:"id"`
	Owner     string     `json:"owner"`
	Level     Level      `json:"level"`
	Title     string     `json:"title"`
	Body      string     `json:"body,omitempty"`
	Link      string     `json:"link,omitempty"`
	TaskID    string     `json:"taskId,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ReadAt    *time.Time `json:"readAt,omitempty"`
}

// Notifier hears of every task state change, of throttled progress, and of
// every stored notification; the app implements it with the hub. It is
// called after the change is committed, from the goroutine that made it, so
// it should not block for long. Errors are its own to log.
type Notifier interface {
	TaskUpdated(ctx context.Context, t *Task)
	Notify(ctx context.Context, n *Notification)
	// NotificationsRead hears that owner marked notifications read, so that every open page
	// of theirs shows the same unread count.
	NotificationsRead(ctx context.Context, owner string, r ReadChange)
}

// ReadChange says which notifications of a user were just marked read, and how many of theirs
// remain unread afterwards.
type ReadChange struct {
	// IDs are the notifications marked read; empty when All.
	IDs []string `json:"ids,omitempty"`
	// All says every notification of the user was marked read.
	All bool `json:"all,omitempty"`
	// Unread is how many of the user's notifications are unread now.
	Unread int `json:"unread"`
}

// NopNotifier drops everything.
type NopNotifier struct{}

var _ Notifier = NopNotifier{}

// TaskUpdated does nothing.
func (NopNotifier) TaskUpdated(context.Context, *Task) {}

// Notify does nothing.
func (NopNotifier) Notify(context.Context, *Notification) {}

// NotificationsRead does nothing.
func (NopNotifier) NotificationsRead(context.Context, string, ReadChange) {}

func (s *Store) taskUpdated(ctx context.Context, t *Task) {
	s.getNotifier().TaskUpdated(context.WithoutCancel(ctx), t)
}

func (s *Store) notify(ctx context.Context, n *Notification) {
	s.getNotifier().Notify(context.WithoutCancel(ctx), n)
}

// Notification limits.
const (
	DefaultNotificationLimit = 50
	MaxNotificationLimit     = 200
)

const notificationColumns = `id, owner, level, title, body, link, task_id, created_at, read_at`

func scanNotification(r row) (*Notification, error) {
	var (
		n       Notification
		taskID  *string
		created int64
		readAt  *int64
	)
	if err := r.Scan(&n.ID, &n.Owner, &n.Level, &n.Title, &n.Body, &n.Link, &taskID, &created, &readAt); err != nil {
		return nil, err
	}
	if taskID != nil {
		n.TaskID = *taskID
	}
	n.CreatedAt = fromMicros(created)
	n.ReadAt = fromMicrosPtr(readAt)
	return &n, nil
}

// insertNotification stores n (setting its id and time) in q.
func insertNotification(ctx context.Context, q querier, n *Notification) error {
	n.ID = newID()
	now := nowMicros()
	n.CreatedAt = fromMicros(now)
	var taskID *string
	if n.TaskID != "" {
		taskID = &n.TaskID
	}
	_, err := q.exec(ctx, `INSERT INTO herald_notifications (id, owner, level, title, body, link, task_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, n.ID, n.Owner, n.Level, n.Title, n.Body, n.Link, taskID, now)
	if err != nil {
		return fmt.Errorf("store notification: %w", err)
	}
	return nil
}

// AddNotification stores n in its owner's inbox and passes it to the
// Notifier. It sets n.ID and n.CreatedAt.
func (s *Store) AddNotification(ctx context.Context, n *Notification) error {
	if n.Owner == "" {
		return fmt.Errorf("add notification: %w: empty owner", ErrInvalid)
	}
	if n.Level == "" {
		n.Level = LevelInfo
	}
	if err := insertNotification(ctx, s.be, n); err != nil {
		return err
	}
	s.notify(ctx, n)
	return nil
}

// Notifications returns owner's notifications, newest first, at most limit
// (0 means DefaultNotificationLimit; capped at MaxNotificationLimit), only
// the unread ones when unreadOnly.
func (s *Store) Notifications(ctx context.Context, owner string, unreadOnly bool, limit int) ([]*Notification, error) {
	switch {
	case limit < 0:
		return nil, invalidf(`"limit" must not be negative.`)
	case limit == 0:
		limit = DefaultNotificationLimit
	case limit > MaxNotificationLimit:
		limit = MaxNotificationLimit
	}
	q := `SELECT ` + notificationColumns + ` FROM herald_notifications WHERE owner = ?`
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	rs, err := s.be.query(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, owner, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rs.Close()
	out := make([]*Notification, 0)
	for rs.Next() {
		n, err := scanNotification(rs)
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// MarkRead marks owner's notification id read (again: no change) and
// returns it; ErrNotFound when it is not owner's. A change is passed to the
// Notifier with the owner's unread count.
func (s *Store) MarkRead(ctx context.Context, owner, id string) (*Notification, error) {
	changed, err := s.be.exec(ctx, `UPDATE herald_notifications SET read_at = ? WHERE id = ? AND owner = ? AND read_at IS NULL`,
		nowMicros(), id, owner)
	if err != nil {
		return nil, fmt.Errorf("mark notification %q read: %w", id, err)
	}
	n, err := scanNotification(s.be.queryRow(ctx, `SELECT `+notificationColumns+` FROM herald_notifications WHERE id = ? AND owner = ?`, id, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("mark notification %q read: %w", id, err)
	}
	if changed > 0 {
		s.readChanged(ctx, owner, ReadChange{IDs: []string{id}})
	}
	return n, nil
}

// MarkAllRead marks every unread notification of owner read and returns how
// many it marked; a change is passed to the Notifier.
func (s *Store) MarkAllRead(ctx context.Context, owner string) (int64, error) {
	changed, err := s.be.exec(ctx, `UPDATE herald_notifications SET read_at = ? WHERE owner = ? AND read_at IS NULL`,
		nowMicros(), owner)
	if err != nil {
		return 0, fmt.Errorf("mark notifications read: %w", err)
	}
	if changed > 0 {
		s.readChanged(ctx, owner, ReadChange{All: true})
	}
	return changed, nil
}

// UnreadCount is how many of owner's notifications are unread.
func (s *Store) UnreadCount(ctx context.Context, owner string) (int, error) {
	var n int
	if err := s.be.queryRow(ctx, `SELECT COUNT(*) FROM herald_notifications WHERE owner = ? AND read_at IS NULL`, owner).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// readChanged tells the Notifier of r, with owner's unread count as it is now (a count that
// cannot be read is sent as -1: pages then fetch it).
func (s *Store) readChanged(ctx context.Context, owner string, r ReadChange) {
	unread, err := s.UnreadCount(ctx, owner)
	if err != nil {
		s.logError(ctx, "count unread notifications", err, slog.String("owner", owner))
		unread = -1
	}
	r.Unread = unread
	s.getNotifier().NotificationsRead(context.WithoutCancel(ctx), owner, r)
}

func (s *Store) logError(ctx context.Context, msg string, err error, attrs ...any) {
	s.logger.ErrorContext(ctx, msg, append(attrs, slog.String("error", err.Error()))...)
}
