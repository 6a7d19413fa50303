package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/client"
)

// Config describes one run.
type Config struct {
	// URL of the hub, e.g. http://127.0.0.1:8080/hubs/conformance. The hub must offer Echo,
	// SendToAll, JoinGroup and SendToGroup with the conformance hub's meaning.
	URL string
	// URLs, when set, are the same hub on several nodes of a cluster: receiving connection i goes
	// to URLs[i%len(URLs)], the sender to URLs[0].
	URLs []string
	// GroupSize is the number of receivers per group in the group scenario. Default 10.
	GroupSize int
	// Senders is the number of sending connections the fan-out messages are spread over (a hub
	// runs one connection's invocations in turn). Default 1.
	Senders int
	// Measuring, when set, is called with true as the measured phase begins (after connecting) and
	// with false when it ends: a caller reads its own counters (a Redis's CPU time) over it.
	Measuring func(begin bool)
	// Server labels the results.
	Server string
	// Protocol of every connection. Default JSON.
	Protocol client.Protocol
	// Conns is the number of receiving connections.
	Conns int
	// Duration of the measured phase (not of connecting).
	Duration time.Duration
	// Payload is the size of each message's argument in bytes. Default 100.
	Payload int
	// Window bounds the fan-out messages in flight: message i is sent once message i-Window has
	// reached (nearly) all its receivers, so that the run measures the fastest rate the server
	// sustains rather than how fast queues overflow. Default 8 for broadcast, 256 for groups.
	Window int
	// Rate, when set, paces the load: fan-out messages per second for the sender (the window still
	// bounds what is in flight), or round trips per second over all connections for echo. Latency
	// is then measured at a given offered load rather than at the server's limit.
	Rate int
	// ServerPID is read for RSS figures (idle scenario). 0: no memory figures.
	ServerPID int
	// SourceIPs are the local addresses connections are spread over. Default: 127.0.0.1 for up to
	// 20,000 connections, then 127.0.0.2, … (every 127.0.0.0/8 address is loopback on Linux).
	SourceIPs []string
	// ConnectParallelism bounds connection attempts at once. Default 64.
	ConnectParallelism int
	// Logger for progress. Default slog.Default().
	Logger *slog.Logger
	// Token, when set, gives receiving connection i a bearer token (the user scenario's users).
	Token func(i int) string
	// Send, when set, sends each fan-out message instead of a hub invocation by a sending
	// connection (the management API's REST path): method and args are the conformance hub's
	// (SendToGroup, SendToUser).
	Send func(ctx context.Context, method string, args []any) error
}

