package redis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// subscriber is one subscriber connection: it receives the messages of its channels, confirms
// subscriptions to those waiting for them, and pings Redis so that an outage is seen while
// nothing is published. go-redis reconnects the connection and resubscribes its channels; the
// receive loop backs off while Redis is away.
type subscriber struct {
	b *Backplane

	mu      sync.Mutex
	ps      *goredis.PubSub // nil until a Cluster shard's first channel
	waiters map[string][]chan struct{}
	down    error       // why the connection is down; nil while it is up
	isDown  atomic.Bool // down != nil, read without the lock on every received message
}

func (b *Backplane) newSubscriber(ps *goredis.PubSub) *subscriber {
	s := &subscriber{b: b, waiters: make(map[string][]chan struct{})}
	if ps != nil {
		s.start(ps)
	}
	return s
}

// start runs the loops of ps; s.mu is held or s is not yet shared.
func (s *subscriber) start(ps *goredis.PubSub) {
	s.ps = ps
	s.b.wg.Add(2)
	go s.receive(ps)
	go s.ping(ps)
}

// subscribeFirst opens the subscriber with its first channel, or subscribes on it when another
// call opened it first.
func (s *subscriber) subscribeFirst(ctx context.Context, name string, open func() *goredis.PubSub) error {
	s.mu.Lock()
	if s.ps != nil {
		s.mu.Unlock()
		return s.subscribe(ctx, name, true)
	}
	w := s.waitLocked(name)
	s.start(open())
	s.mu.Unlock()
	return s.await(ctx, name, w, true)
}

// subscribe subscribes to name and waits until Redis has confirmed it: from then on every
// message published on name reaches this node. While Redis is away it returns at once: go-redis
// keeps the channel and subscribes to it when the connection is back, and meanwhile nothing is
// published anywhere (the node serves its own connections, degraded).
func (s *subscriber) subscribe(ctx context.Context, name string, sharded bool) error {
	s.mu.Lock()
	w := s.waitLocked(name)
	ps, down := s.ps, s.down
	s.mu.Unlock()
	var err error
	if sharded {
		err = ps.SSubscribe(ctx, name)
	} else {
		err = ps.Subscribe(ctx, name)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.setDown(err)
		s.dropWaiter(name, w)
		return nil
	case err != nil:
		s.abandon(context.WithoutCancel(ctx), name, w, sharded)
		return err
	case down != nil:
		s.dropWaiter(name, w)
		return nil
	}
	return s.await(ctx, name, w, sharded)
}

func (s *subscriber) dropWaiter(name string, w chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[name]
	for i, x := range ws {
		if x == w {
			s.waiters[name] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(s.waiters[name]) == 0 {
		delete(s.waiters, name)
	}
}

func (s *subscriber) waitLocked(name string) chan struct{} {
	w := make(chan struct{})
	s.waiters[name] = append(s.waiters[name], w)
	return w
}

func (s *subscriber) await(ctx context.Context, name string, w chan struct{}, sharded bool) error {
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		s.abandon(context.WithoutCancel(ctx), name, w, sharded)
		return ctx.Err()
	case <-s.b.ctx.Done():
		return ErrClosed
	}
}

// abandon undoes a subscription that failed or was not confirmed in time: go-redis keeps the
// channel to resubscribe it after a reconnect, and the caller believes it is not subscribed.
func (s *subscriber) abandon(ctx context.Context, name string, w chan struct{}, sharded bool) {
	s.dropWaiter(name, w)
	s.mu.Lock()
	ps := s.ps
	s.mu.Unlock()
	s.b.mu.Lock()
	if s.b.handlers != nil {
		delete(s.b.handlers, name)
	}
	s.b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if sharded {
		_ = ps.SUnsubscribe(ctx, name) // best effort: Redis is likely away
	} else {
		_ = ps.Unsubscribe(ctx, name)
	}
}

// unsubscribe drops name. go-redis forgets the channel before it writes the command, so while
// Redis is away the channel is simply not subscribed again when the connection comes back.
func (s *subscriber) unsubscribe(ctx context.Context, name string, sharded bool) error {
	s.mu.Lock()
	ps, down := s.ps, s.down
	s.mu.Unlock()
	if ps == nil {
		return nil
	}
	var err error
	if sharded {
		err = ps.SUnsubscribe(ctx, name)
	} else {
		err = ps.Unsubscribe(ctx, name)
	}
	if err != nil && (down != nil || ctx.Err() == nil) {
		s.setDown(err)
		return nil
	}
	return err
}

// confirm wakes those waiting for a subscription to name.
func (s *subscriber) confirm(name string) {
	s.mu.Lock()
	ws := s.waiters[name]
	delete(s.waiters, name)
	s.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

func (s *subscriber) receive(ps *goredis.PubSub) {
	defer s.b.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(s.b.ctx)
		if err != nil {
			if s.b.ctx.Err() != nil {
				return
			}
			s.setDown(err)
			select {
			case <-s.b.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		s.setUp()
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
				s.confirm(m.Channel)
			}
		case *goredis.Message:
			s.b.deliver(m.Channel, m.Payload)
		}
	}
}

// ping keeps the connection checked while it is quiet: a failed write marks it down and makes
// go-redis reconnect it.
func (s *subscriber) ping(ps *goredis.PubSub) {
	defer s.b.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.b.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.b.ctx, 2*time.Second)
			if err := ps.Ping(ctx); err != nil && s.b.ctx.Err() == nil {
				s.setDown(err)
			}
			cancel()
		}
	}
}

func (s *subscriber) setDown(err error) {
	s.mu.Lock()
	was := s.down
	s.down = err
	s.isDown.Store(true)
	s.mu.Unlock()
	if was == nil {
		s.b.metrics.up.Set(0)
		s.b.log.Warn("redis unreachable; serving local connections only until it is back", "err", err)
	}
}

func (s *subscriber) setUp() {
	if !s.isDown.Load() {
		return // the common case: a message while up
	}
	s.mu.Lock()
	was := s.down
	s.down = nil
	s.isDown.Store(false)
	s.mu.Unlock()
	if was != nil {
		s.b.metrics.up.Set(1)
		s.b.metrics.reconnects.Inc()
		s.b.log.Info("redis reachable again; subscriptions restored")
	}
}

func (s *subscriber) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return errors.Join(errors.New("redis backplane: disconnected"), s.down)
	}
	return nil
}

func (s *subscriber) close() {
	s.mu.Lock()
	ps := s.ps
	s.mu.Unlock()
	if ps != nil {
		_ = ps.Close() // closing: nothing to do with its error
	}
}
