package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// Protocol names a hub protocol: how messages are encoded on the wire.
type Protocol string

// The hub protocols the client speaks.
const (
	// JSON is the JSON hub protocol (WebSocket text frames).
	JSON Protocol = "json"
	// MessagePack is the MessagePack hub protocol (WebSocket binary frames): smaller and faster.
	MessagePack Protocol = "messagepack"
)

// hubProtocol returns the codec of p ("" means JSON), or nil for an unknown name.
func (p Protocol) hubProtocol() protocol.HubProtocol {
	if p == "" {
		return protocol.JSON()
	}
	return protocol.ByName(string(p))
}

// TokenFunc returns the access token to send to the server. It is called once for every
// connection attempt (each negotiate, including those of automatic reconnects, and once more when
// a negotiate is refused with 401), so it may refresh an expired token.
type TokenFunc func(ctx context.Context) (string, error)

// StaticToken returns a TokenFunc that always returns token.
func StaticToken(token string) TokenFunc {
	return func(context.Context) (string, error) { return token, nil }
}

// Options configure a Client. The zero value of every field means its documented default.
type Options struct {
	// Protocol is the hub protocol. Default JSON.
	Protocol Protocol
	// AccessToken supplies the bearer token, sent as "Authorization: Bearer …" on negotiate and on
	// the WebSocket upgrade. Default: no token.
	AccessToken TokenFunc
	// AccessTokenInQuery also puts the token in the access_token query parameter of the WebSocket
	// upgrade, as browsers must (they cannot set headers on a WebSocket). Default false.
	AccessTokenInQuery bool
	// Header holds extra HTTP headers for negotiate and the WebSocket upgrade. Default none.
	Header http.Header
	// SkipNegotiation connects the WebSocket directly, without the negotiate request. The server
	// then makes a connection without a token, and ConnectionID is empty. Default false.
	SkipNegotiation bool

	// HTTPClient makes the negotiate request and the WebSocket upgrade. Its Transport must return
	// writable bodies for protocol switches (http.Transport does). Default: a client shared by
	// every Client with the same Dialer or LocalAddr (http.DefaultClient when neither is set), so
	// that thousands of Clients share one pool of negotiate connections.
	HTTPClient *http.Client
	// Dialer dials the TCP connections when HTTPClient is nil. Default: a net.Dialer with 30 s
	// timeout and keep-alive.
	Dialer *net.Dialer
	// LocalAddr is the source address of the TCP connections when HTTPClient and Dialer are nil:
	// a load generator binds several 127.0.0.x addresses to open more connections than one
	// address has ephemeral ports. Default: chosen by the system.
	LocalAddr *net.TCPAddr

	// Reconnect is the automatic reconnect policy: when an established connection drops (not after
	// Stop, not when the server's Close message forbids it), the client reconnects with the
	// policy's delays, each attempt a fresh negotiate and handshake. Default nil: no automatic
	// reconnect. DefaultReconnect retries after 0, 2, 10 and 30 seconds, as the JavaScript client.
	Reconnect ReconnectPolicy

	// HandshakeTimeout bounds the hub handshake after the WebSocket is open. Default 15 s.
	HandshakeTimeout time.Duration
	// KeepAliveInterval is how long the client may stay silent before it sends a Ping, so that the
	// server does not time it out. Default 15 s.
	KeepAliveInterval time.Duration
	// ServerTimeout ends the connection when nothing has come from the server for this long (the
	// server pings every 15 s by default). Default 30 s.
	ServerTimeout time.Duration
	// WriteTimeout bounds one write to the socket; a write that takes longer ends the connection.
	// A call that finds no write in progress writes its message itself (see WriteBufferSize), so a
	// congested socket can hold it up to WriteTimeout, whatever its context. Default 10 s.
	WriteTimeout time.Duration

	// MaxMessageSize bounds one received message; a larger one ends the connection. Default 1 MiB.
	MaxMessageSize int
	// WriteBufferSize bounds the bytes of encoded messages waiting while a write is in progress
	// (they are written next, together, as one frame). A call that would go beyond it waits until
	// the write is done or the call's context ends; a message larger than the bound is accepted
	// when nothing else waits. Default 64 KiB.
	WriteBufferSize int
	// HandlerQueueSize bounds the server invocations waiting for their handler (see On). When the
	// queue is full the reader waits for room, so nothing else is read meanwhile. Default 256.
	HandlerQueueSize int
	// StreamBufferSize bounds the items of one server-to-client stream that wait for Next. When a
	// stream's buffer is full the reader waits for room. Default 16.
	StreamBufferSize int

	// Logger receives the client's diagnostics. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Protocol == "" {
		o.Protocol = JSON
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.HandshakeTimeout, 15*time.Second)
	setDefault(&o.KeepAliveInterval, 15*time.Second)
	setDefault(&o.ServerTimeout, 30*time.Second)
	setDefault(&o.WriteTimeout, 10*time.Second)
	setDefault(&o.MaxMessageSize, 1<<20)
	setDefault(&o.WriteBufferSize, 64<<10)
	setDefault(&o.HandlerQueueSize, 256)
	setDefault(&o.StreamBufferSize, 16)
	return o
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func (o Options) validate() error {
	var errs []error
	if o.Protocol.hubProtocol() == nil {
		errs = append(errs, fmt.Errorf("client: unknown protocol %q", o.Protocol))
	}
	if o.HTTPClient != nil && (o.Dialer != nil || o.LocalAddr != nil) {
		errs = append(errs, errors.New("client: Dialer and LocalAddr apply only when HTTPClient is nil"))
	}
	if o.Dialer != nil && o.LocalAddr != nil {
		errs = append(errs, errors.New("client: set Dialer.LocalAddr or LocalAddr, not both"))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"HandshakeTimeout", int64(o.HandshakeTimeout)}, {"KeepAliveInterval", int64(o.KeepAliveInterval)},
		{"ServerTimeout", int64(o.ServerTimeout)}, {"WriteTimeout", int64(o.WriteTimeout)},
		{"MaxMessageSize", int64(o.MaxMessageSize)}, {"WriteBufferSize", int64(o.WriteBufferSize)},
		{"HandlerQueueSize", int64(o.HandlerQueueSize)}, {"StreamBufferSize", int64(o.StreamBufferSize)},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("client: %s must be positive, got %d", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// RetryContext describes the situation when a ReconnectPolicy is asked for the next delay.
type RetryContext struct {
	// Retries is the number of reconnect attempts that failed so far (0 before the first).
	Retries int
	// Elapsed is the time since the connection was lost.
	Elapsed time.Duration
	// Reason is why the connection was lost, or why the last attempt failed.
	Reason error
}

// ReconnectPolicy decides whether and when the client tries to reconnect.
type ReconnectPolicy interface {
	// NextDelay returns how long to wait before the next attempt, or false to give up.
	NextDelay(r RetryContext) (time.Duration, bool)
}

// Delays is a ReconnectPolicy that waits Delays[i] before attempt i+1 and gives up when they run
// out.
type Delays []time.Duration

var _ ReconnectPolicy = Delays(nil)

// NextDelay implements ReconnectPolicy.
func (d Delays) NextDelay(r RetryContext) (time.Duration, bool) {
	if r.Retries < 0 || r.Retries >= len(d) {
		return 0, false
	}
	return d[r.Retries], true
}

// DefaultReconnect is the JavaScript client's default policy: attempts after 0, 2, 10 and 30
// seconds, then give up.
var DefaultReconnect ReconnectPolicy = Delays{0, 2 * time.Second, 10 * time.Second, 30 * time.Second}
