package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/backplane"
)

// A Monitor is one node's part in watching the cluster: the live trace (trace.go) and the live
// counts (stats.go). One Monitor serves every hub of a process (Options.Monitor). Monitors talk to
// each other on the backplane, on channels that start with ":" so that no hub's channel (whose
// hub name is never empty) can be one of them:
//
//	:trace:lease          each node's watchers and their filters, renewed every RenewEvery
//	:trace:to:{node}      the events a node's watchers want, in batches
//	:stats                a request for every node's counts
//	:stats:reply:{node}   the answers to a node's request
//
// Tracing costs nothing while nobody watches: the hubs' hot paths read one atomic (tracing) and
// go on; it is true on every node while some node holds an unexpired lease, and events travel
// only to the nodes whose watchers want them.
type Monitor struct {
	opts    MonitorOptions
	bp      backplane.Backplane
	node    string
	started time.Time
	log     *slog.Logger

	// tracing is the hot paths' one check: some watcher, anywhere, holds a lease.
	tracing atomic.Bool
	// leases are the watchers of every node, by node; view is their immutable snapshot that
	// emit reads without a lock.
	leaseMu sync.Mutex
	leases  map[string]nodeLease
	view    atomic.Pointer[leaseView]

	// watchers are this node's; announced says the last announcement listed some.
	watchMu    sync.Mutex
	watchers   map[*Watch]struct{}
	announced  bool
	announceMu sync.Mutex

	// out holds events waiting to be published; dropped counts, by node, the events that found
	// it full.
	out     chan outEvent
	dropMu  sync.Mutex
	dropped map[string]int64
	emitted atomic.Int64 // events emit accepted or dropped, for tests

	hubsMu sync.Mutex
	hubs   []*Hub
	rate   sendRate

	statsSeq  atomic.Uint64
	statsWait byID[chan NodeStats]

	startMu  sync.Mutex
	running  bool
	done     chan struct{}
	wg       sync.WaitGroup
	closeOne sync.Once
}

// MonitorOptions configure a Monitor. Zero fields take the defaults given.
type MonitorOptions struct {
	// Backplane is the cluster's (the hubs'). Default: a single-node backplane.NewMemory().
	Backplane backplane.Backplane
	// NodeID names this node in events and counts. Default: a random id.
	NodeID string
	// Logger. Default: slog.Default().
	Logger *slog.Logger
	// LeaseTTL is how long a node's announcement of its watchers holds: a node that dies stops
	// renewing, and the others stop tracing for it after this long. Default 6 s.
	LeaseTTL time.Duration
	// RenewEvery is how often a node with watchers announces them again. Default 2 s; it must be
	// less than LeaseTTL.
	RenewEvery time.Duration
	// WatchBuffer bounds the events waiting for one watcher; those that find it full are
	// counted and reported as one "dropped" event. Default 1024.
	WatchBuffer int
	// PublishQueue bounds the events waiting to go onto the backplane on this node; those that
	// find it full are counted and reported to their watchers as dropped. Default 4096.
	PublishQueue int
	// StatsTimeout bounds the wait for the other nodes' counts when the caller's context has no
	// deadline. Default 2 s.
	StatsTimeout time.Duration
}

// Monitor defaults.
const (
	DefaultLeaseTTL     = 6 * time.Second
	DefaultRenewEvery   = 2 * time.Second
	DefaultWatchBuffer  = 1024
	DefaultPublishQueue = 4096
	DefaultStatsTimeout = 2 * time.Second
)

// WithDefaults returns a copy of o with every zero field set to its default.
func (o MonitorOptions) WithDefaults() MonitorOptions {
	if o.Backplane == nil {
		o.Backplane = backplane.NewMemory()
	}
	if o.NodeID == "" {
		o.NodeID = randomID()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.LeaseTTL, DefaultLeaseTTL)
	setDefault(&o.RenewEvery, DefaultRenewEvery)
	setDefault(&o.WatchBuffer, DefaultWatchBuffer)
	setDefault(&o.PublishQueue, DefaultPublishQueue)
	setDefault(&o.StatsTimeout, DefaultStatsTimeout)
	return o
}

// Validate reports what is wrong with o once its defaults are applied (NewMonitor calls it).
func (o MonitorOptions) Validate() error {
	var errs []error
	if o.RenewEvery <= 0 || o.LeaseTTL <= o.RenewEvery {
		errs = append(errs, fmt.Errorf("hub: monitor: RenewEvery (%s) must be positive and less than LeaseTTL (%s)", o.RenewEvery, o.LeaseTTL))
	}
	if o.LeaseTTL > maxLeaseTTL {
		errs = append(errs, fmt.Errorf("hub: monitor: LeaseTTL must be at most %s", maxLeaseTTL))
	}
	if o.WatchBuffer <= 0 || o.PublishQueue <= 0 || o.StatsTimeout <= 0 {
		errs = append(errs, errors.New("hub: monitor: WatchBuffer, PublishQueue and StatsTimeout must be positive"))
	}
	if len(o.NodeID) > maxFilterField {
		errs = append(errs, fmt.Errorf("hub: monitor: NodeID longer than %d bytes", maxFilterField))
	}
	return errors.Join(errs...)
}

