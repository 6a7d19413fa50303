package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/heraldhq/herald/backplane"
)

// Hub serves one SignalR hub. Register its methods with On before serving; a Hub is an http.Handler
// for its path and for the path's /negotiate.
type Hub struct {
	name    string
	opts    Options
	log     *slog.Logger
	bp      backplane.Backplane
	nodeID  string
	metrics *hubMetrics
	// mon traces the hub's events while someone watches, and counts its sends (monitor.go).
	mon   *Monitor
	sends atomic.Uint64

	methods  map[string]*method
	filtered *filterChain // the filters composed at Start; nil without filters
	started  atomic.Bool
	startMu  sync.Mutex
	upgrader *gws.Upgrader

	// ep serves the hub with its own Options (ServeHTTP); Endpoint makes others.
	ep        *endpoint
	epMu      sync.Mutex
	endpoints int // made so far: the next one's key
	// app runs on the connections' bytes: the hub protocol, or a ConnectionHandler.
	app app

	// reg indexes this node's connections; subs holds its backplane subscriptions; rpc its
	// requests to and from other nodes (cluster.go).
	reg  *registry
	subs *subscriptions
	rpc  rpc
	// relays are the WebSockets this node relays to stateful connections on other nodes, by
	// tunnel channel (relay.go).
	relays byID[*relayEnd]
	// negotiates limits the new connections of each user (limits.go).
	negotiates userLimiters
	// store keeps the users' group memberships (manage.go).
	store backplane.Store
	// serving counts the requests of other nodes this node is answering: a drain waits for their
	// replies (the last poll of a connection carries its Close) before the backplane closes.
	serving atomic.Int64

	clock    atomic.Int64 // see now()
	draining atomic.Bool
	// drainCtx ends when the hub starts draining.
	drainCtx   context.Context
	startDrain context.CancelFunc
	done       chan struct{}
	wg         sync.WaitGroup // the sweeper
	closeOne   sync.Once
}

// New returns a hub named name (the name scopes its backplane channels: nodes serving the same hub
// must use the same name).
func New(name string, opts Options) (*Hub, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, ": \t\r\n") {
		return nil, fmt.Errorf("hub: invalid hub name %q", name)
	}
	h := &Hub{
		name:       name,
		opts:       opts,
		log:        opts.Logger.With("hub", name),
		bp:         opts.Backplane,
		store:      backplane.StoreOf(opts.Backplane),
		nodeID:     randomID(),
		metrics:    newHubMetrics(opts.Metrics, name),
		methods:    make(map[string]*method),
		reg:        newRegistry(),
		app:        hubProtocol{},
		done:       make(chan struct{}),
		negotiates: userLimiters{perMinute: opts.NegotiatesPerMinute, burst: max(opts.NegotiateBurst, 1)},
	}
	h.drainCtx, h.startDrain = context.WithCancel(context.Background())
	if opts.Monitor != nil {
		h.mon = opts.Monitor
		h.mon.addHub(h)
	}
	h.subs = newSubscriptions(h.bp, h.deliver, h.log)
	h.ep = h.Endpoint(EndpointOptions{}).(*endpoint)
	h.upgrader = h.newUpgrader()
	return h, nil
}

// Name is the hub's name.
func (h *Hub) Name() string { return h.name }

// On registers a hub method. fn's first parameter is *Context; the others are the method's
// arguments, decoded from the client's values (protocol.RawValue receives the value undecoded;
// <-chan T receives a client-to-server stream). fn returns error, (T, error) or, for a
// server-to-client stream, (<-chan T, error); a stream ends when the channel is closed, and its
// producer must stop when the Context is done. Method names match case-insensitively. Options
// such as RequireRoles apply to this method only. On panics on a bad signature, a duplicate name,
// or after the hub has started serving: methods are registered once, at start-up.
func (h *Hub) On(name string, fn any, opts ...MethodOption) {
	if h.started.Load() || !h.startMu.TryLock() {
		panic(fmt.Sprintf("hub: On(%q) after the hub started serving", name))
	}
	defer h.startMu.Unlock()
	m, err := newMethod(name, fn)
	if err != nil {
		panic(err)
	}
	for _, o := range opts {
		o(m)
	}
	key := methodKey(name)
	if _, dup := h.methods[key]; dup {
		panic(fmt.Sprintf("hub: method %q registered twice", name))
	}
	h.methods[key] = m
}

// Start subscribes to the hub's broadcast channel and starts the timers. ServeHTTP starts the hub
// on first use; call Start to learn of a backplane error early.
func (h *Hub) Start(ctx context.Context) error {
	h.startMu.Lock()
	defer h.startMu.Unlock()
	if h.started.Load() {
		return nil
	}
	if err := h.subs.acquire(ctx, h.nodeChannel()); err != nil {
		return fmt.Errorf("hub %s: subscribe: %w", h.name, err)
	}
	if _, isHub := h.app.(hubProtocol); isHub {
		if err := h.subs.acquire(ctx, h.channel("all")); err != nil {
			h.subs.release(h.nodeChannel())
			return fmt.Errorf("hub %s: subscribe: %w", h.name, err)
		}
	}
	h.buildFilters()
	h.wg.Add(1)
	go h.sweep()
	// Only now: a request must not be served before the hub hears broadcasts, and a failed start
	// is tried again by the next request.
	h.started.Store(true)
	return nil
}

// ServeHTTP serves the hub with its Options: mount it at the hub's path and the path's
// /negotiate (a Router does both, and matches paths in any letter case). Endpoint serves it with
// other options on other paths.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.ep.ServeHTTP(w, r) }

// Shutdown drains the hub: new connections are refused, every connection is sent a Close that
// allows the client to reconnect (to another node), and Shutdown waits for them to go until ctx
// ends, then drops the rest. The hub cannot be used afterwards.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.draining.Store(true)
	h.startDrain()
	h.closeRelays()
	for _, c := range h.allConns() {
		c.close(closeReason{message: "Server is shutting down.", allowReconnect: true})
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for h.liveCount() > 0 || h.serving.Load() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-tick.C:
		}
	}
	for _, c := range h.allConns() {
		c.abort(errShutdown)
	}
	h.closeOne.Do(func() { close(h.done) })
	h.wg.Wait()
	return err
}

func (h *Hub) allConns() []*conn { return h.reg.tokens() }

func (h *Hub) liveCount() int {
	n := 0
	for _, c := range h.allConns() {
		if !c.isTornDown() {
			n++
		}
	}
	return n
}

// ConnectionCount is the number of this node's connections that completed their handshake.
func (h *Hub) ConnectionCount() int { return h.reg.count() }

// channel names a backplane channel of this hub.
func (h *Hub) channel(kind string, name ...string) string {
	if len(name) == 0 {
		return h.name + ":" + kind
	}
	return h.name + ":" + kind + ":" + name[0]
}

// randomID returns 16 random bytes, base64url: connection ids, tokens, node ids.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
