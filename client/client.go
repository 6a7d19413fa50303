package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// State is the state of a Client.
type State int32

// The states of a Client, as in the official clients.
const (
	// Disconnected: before Start, and after the client closed.
	Disconnected State = iota
	// Connecting: Start is connecting.
	Connecting
	// Connected: calls can be made.
	Connected
	// Reconnecting: the connection dropped and the reconnect policy runs.
	Reconnecting
	// Disconnecting: Stop is closing the connection.
	Disconnecting
)

// String names the state.
func (s State) String() string {
	switch s {
	case Disconnected:
		return "Disconnected"
	case Connecting:
		return "Connecting"
	case Connected:
		return "Connected"
	case Reconnecting:
		return "Reconnecting"
	case Disconnecting:
		return "Disconnecting"
	}
	return "Unknown"
}

// Client is a SignalR hub client over WebSockets. Make one with New, register handlers with On,
// connect with Start. All its methods are safe for concurrent use.
type Client struct {
	url   *url.URL
	opts  Options
	proto protocol.HubProtocol
	http  *http.Client
	log   *slog.Logger
	ids   atomic.Uint64

	handlersMu sync.RWMutex
	handlers   map[string]Handler

	cbMu           sync.Mutex
	onClose        []func(error)
	onReconnecting []func(error)
	onReconnected  []func(string)

	mu      sync.Mutex
	state   State
	session *session
	current atomic.Pointer[conn] // the connection calls use; nil unless Connected
}

// session is one run of the client, from Start until it is Disconnected again.
type session struct {
	ctx      context.Context // ends when Stop is called
	cancel   context.CancelCauseFunc
	done     chan struct{} // closed once the session is over and OnClose has run
	g        group         // every goroutine of the session
	stopping bool          // guarded by Client.mu
	conn     *conn         // guarded by Client.mu
}

// New returns a client of the hub at hubURL (http, https, ws or wss; its query string is kept on
// every request). It does not connect: see Start.
func New(hubURL string, opts Options) (*Client, error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	u, err := parseHubURL(hubURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{
		url:   u,
		opts:  opts,
		proto: opts.Protocol.hubProtocol(),
		http:  httpClient(&opts),
		log:   opts.Logger,
	}, nil
}

// State is the client's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// ConnectionID is the id the server gave the current connection (what the server's
// Clients.Client(id) takes); empty when not connected or when negotiation was skipped. It changes
// with every reconnect.
func (c *Client) ConnectionID() string {
	if cn := c.current.Load(); cn != nil {
		return cn.id
	}
	return ""
}

// OnClose adds a callback run when the client becomes Disconnected after having been connected:
// err is nil after Stop, else why the connection ended (a *CloseError when the server closed it,
// the last attempt's error when the reconnect policy gave up). Callbacks run one after the
// other, in the order they were added, on the client's reader goroutine. The client is already
// Disconnected then: a callback may call Start to reconnect by hand.
func (c *Client) OnClose(fn func(err error)) {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	c.onClose = append(c.onClose, fn)
}

// OnReconnecting adds a callback run when the connection dropped and the client starts to
// reconnect; err is why it dropped. Callbacks run as OnClose's do; one that wants to stop the
// client must call Stop in a new goroutine (go c.Stop(ctx)), as Stop waits for the callbacks.
func (c *Client) OnReconnecting(fn func(err error)) {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	c.onReconnecting = append(c.onReconnecting, fn)
}

// OnReconnected adds a callback run when an automatic reconnect succeeded, with the new
// connection id. Callbacks run as OnReconnecting's do.
func (c *Client) OnReconnected(fn func(connectionID string)) {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	c.onReconnected = append(c.onReconnected, fn)
}

// Start connects: negotiate, WebSocket, handshake. ctx bounds the connecting only, not the
// connection, which lasts until Stop or until it ends and the reconnect policy (if any) gives up.
// Start returns ErrAlreadyStarted unless the client is Disconnected; a client may be started
// again after it closed.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.state != Disconnected {
		c.mu.Unlock()
		return ErrAlreadyStarted
	}
	s := &session{done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	c.session = s
	c.state = Connecting
	c.mu.Unlock()

	cctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.ctx, func() { cancel(context.Cause(s.ctx)) })
	cn, err := c.connect(cctx, s)
	stop()
	cancel(nil)
	if err == nil {
		if c.attach(s, cn) {
			cn.start()
		} else {
			cn.end(ErrStopped)
			err = ErrStopped
		}
	}
	if err != nil {
		if errors.Is(context.Cause(s.ctx), ErrStopped) && !errors.Is(err, ErrStopped) {
			err = fmt.Errorf("%w during Start: %w", ErrStopped, err)
		}
		c.setDisconnected(s)
		close(s.done)
		return err
	}
	s.g.Go(func() { c.run(s, cn) })
	return nil
}

