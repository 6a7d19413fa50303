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
// subscribes, the last unsubscribes. Its lock is held across the backplane call, so that an
// unsubscribe never overtakes the subscribe of a newer interest in the same channel.
type subscriptions struct {
	bp      backplane.Backplane
	handler backplane.Handler
	log     *slog.Logger

	mu     sync.Mutex
	counts map[string]int
}

func newSubscriptions(bp backplane.Backplane, handler backplane.Handler, log *slog.Logger) *subscriptions {
	return &subscriptions{bp: bp, handler: handler, log: log, counts: make(map[string]int)}
}

// acquire adds one interest in channel, subscribing when it is the first. Once it returns, every
// payload published on channel reaches this node.
func (s *subscriptions) acquire(ctx context.Context, channel string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts[channel] == 0 {
		if err := s.bp.Subscribe(ctx, channel, s.handler); err != nil {
			return err
		}
	}
	s.counts[channel]++
	return nil
}

// release drops one interest in channel, unsubscribing when it was the last.
func (s *subscriptions) release(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[channel]--
	if s.counts[channel] > 0 {
		return
	}
	delete(s.counts, channel)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.bp.Unsubscribe(ctx, channel); err != nil {
		s.log.Warn("backplane unsubscribe", "channel", channel, "err", err)
	}
}

// snapshot returns the channels held and their interest counts.
func (s *subscriptions) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}
