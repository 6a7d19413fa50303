package hub

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/heraldhq/herald/backplane"
)

// subscriptions counts this node's interest in each backplane channel: the first interest
// subscribes, the last unsubscribes. Each channel has its own lock, held across the backplane call,
// so that an unsubscribe never overtakes the subscribe of a newer interest in the same channel,
// while subscribes to different channels (every new connection has its own) go on at once: a
// node taking over thousands of reconnecting clients does not wait one Redis round trip per
// channel in turn.
type subscriptions struct {
	bp      backplane.Backplane
	handler backplane.Handler
	log     *slog.Logger

	mu      sync.Mutex
	entries map[string]*interest
}

// interest is one channel's count. An entry whose count fell to 0 is dead once it has
// unsubscribed: it leaves the map, and whoever still holds it looks the channel up again.
type interest struct {
	mu    sync.Mutex
	count int
	dead  bool
}

func newSubscriptions(bp backplane.Backplane, handler backplane.Handler, log *slog.Logger) *subscriptions {
	return &subscriptions{bp: bp, handler: handler, log: log, entries: make(map[string]*interest)}
}

// entry returns channel's live entry, locked.
func (s *subscriptions) entry(channel string) *interest {
	for {
		s.mu.Lock()
		e := s.entries[channel]
		if e == nil {
			e = &interest{}
			s.entries[channel] = e
		}
		s.mu.Unlock()
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock()
	}
}

// acquire adds one interest in channel, subscribing when it is the first. Once it returns, every
// payload published on channel reaches this node.
func (s *subscriptions) acquire(ctx context.Context, channel string) error {
	e := s.entry(channel)
	defer e.mu.Unlock()
	if e.count == 0 {
		if err := s.bp.Subscribe(ctx, channel, s.handler); err != nil {
			s.bury(channel, e)
			return err
		}
	}
	e.count++
	return nil
}

// release drops one interest in channel, unsubscribing when it was the last.
func (s *subscriptions) release(channel string) {
	e := s.entry(channel)
	defer e.mu.Unlock()
	e.count--
	if e.count > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.bp.Unsubscribe(ctx, channel); err != nil {
		s.log.Warn("backplane unsubscribe", "channel", channel, "err", err)
	}
	s.bury(channel, e)
}

// bury removes an entry without interest; e.mu is held.
func (s *subscriptions) bury(channel string, e *interest) {
	if e.count > 0 {
		return
	}
	e.dead = true
	s.mu.Lock()
	if s.entries[channel] == e {
		delete(s.entries, channel)
	}
	s.mu.Unlock()
}

// snapshot returns the channels held and their interest counts.
func (s *subscriptions) snapshot() map[string]int {
	s.mu.Lock()
	entries := maps.Clone(s.entries)
	s.mu.Unlock()
	out := make(map[string]int, len(entries))
	for ch, e := range entries {
		e.mu.Lock()
		if !e.dead && e.count > 0 {
			out[ch] = e.count
		}
		e.mu.Unlock()
	}
	return out
}