func (c Config) withDefaults() Config {
	if c.Payload == 0 {
		c.Payload = 100
	}
	if c.ConnectParallelism == 0 {
		c.ConnectParallelism = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Protocol == "" {
		c.Protocol = client.JSON
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{c.URL}
	}
	if c.GroupSize == 0 {
		c.GroupSize = 10
	}
	if c.Senders == 0 {
		c.Senders = 1
	}
	if len(c.SourceIPs) == 0 {
		for i := 0; i*20000 < c.Conns+1; i++ {
			c.SourceIPs = append(c.SourceIPs, fmt.Sprintf("127.0.0.%d", i+1))
		}
	}
	return c
}

// pool is a set of open client connections.
type pool struct {
	clients []*client.Client
}

// connect opens n connections, calling setup on each before it starts (to register handlers).
func connect(ctx context.Context, cfg Config, n int, setup func(i int, c *client.Client)) (*pool, error) {
	p := &pool{clients: make([]*client.Client, n)}
	sem := make(chan struct{}, cfg.ConnectParallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		ip := net.ParseIP(cfg.SourceIPs[i%len(cfg.SourceIPs)])
		opts := client.Options{
			Protocol:  cfg.Protocol,
			LocalAddr: &net.TCPAddr{IP: ip},
			Logger:    slog.New(slog.DiscardHandler),
			// Idle connections of a load test must not be dropped by timers of a busy machine.
			ServerTimeout: 2 * time.Minute,
		}
		if cfg.Token != nil {
			tok := cfg.Token(i)
			opts.AccessToken = func(context.Context) (string, error) { return tok, nil }
		}
		c, err := client.New(cfg.URLs[i%len(cfg.URLs)], opts)
		if err != nil {
			p.close()
			return nil, err
		}
		if setup != nil {
			setup(i, c)
		}
		p.clients[i] = c
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			for attempt := 0; attempt < 3; attempt++ {
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err = c.Start(sctx)
				cancel()
				if err == nil || ctx.Err() != nil {
					break
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
		if i > 0 && i%5000 == 0 {
			cfg.Logger.Info("connecting", "server", cfg.Server, "opened", i, "of", n)
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		p.close()
		return nil, fmt.Errorf("%d of %d connections failed; first: %w", len(errs), n, errs[0])
	}
	return p, nil
}

func (p *pool) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for _, c := range p.clients {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Stop(ctx) // best effort: the run is over, the server drops what is left
		})
	}
	wg.Wait()
}

// Idle measures the server's memory per idle WebSocket connection: its RSS growth over n
// connections, divided by n.
func Idle(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	r := Result{Server: cfg.Server, Scenario: "idle", Conns: cfg.Conns}
	if cfg.ServerPID == 0 {
		return r, errors.New("idle: the server's pid is needed to read its memory")
	}
	before, err := SettledRSS(cfg.ServerPID, 10*time.Second)
	if err != nil {
		return r, err
	}
	start := time.Now()
	p, err := connect(ctx, cfg, cfg.Conns, nil)
	if err != nil {
		return r, err
	}
	defer p.close()
	after, err := SettledRSS(cfg.ServerPID, 20*time.Second)
	if err != nil {
		return r, err
	}
	r.DurationS = time.Since(start).Seconds()
	r.RSSBeforeKiB, r.RSSAfterKiB = before, after
	r.BytesPerConn = float64(after-before) * 1024 / float64(cfg.Conns)
	return r, nil
}

// message payloads are "<seq>|<unix nanos>|<padding>".
func payload(seq int64, size int) string {
	head := strconv.FormatInt(seq, 10) + "|" + strconv.FormatInt(time.Now().UnixNano(), 10) + "|"
	if pad := size - len(head); pad > 0 {
		return head + strings.Repeat("x", pad)
	}
	return head
}

func parsePayload(s string) (seq int64, sent time.Time, ok bool) {
	a, rest, ok1 := strings.Cut(s, "|")
	b, _, ok2 := strings.Cut(rest, "|")
	if !ok1 || !ok2 {
		return 0, time.Time{}, false
	}
	seq, err1 := strconv.ParseInt(a, 10, 64)
	ns, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(0, ns), true
}

// fanout is the receiving side of the broadcast and group scenarios.
type fanout struct {
	hist      Histogram
	delivered atomic.Int64
	ring      []slot // deliveries of the messages in flight, by seq modulo len
	bad       atomic.Int64
}

// slot counts the deliveries of one message; a late delivery of an older message that used the
// same slot is not counted.
type slot struct {
	seq   atomic.Int64
	count atomic.Int64
}

func newFanout(window int) *fanout {
	f := &fanout{ring: make([]slot, 4*window)}
	for i := range f.ring {
		f.ring[i].seq.Store(-1)
	}
	return f
}

// arm prepares the slot of a message about to be sent.
func (f *fanout) arm(seq int64) {
	s := &f.ring[seq%int64(len(f.ring))]
	s.count.Store(0)
	s.seq.Store(seq)
}

func (f *fanout) handler(_ context.Context, args client.Args) (any, error) {
	var s string
	if err := args.Decode(0, &s); err != nil {
		f.bad.Add(1)
		return nil, nil
	}
	f.record(s)
	return nil, nil
}

// record counts one received payload.
func (f *fanout) record(s string) {
	seq, sent, ok := parsePayload(s)
	if !ok {
		f.bad.Add(1)
		return
	}
	f.hist.Record(time.Since(sent))
	f.delivered.Add(1)
	if s := &f.ring[seq%int64(len(f.ring))]; s.seq.Load() == seq {
		s.count.Add(1)
	}
}

// waitFor waits until message seq reached want receivers, or a bounded time passed (counted as an
// error: deliveries that never came).
func (f *fanout) waitFor(ctx context.Context, seq int64, want int64) bool {
	s := &f.ring[seq%int64(len(f.ring))]
	deadline := time.Now().Add(5 * time.Second)
	for s.seq.Load() == seq && s.count.Load() < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

// Broadcast measures fan-out to every connection: one sender calls SendToAll, every receiver
// reports the latency from send to receipt.
func Broadcast(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if cfg.Window == 0 {
		cfg.Window = 8
	}
	return runFanout(ctx, cfg, "broadcast", cfg.Conns, func(seq int64) (string, []any) {
		return "SendToAll", []any{"m", payload(seq, cfg.Payload)}
	}, nil)
}

// Group measures fan-out to groups of GroupSize: connection i joins group i/GroupSize; the sender
// addresses the groups in turn.
func Group(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if cfg.Window == 0 {
		cfg.Window = 256
	}
	size := cfg.GroupSize
	groups := max(cfg.Conns/size, 1)
	join := func(ctx context.Context, p *pool) error {
		sem := make(chan struct{}, 256)
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i, c := range p.clients {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := c.Invoke(ctx, "JoinGroup", nil, fmt.Sprintf("g%d", i/size)); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("%d connections could not join their group", n)
		}
		return nil
	}
	return runFanout(ctx, cfg, "group", size, func(seq int64) (string, []any) {
		return "SendToGroup", []any{fmt.Sprintf("g%d", seq%int64(groups)), "m", payload(seq, cfg.Payload)}
	}, join)
}

// User measures sends to users: connection i is user u<i> (Config.Token gives its token); the
// sender addresses the users in turn.
func User(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if cfg.Window == 0 {
		cfg.Window = 256
	}
	return runFanout(ctx, cfg, "user", 1, func(seq int64) (string, []any) {
		return "SendToUser", []any{fmt.Sprintf("u%d", seq%int64(cfg.Conns)), "m", payload(seq, cfg.Payload)}
	}, nil)
}

// restSend is one message for the REST senders.
type restSend struct {
	method string
	args   []any
}

func runFanout(ctx context.Context, cfg Config, scenario string, perMessage int, next func(seq int64) (string, []any), prepare func(context.Context, *pool) error) (Result, error) {
	r := Result{Server: cfg.Server, Scenario: scenario, Conns: cfg.Conns}
	f := newFanout(cfg.Window)
	p, err := connect(ctx, cfg, cfg.Conns, func(_ int, c *client.Client) { c.On("m", f.handler) })
	if err != nil {
		return r, err
	}
	defer p.close()
	if prepare != nil {
		if err := prepare(ctx, p); err != nil {
			return r, err
		}
	}
	scfg := cfg
	scfg.URLs = cfg.URLs[:1] // every sender on the first node
	sp, err := connect(ctx, scfg, cfg.Senders, nil)
	if err != nil {
		return r, err
	}
	defer sp.close()

	// 99 % of the receivers count as arrived: one straggler must not stall the window.
	want := int64(perMessage) - int64(perMessage)/100
	if cfg.Measuring != nil {
		cfg.Measuring(true)
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var seq int64
	var inflight sync.WaitGroup
	var restErrors atomic.Int64
	restQueue := make(chan restSend, cfg.Window)
	if cfg.Send != nil {
		// Each worker waits for its request's answer, where a hub connection's Send does not wait:
		// enough of them that the round trip does not queue the sends.
		for range max(cfg.Senders, 32) {
			inflight.Go(func() {
				for m := range restQueue {
					if err := cfg.Send(ctx, m.method, m.args); err != nil {
						restErrors.Add(1)
					}
				}
			})
		}
	}
	closeQueue := sync.OnceFunc(func() { close(restQueue) })
	defer func() {
		closeQueue()
		inflight.Wait()
	}()
	if cfg.Rate > 0 {
		r.Note = fmt.Sprintf("%d msg/s offered", cfg.Rate)
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		// Pace by the clock rather than a ticker per message (a ticker cannot tick every 100 µs):
		// send what the rate allows by now, then sleep a little.
		for cfg.Rate > 0 && float64(seq) >= time.Since(start).Seconds()*float64(cfg.Rate) && ctx.Err() == nil {
			time.Sleep(200 * time.Microsecond)
		}
		sender := sp.clients[seq%int64(len(sp.clients))]
		if seq >= int64(cfg.Window) && !f.waitFor(ctx, seq-int64(cfg.Window), want) {
			r.Errors++
		}
		f.arm(seq)
		method, args := next(seq)
		if cfg.Send != nil {
			// The REST path: a pool of workers makes the requests, as a backend's would.
			restQueue <- restSend{method, args}
			seq++
			continue
		}
		// Fire-and-forget: the window above paces the sender by deliveries, not by the round trip
		// of its own invocations (which queue behind the fan-out on a busy server).
		if err := sender.Send(ctx, method, args...); err != nil {
			r.Errors++
			if errors.Is(err, client.ErrConnectionClosed) || errors.Is(err, client.ErrNotConnected) {
				return r, fmt.Errorf("sender: %w", err)
			}
		}
		seq++
	}
	elapsed := time.Since(start)
	// Let the last window arrive; what does not within the bound is counted missing.
	for s := max(seq-int64(cfg.Window), 0); s < seq; s++ {
		f.waitFor(ctx, s, int64(perMessage))
	}
	if cfg.Measuring != nil {
		cfg.Measuring(false)
	}
	r.Sent = seq
	r.Delivered = f.delivered.Load()
	r.DurationS = elapsed.Seconds()
	r.DeliveriesPerS = float64(r.Delivered) / elapsed.Seconds()
	r.P50ms = float64(f.hist.Quantile(0.50)) / 1e6
	r.P99ms = float64(f.hist.Quantile(0.99)) / 1e6
	closeQueue()
	inflight.Wait()
	r.Errors += f.bad.Load() + seq*int64(perMessage) - r.Delivered + restErrors.Load()
	return r, nil
}

// Echo measures round trips: every connection calls Echo in a closed loop.
func Echo(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	r := Result{Server: cfg.Server, Scenario: "echo", Conns: cfg.Conns}
	p, err := connect(ctx, cfg, cfg.Conns, nil)
	if err != nil {
		return r, err
	}
	defer p.close()
	var hist Histogram
	var errs atomic.Int64
	value := strings.Repeat("x", cfg.Payload)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	if cfg.Rate > 0 {
		r.Note = fmt.Sprintf("%d/s offered", cfg.Rate)
	}
	for i, c := range p.clients {
		wg.Go(func() {
			var out string
			var pace <-chan time.Time
			if cfg.Rate > 0 {
				// Each connection calls at its share of the offered rate, the connections spread
				// over one period so that the calls do not come in waves.
				period := time.Duration(float64(time.Second) * float64(len(p.clients)) / float64(cfg.Rate))
				time.Sleep(period * time.Duration(i) / time.Duration(len(p.clients)))
				t := time.NewTicker(period)
				defer t.Stop()
				pace = t.C
			}
			for runCtx.Err() == nil {
				if pace != nil {
					select {
					case <-pace:
					case <-runCtx.Done():
						return
					}
				}
				t := time.Now()
				if err := c.Invoke(runCtx, "Echo", &out, value); err != nil {
					if runCtx.Err() == nil {
						errs.Add(1)
					}
					if errors.Is(err, client.ErrConnectionClosed) || errors.Is(err, client.ErrNotConnected) {
						return
					}
					continue
				}
				hist.Record(time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.Sent = hist.Count()
	r.Delivered = hist.Count()
	r.DurationS = elapsed.Seconds()
	r.DeliveriesPerS = float64(hist.Count()) / elapsed.Seconds()
	r.P50ms = float64(hist.Quantile(0.50)) / 1e6
	r.P99ms = float64(hist.Quantile(0.99)) / 1e6
	r.Errors = errs.Load()
	return r, nil
}
