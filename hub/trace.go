package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event is one entry of the live trace. Empty fields are left out of its JSON.
type Event struct {
	Time time.Time `json:"time,omitzero"`
	// Node is the id of the node where it happened (MonitorOptions.NodeID).
	Node string `json:"node,omitempty"`
	Hub  string `json:"hub,omitempty"`
	// Type is one of the Event* constants.
	Type       string `json:"type"`
	Connection string `json:"connection,omitempty"`
	User       string `json:"user,omitempty"`
	Transport  string `json:"transport,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	// Reason is why a connection ended ("normal" when nothing went wrong).
	Reason string `json:"reason,omitempty"`
	// Target is the method a client invoked, or the client method a send invokes.
	Target string `json:"target,omitempty"`
	// Scope and To say whom a send addresses: "all", or "connection", "user" or "group" and its
	// id or name.
	Scope string `json:"scope,omitempty"`
	To    string `json:"to,omitempty"`
	// Size is the message's bytes: the record the client sent, or the JSON frame of a send.
	Size int `json:"size,omitempty"`
	// Payload is the message's arguments as a JSON array, only for watchers that asked for it.
	// A MessagePack client's arguments are decoded to JSON (binary values as base64 strings).
	Payload json.RawMessage `json:"payload,omitempty"`
	// Count is how many events a "dropped" event stands for.
	Count int64 `json:"count,omitempty"`
}

// Event types.
const (
	EventConnected    = "connected"
	EventDisconnected = "disconnected"
	EventInvocation   = "invocation"
	EventSend         = "send"
	// EventDropped reports, in Count, events a watcher did not get because it, or the way to
	// it, could not keep up.
	EventDropped = "dropped"
)

// EventTypes are the types of traced events, the values TraceFilter.Types takes.
var EventTypes = []string{EventConnected, EventDisconnected, EventInvocation, EventSend}

// Scopes of sends.
const (
	ScopeAll        = "all"
	ScopeConnection = "connection"
	ScopeUser       = "user"
	ScopeGroup      = "group"
)

// TraceFilter selects the events a watcher gets. Empty fields select everything.
type TraceFilter struct {
	// Hub keeps the events of one hub.
	Hub string `json:"hub,omitempty"`
	// User keeps the events of the user's connections and the sends addressed to the user.
	User string `json:"user,omitempty"`
	// Connection keeps the events of one connection and the sends addressed to it.
	Connection string `json:"connection,omitempty"`
	// Types keeps events of these types (EventTypes).
	Types []string `json:"types,omitempty"`
	// Payload includes the messages' arguments.
	Payload bool `json:"payload,omitempty"`
}

// Bounds of what a filter, and a lease carrying filters, may hold.
const (
	maxFilterField  = 1024
	maxLeaseWatches = 64
	maxLeaseTTL     = time.Minute
)

// Validate reports what is wrong with f, in words for the person who wrote the filter.
func (f TraceFilter) Validate() error {
	for name, v := range map[string]string{"hub": f.Hub, "user": f.User, "connection": f.Connection} {
		if len(v) > maxFilterField {
			return fmt.Errorf("%q is longer than %d bytes", name, maxFilterField)
		}
	}
	if len(f.Types) > len(EventTypes) {
		return fmt.Errorf("\"type\" names more than the %d event types", len(EventTypes))
	}
	for _, t := range f.Types {
		if !slices.Contains(EventTypes, t) {
			return fmt.Errorf("unknown event type %q: use %s", t, strings.Join(EventTypes, ", "))
		}
	}
	return nil
}

// Matches reports whether the filter keeps e.
func (f *TraceFilter) Matches(e *Event) bool {
	if f.Hub != "" && f.Hub != e.Hub {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	if f.User != "" && f.User != e.User && (e.Scope != ScopeUser || e.To != f.User) {
		return false
	}
	if f.Connection != "" && f.Connection != e.Connection && (e.Scope != ScopeConnection || e.To != f.Connection) {
		return false
	}
	return true
}

// outEvent is an event on its way to the nodes whose watchers want it.
type outEvent struct {
	ev    Event
	nodes []string
}

// on reports whether some watcher of the cluster holds a lease: the hot paths' one check. A nil
// Monitor is never on.
func (m *Monitor) on() bool { return m != nil && m.tracing.Load() }

// wantsPayload reports whether some watcher asked for payloads, so that the caller encodes them.
func (m *Monitor) wantsPayload() bool {
	v := m.view.Load()
	return v != nil && v.payload
}

// emit hands e to the publisher for the nodes whose watchers want it; it never blocks. Called
// only when on() was true.
func (m *Monitor) emit(e Event) {
	v := m.view.Load()
	if v == nil {
		return
	}
	e.Time = time.Now().UTC()
	e.Node = m.node
	var nodes []string
	payload := false
	for _, l := range v.leases {
		matched := false
		for i := range l.filters {
			if l.filters[i].Matches(&e) {
				matched = true
				payload = payload || l.filters[i].Payload
			}
		}
		if matched {
			nodes = append(nodes, l.node)
		}
	}
	if len(nodes) == 0 {
		return
	}
	if !payload {
		e.Payload = nil
	}
	m.emitted.Add(1)
	select {
	case m.out <- outEvent{ev: e, nodes: nodes}:
	default:
		m.dropMu.Lock()
		for _, n := range nodes {
			m.dropped[n]++
		}
		m.dropMu.Unlock()
	}
}

// eventBatch is what travels on a node's events channel: events for its watchers, and the count
// of those the sender dropped.
type eventBatch struct {
	Dropped int64   `json:"dropped,omitempty"`
	Events  []Event `json:"events,omitempty"`
}

// maxBatch bounds the events of one backplane payload.
const maxBatch = 256

// publisher sends the queued events, in batches by node, and reports what was dropped.
func (m *Monitor) publisher() {
	defer m.wg.Done()
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		batches := map[string]*eventBatch{}
		select {
		case <-m.done:
			return
		case <-flush.C:
		case oe := <-m.out:
			add(batches, oe)
		more:
			for range maxBatch - 1 {
				select {
				case oe := <-m.out:
					add(batches, oe)
				default:
					break more
				}
			}
		}
		m.dropMu.Lock()
		for n, c := range m.dropped {
			b := batches[n]
			if b == nil {
				b = &eventBatch{}
				batches[n] = b
			}
			b.Dropped += c
		}
		clear(m.dropped)
		m.dropMu.Unlock()
		for node, b := range batches {
			m.publishBatch(node, b)
		}
	}
}

func add(batches map[string]*eventBatch, oe outEvent) {
	for _, n := range oe.nodes {
		b := batches[n]
		if b == nil {
			b = &eventBatch{}
			batches[n] = b
		}
		b.Events = append(b.Events, oe.ev)
	}
}

func (m *Monitor) publishBatch(node string, b *eventBatch) {
	payload, err := json.Marshal(b)
	if err != nil {
		m.log.Warn("encode trace events", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.bp.Publish(ctx, eventsChannelPfx+node, payload); err != nil {
		// Lost on the way: the watchers cannot be told how many, and the trace says so in the log.
		m.log.Warn("publish trace events", "node", node, "events", len(b.Events), "err", err)
	}
}

// onEvents hands a batch of events to this node's watchers whose filters keep them.
func (m *Monitor) onEvents(_ string, payload []byte) {
	var b eventBatch
	if err := json.Unmarshal(payload, &b); err != nil {
		m.log.Warn("drop trace events", "err", err)
		return
	}
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	for w := range m.watchers {
		if b.Dropped > 0 {
			w.dropped.Add(b.Dropped)
		}
		for i := range b.Events {
			if w.filter.Matches(&b.Events[i]) {
				w.push(b.Events[i])
			}
		}
	}
}

// closeReasonText is a disconnect's reason as the trace shows it.
func closeReasonText(err error) string {
	if err == nil {
		return "normal"
	}
	return strings.TrimPrefix(err.Error(), "hub: ")
}

// Tracing reports whether some watcher of the cluster holds a lease, so that this node traces.
func (m *Monitor) Tracing() bool { return m.on() }