// NewMonitor returns a Monitor; Start makes it take part in the cluster.
func NewMonitor(opts MonitorOptions) (*Monitor, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Monitor{
		opts:     opts,
		bp:       opts.Backplane,
		node:     opts.NodeID,
		started:  time.Now().UTC(),
		log:      opts.Logger.With("component", "monitor"),
		leases:   make(map[string]nodeLease),
		watchers: make(map[*Watch]struct{}),
		out:      make(chan outEvent, opts.PublishQueue),
		dropped:  make(map[string]int64),
		done:     make(chan struct{}),
	}, nil
}

// NodeID is this node's id in events and counts.
func (m *Monitor) NodeID() string { return m.node }

// Started is when the Monitor was made: the node's start, in counts.
func (m *Monitor) Started() time.Time { return m.started }

// Backplane channels of Monitors.
const (
	leaseChannel      = ":trace:lease"
	eventsChannelPfx  = ":trace:to:"
	statsChannel      = ":stats"
	statsReplyChannel = ":stats:reply:"
)

// Start subscribes to the Monitors' channels and starts the timers: the lease sweep, the renewals
// and the publisher of events. It returns once this node hears the others; the leases of nodes
// already being watched arrive with their next renewal (within RenewEvery).
func (m *Monitor) Start(ctx context.Context) error {
	m.startMu.Lock()
	defer m.startMu.Unlock()
	if m.running {
		return nil
	}
	subs := []struct {
		ch string
		h  backplane.Handler
	}{
		{leaseChannel, m.onLease},
		{eventsChannelPfx + m.node, m.onEvents},
		{statsChannel, m.onStatsRequest},
		{statsReplyChannel + m.node, m.onStatsReply},
	}
	for i, s := range subs {
		if err := m.bp.Subscribe(ctx, s.ch, s.h); err != nil {
			for _, done := range subs[:i] {
				_ = m.bp.Unsubscribe(context.WithoutCancel(ctx), done.ch) // the subscribe error is the one to report
			}
			return fmt.Errorf("hub: monitor: subscribe %s: %w", s.ch, err)
		}
	}
	m.running = true
	m.wg.Add(2)
	go m.publisher()
	go m.ticker()
	return nil
}

// Close ends this node's watches, withdraws its lease, unsubscribes and stops the timers.
func (m *Monitor) Close() error {
	m.closeOne.Do(func() {
		m.watchMu.Lock()
		ws := make([]*Watch, 0, len(m.watchers))
		for w := range m.watchers {
			ws = append(ws, w)
		}
		m.watchMu.Unlock()
		for _, w := range ws {
			w.Close()
		}
		m.startMu.Lock()
		running := m.running
		m.running = false
		m.startMu.Unlock()
		if running {
			// First, so that no handler starts a goroutine once the timers are waited for.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, ch := range []string{leaseChannel, eventsChannelPfx + m.node, statsChannel, statsReplyChannel + m.node} {
				if err := m.bp.Unsubscribe(ctx, ch); err != nil && !errors.Is(err, backplane.ErrClosed) {
					m.log.Warn("monitor unsubscribe", "channel", ch, "err", err)
				}
			}
		}
		close(m.done)
		m.wg.Wait()
	})
	return nil
}

// addHub makes h's counts part of this node's, and its events part of the trace.
func (m *Monitor) addHub(h *Hub) {
	m.hubsMu.Lock()
	defer m.hubsMu.Unlock()
	m.hubs = append(m.hubs, h)
}

func (m *Monitor) hubList() []*Hub {
	m.hubsMu.Lock()
	defer m.hubsMu.Unlock()
	return append([]*Hub(nil), m.hubs...)
}

// ticker expires leases every second, renews this node's every RenewEvery, and samples the send
// counters for the rate.
func (m *Monitor) ticker() {
	defer m.wg.Done()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	renew := time.NewTicker(m.opts.RenewEvery)
	defer renew.Stop()
	for {
		select {
		case <-m.done:
			return
		case now := <-sweep.C:
			m.expireLeases(now)
			m.rate.sample(now, m.sendTotal())
		case <-renew.C:
			m.announce()
		}
	}
}