// Stop closes the connection and ends the client: reconnecting stops, calls still waiting fail
// with an error wrapping ErrConnectionClosed and ErrStopped, a Close message is sent, then the
// WebSocket is closed normally. Stop waits until the client is Disconnected, OnClose has run and
// every goroutine of the client (handlers included) has returned, or until ctx ends: then the
// socket is closed at once and ctx.Err() is returned. Stopping a Disconnected client does nothing.
// Calling Stop from a handler or a callback waits until ctx ends: call it in a new goroutine
// there.
func (c *Client) Stop(ctx context.Context) error {
	c.mu.Lock()
	s := c.session
	if s == nil || c.state == Disconnected {
		c.mu.Unlock()
		return nil
	}
	s.stopping = true
	c.state = Disconnecting
	cn := s.conn
	c.mu.Unlock()
	s.cancel(ErrStopped)
	if cn != nil {
		cn.closeGracefully(ErrStopped)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		if cn != nil {
			// Not inline: closing the socket can wait for a close handshake in progress.
			s.g.Go(func() { cn.end(ErrStopped) })
		}
		return ctx.Err()
	}
	return s.g.Wait(ctx)
}

// attach makes cn the session's connection, unless Stop was called meanwhile.
func (c *Client) attach(s *session, cn *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.stopping {
		return false
	}
	s.conn = cn
	c.state = Connected
	c.current.Store(cn)
	return true
}

// detach forgets the session's ended connection.
func (c *Client) detach(s *session, cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.conn == cn {
		s.conn = nil
		c.current.CompareAndSwap(cn, nil)
	}
}

func (c *Client) setDisconnected(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == s {
		c.state = Disconnected
		c.current.Store(nil)
	}
}

// setReconnecting moves to Reconnecting unless Stop was called.
func (c *Client) setReconnecting(s *session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.stopping {
		return false
	}
	c.state = Reconnecting
	return true
}

// run reads the session's connection until it ends, then reconnects or finishes the session.
func (c *Client) run(s *session, cn *conn) {
	for {
		err := cn.readLoop()
		cn.end(err)
		cause := context.Cause(cn.ctx)
		c.detach(s, cn)
		if s.ctx.Err() != nil {
			c.finish(s, nil)
			return
		}
		c.log.Info("client: connection lost", "connection", cn.id, "err", cause)
		if cn = c.reconnect(s, cause); cn == nil {
			return
		}
	}
}

// reconnect runs the reconnect policy after the connection dropped for cause. It returns the new
// connection, or nil once it has finished the session.
func (c *Client) reconnect(s *session, cause error) *conn {
	var ce *CloseError
	if c.opts.Reconnect == nil || errors.As(cause, &ce) && !ce.AllowReconnect {
		c.finish(s, cause)
		return nil
	}
	started := time.Now()
	rc := RetryContext{Reason: cause}
	delay, ok := c.opts.Reconnect.NextDelay(rc)
	if !ok {
		c.finish(s, cause)
		return nil
	}
	if !c.setReconnecting(s) {
		c.finish(s, nil)
		return nil
	}
	c.fireErr(&c.onReconnecting, cause)
	for {
		if !sleep(s.ctx, delay) {
			c.finish(s, nil)
			return nil
		}
		cn, err := c.connect(s.ctx, s)
		if err == nil {
			if !c.attach(s, cn) {
				cn.end(ErrStopped)
				c.finish(s, nil)
				return nil
			}
			cn.start()
			c.log.Info("client: reconnected", "connection", cn.id, "attempts", rc.Retries+1)
			c.cbMu.Lock()
			fns := append([]func(string){}, c.onReconnected...)
			c.cbMu.Unlock()
			for _, fn := range fns {
				fn(cn.id)
			}
			return cn
		}
		if s.ctx.Err() != nil {
			c.finish(s, nil)
			return nil
		}
		rc.Retries++
		rc.Elapsed = time.Since(started)
		rc.Reason = err
		c.log.Info("client: reconnect attempt failed", "attempt", rc.Retries, "err", err)
		if delay, ok = c.opts.Reconnect.NextDelay(rc); !ok {
			c.finish(s, fmt.Errorf("client: reconnecting gave up after %d attempts: %w", rc.Retries, err))
			return nil
		}
	}
}

// finish ends the session: Disconnected, then OnClose.
func (c *Client) finish(s *session, err error) {
	c.setDisconnected(s)
	c.fireErr(&c.onClose, err)
	close(s.done)
}

func (c *Client) fireErr(list *[]func(error), err error) {
	c.cbMu.Lock()
	fns := append([]func(error){}, (*list)...)
	c.cbMu.Unlock()
	for _, fn := range fns {
		fn(err)
	}
}

// sleep waits d, or until ctx ends (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// group tracks goroutines, so that Stop can wait for them. Unlike a sync.WaitGroup, goroutines
// may be added while someone waits.
type group struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

// Go runs f on a new goroutine.
func (g *group) Go(f func()) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	go func() {
		defer g.done()
		f()
	}()
}

func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// Wait waits until no goroutine runs, or ctx ends.
func (g *group) Wait(ctx context.Context) error {
	g.mu.Lock()
	if g.n == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
