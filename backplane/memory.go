package backplane

import (
	"context"
	"sync"
)

// Bus connects Memory nodes inside one process. Its zero value is not usable; use NewBus.
type Bus struct {
	mu    sync.RWMutex
	subs  map[string]map[*Memory]Handler
	nodes map[*Memory]struct{}
	state memoryState
}

// NewBus returns an empty bus.
func NewBus() *Bus {
	return &Bus{subs: make(map[string]map[*Memory]Handler), nodes: make(map[*Memory]struct{})}
}

// Node returns a new node attached to the bus.
func (b *Bus) Node() *Memory {
	m := &Memory{bus: b}
	b.mu.Lock()
	b.nodes[m] = struct{}{}
	b.mu.Unlock()
	return m
}

// Memory is a Backplane node of a Bus. Delivery is synchronous: Publish calls every subscribed
// handler before it returns, so one publisher's payloads arrive in order and a send has reached
// every local connection's queue when it returns.
type Memory struct {
	bus    *Bus
	closed bool // guarded by bus.mu
}

var _ Backplane = (*Memory)(nil)

// NewMemory returns a single node on a bus of its own: the backplane of a Herald running alone.
func NewMemory() *Memory { return NewBus().Node() }

// Publish implements Backplane.
func (m *Memory) Publish(ctx context.Context, channel string, payload []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.bus.mu.RLock()
	if m.closed {
		m.bus.mu.RUnlock()
		return 0, ErrClosed
	}
	// Copy the handlers so that a handler may subscribe or unsubscribe without deadlocking.
	subs := m.bus.subs[channel]
	handlers := make([]Handler, 0, len(subs))
	for _, h := range subs {
		handlers = append(handlers, h)
	}
	m.bus.mu.RUnlock()
	for _, h := range handlers {
		h(channel, payload)
	}
	return len(handlers), nil
}

// Subscribe implements Backplane.
func (m *Memory) Subscribe(ctx context.Context, channel string, h Handler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.bus.mu.Lock()
	defer m.bus.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	subs := m.bus.subs[channel]
	if subs == nil {
		subs = make(map[*Memory]Handler)
		m.bus.subs[channel] = subs
	}
	subs[m] = h
	return nil
}

// Unsubscribe implements Backplane.
func (m *Memory) Unsubscribe(ctx context.Context, channel string) error {
	m.bus.mu.Lock()
	defer m.bus.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.unsubscribeLocked(channel)
	return nil
}

func (m *Memory) unsubscribeLocked(channel string) {
	subs := m.bus.subs[channel]
	delete(subs, m)
	if len(subs) == 0 {
		delete(m.bus.subs, channel)
	}
}

// Close implements Backplane.
func (m *Memory) Close() error {
	m.bus.mu.Lock()
	defer m.bus.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for channel := range m.bus.subs {
		m.unsubscribeLocked(channel)
	}
	delete(m.bus.nodes, m)
	return nil
}
