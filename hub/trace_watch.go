package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Watch is one watcher of the live trace on this node: it receives the events of every node of
// the cluster that its filter keeps, until it is closed or its context ends.
type Watch struct {
	m      *Monitor
	filter TraceFilter
	events chan Event
	// dropped counts the events that found events full, or that were dropped on their way.
	dropped  atomic.Int64
	closeOne sync.Once
	closed   chan struct{}
	mu       sync.Mutex
	stop     func() bool // unregisters the context's AfterFunc
}

// ErrMonitorNotStarted is returned by Watch before Start.
var ErrMonitorNotStarted = errors.New("hub: monitor not started")

// Watch starts watching the trace with filter f. Every node traces from the moment it hears of
// the watch: at once for the nodes up when Watch is called (Watch returns once the announcement
// is on the backplane), within RenewEvery for a node that starts later. The watch ends when ctx
// ends or Close is called; when the cluster's last watch ends, tracing stops everywhere.
func (m *Monitor) Watch(ctx context.Context, f TraceFilter) (*Watch, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("hub: trace filter: %w", err)
	}
	m.startMu.Lock()
	running := m.running
	m.startMu.Unlock()
	if !running {
		return nil, ErrMonitorNotStarted
	}
	w := &Watch{m: m, filter: f, events: make(chan Event, m.opts.WatchBuffer), closed: make(chan struct{})}
	m.watchMu.Lock()
	m.watchers[w] = struct{}{}
	m.watchMu.Unlock()
	stop := context.AfterFunc(ctx, w.Close)
	w.mu.Lock()
	w.stop = stop
	w.mu.Unlock()
	m.announce()
	return w, nil
}

// Events delivers the watched events. It is never closed: select on Done as well.
func (w *Watch) Events() <-chan Event { return w.events }

// Done is closed when the watch has ended.
func (w *Watch) Done() <-chan struct{} { return w.closed }

// TakeDropped returns how many events were dropped since it was last called, and starts
// counting again from 0. A caller reports them as one EventDropped event.
func (w *Watch) TakeDropped() int64 { return w.dropped.Swap(0) }

// Close ends the watch; when it was this node's last, the node withdraws its lease.
func (w *Watch) Close() {
	w.closeOne.Do(func() {
		w.mu.Lock()
		stop := w.stop
		w.mu.Unlock()
		if stop != nil {
			stop()
		}
		m := w.m
		m.watchMu.Lock()
		delete(m.watchers, w)
		m.watchMu.Unlock()
		close(w.closed)
		m.announce()
	})
}

// push queues e for the watcher, or counts it dropped when the watcher is behind; it never
// blocks (it runs on the backplane's delivery path).
func (w *Watch) push(e Event) {
	if !w.filter.Payload {
		e.Payload = nil
	}
	select {
	case w.events <- e:
	default:
		w.dropped.Add(1)
	}
}

// DroppedEvent is the event that reports n dropped events.
func DroppedEvent(n int64) Event {
	return Event{Time: time.Now().UTC(), Type: EventDropped, Count: n}
}
