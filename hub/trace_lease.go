package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A node with watchers announces them on leaseChannel: its id, how long the announcement holds,
// and every watcher's filter. Each announcement replaces the node's previous one; an empty list
// withdraws them (the last watcher left). Expiry is counted from when a node receives the
// announcement, so that the nodes' clocks need not agree.
//
//	{"v":1,"node":"n1","ttlMs":6000,"watches":[{"user":"alice","types":["send"]}]}

// leaseVersion is the version of the announcement's format; others are ignored.
const leaseVersion = 1

// leaseMessage is an announcement as it travels.
type leaseMessage struct {
	V       int           `json:"v"`
	Node    string        `json:"node"`
	TTLms   int64         `json:"ttlMs"`
	Watches []TraceFilter `json:"watches"`
}

// nodeLease is a node's announcement as this node keeps it.
type nodeLease struct {
	node    string
	filters []TraceFilter
	expires time.Time
}

// leaseView is the immutable snapshot of the leases that emit reads.
type leaseView struct {
	leases  []nodeLease
	payload bool // some filter asks for payloads
}

// errBadLease: an announcement that is not a valid one.
var errBadLease = errors.New("hub: invalid trace lease")

// decodeLease parses an announcement off the backplane. Anything malformed, of another version,
// or over the bounds is refused.
func decodeLease(payload []byte) (leaseMessage, error) {
	var l leaseMessage
	if err := json.Unmarshal(payload, &l); err != nil {
		return leaseMessage{}, fmt.Errorf("%w: %v", errBadLease, err)
	}
	switch {
	case l.V != leaseVersion:
		return leaseMessage{}, fmt.Errorf("%w: version %d", errBadLease, l.V)
	case l.Node == "" || len(l.Node) > maxFilterField:
		return leaseMessage{}, fmt.Errorf("%w: node id of %d bytes", errBadLease, len(l.Node))
	case l.TTLms <= 0 || time.Duration(l.TTLms)*time.Millisecond > maxLeaseTTL:
		return leaseMessage{}, fmt.Errorf("%w: ttl %d ms", errBadLease, l.TTLms)
	case len(l.Watches) > maxLeaseWatches:
		return leaseMessage{}, fmt.Errorf("%w: %d watches", errBadLease, len(l.Watches))
	}
	for _, f := range l.Watches {
		if err := f.Validate(); err != nil {
			return leaseMessage{}, fmt.Errorf("%w: %v", errBadLease, err)
		}
	}
	return l, nil
}

// onLease records a node's announcement.
func (m *Monitor) onLease(_ string, payload []byte) {
	l, err := decodeLease(payload)
	if err != nil {
		m.log.Warn("drop trace lease", "err", err)
		return
	}
	m.leaseMu.Lock()
	defer m.leaseMu.Unlock()
	if len(l.Watches) == 0 {
		delete(m.leases, l.Node)
	} else {
		m.leases[l.Node] = nodeLease{
			node: l.Node, filters: l.Watches,
			expires: time.Now().Add(time.Duration(l.TTLms) * time.Millisecond),
		}
	}
	m.publishView()
}

// expireLeases drops the announcements of nodes that stopped renewing them (they died, or lost
// the backplane).
func (m *Monitor) expireLeases(now time.Time) {
	m.leaseMu.Lock()
	defer m.leaseMu.Unlock()
	changed := false
	for n, l := range m.leases {
		if !now.Before(l.expires) {
			delete(m.leases, n)
			changed = true
		}
	}
	if changed {
		m.publishView()
	}
}

// publishView rebuilds the snapshot and the tracing flag; leaseMu is held.
func (m *Monitor) publishView() {
	v := &leaseView{leases: make([]nodeLease, 0, len(m.leases))}
	for _, l := range m.leases {
		v.leases = append(v.leases, l)
		for _, f := range l.filters {
			v.payload = v.payload || f.Payload
		}
	}
	slices.SortFunc(v.leases, func(a, b nodeLease) int { return strings.Compare(a.node, b.node) })
	m.view.Store(v)
	m.tracing.Store(len(v.leases) > 0)
}

// announce publishes this node's watchers: their filters, or an empty list when the last has
// gone. It runs at every change and every RenewEvery while there are watchers.
func (m *Monitor) announce() {
	// One at a time, so that an older list never lands after a newer one.
	m.announceMu.Lock()
	defer m.announceMu.Unlock()
	m.watchMu.Lock()
	filters := make([]TraceFilter, 0, len(m.watchers))
	for w := range m.watchers {
		filters = append(filters, w.filter)
	}
	had := m.announced
	m.announced = len(filters) > 0
	m.watchMu.Unlock()
	if len(filters) == 0 && !had {
		return // nothing to renew, nothing to withdraw
	}
	if len(filters) > maxLeaseWatches {
		// More watchers than a lease may carry: one filter that keeps everything stands for them,
		// and each watcher filters what arrives.
		filters = []TraceFilter{{Payload: slices.ContainsFunc(filters, func(f TraceFilter) bool { return f.Payload })}}
	}
	payload, err := json.Marshal(leaseMessage{V: leaseVersion, Node: m.node, TTLms: m.opts.LeaseTTL.Milliseconds(), Watches: filters})
	if err != nil {
		m.log.Warn("encode trace lease", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.bp.Publish(ctx, leaseChannel, payload); err != nil {
		m.log.Warn("publish trace lease", "err", err)
	}
}
