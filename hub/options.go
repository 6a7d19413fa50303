package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub/protocol"
)

// Principal is the authenticated identity behind a connection.
type Principal struct {
	// UserID is what Clients().User(id) addresses.
	UserID string
	// Roles the identity holds.
	Roles []string
	// Claims are the token's claims.
	Claims map[string]any
	// Expires is when the credentials end (the zero time: never, unless Claims has a numeric
	// "exp", which is then taken). Connections are closed at that time unless
	// Options.KeepConnectionsPastExpiry is set.
	Expires time.Time
}

// expiry is when p's credentials end, in unix nanoseconds; 0 for never.
func (p *Principal) expiry() int64 {
	if p == nil {
		return 0
	}
	if !p.Expires.IsZero() {
		return p.Expires.UnixNano()
	}
	var sec float64
	switch v := p.Claims["exp"].(type) {
	case float64:
		sec = v
	case int64:
		sec = float64(v)
	case int:
		sec = float64(v)
	case json.Number:
		sec, _ = v.Float64()
	}
	if sec <= 0 {
		return 0
	}
	return int64(sec * float64(time.Second))
}

// AuthenticateFunc returns the identity of a request: (nil, nil) when the request carries no
// credentials, an error when it carries bad ones (the request then gets 401).
type AuthenticateFunc func(r *http.Request) (*Principal, error)

// The defaults of Options, in one place: `herald serve` takes its flag defaults from them.
const (
	DefaultMaxMessageSize         = protocol.DefaultMaxMessageSize
	DefaultMaxParallelInvocations = 1
	DefaultStreamBufferCapacity   = 10
	DefaultSendQueueSize          = 1024
	DefaultHandshakeTimeout       = 15 * time.Second
	DefaultKeepAliveInterval      = 15 * time.Second
	DefaultClientTimeout          = 30 * time.Second
	DefaultDisconnectTimeout      = 15 * time.Second
	DefaultLongPollTimeout        = 90 * time.Second
	DefaultClientResultTimeout    = 30 * time.Second
	DefaultWriteCoalesce          = 2 * time.Millisecond
	DefaultWriteTimeout           = 10 * time.Second
	// DefaultStatefulReconnectBufferSize is the .NET server's and the clients' default.
	DefaultStatefulReconnectBufferSize = 100_000
	DefaultNegotiatesPerMinute         = 600
	DefaultNegotiateBurst              = 100
	DefaultMaxConnectionsPerUser       = 200
)

// Options configure a Hub. The zero value of every field means its documented default.
type Options struct {
	// Authenticate identifies requests. Nil means every connection is anonymous.
	Authenticate AuthenticateFunc
	// RequireAuth refuses anonymous connections with 401 (negotiate and transports).
	RequireAuth bool
	// Backplane carries messages between nodes. Default: a single-node backplane.NewMemory().
	Backplane backplane.Backplane
	// Metrics receives the hub's counters. Default: none.
	Metrics *Metrics
	// Monitor counts the hub's connections and sends for the cluster's live counts, and traces
	// its events while someone watches (NewMonitor). One Monitor serves every hub of a node.
	// Default: none (no trace, no counts).
	Monitor *Monitor
	// Logger. Default: slog.Default().
	Logger *slog.Logger

	// MaxMessageSize bounds one received record; a larger one closes the connection with an error.
	// Default 32 KB (32768 bytes), as the .NET server.
	MaxMessageSize int
	// MaxParallelInvocations bounds the invocations of one connection that run at once; further
	// invocations wait (the connection stops reading). Default 1, as the .NET server.
	MaxParallelInvocations int
	// StreamBufferCapacity bounds the items buffered for each client-to-server stream; when full,
	// the connection stops reading until the method takes an item. Default 10.
	StreamBufferCapacity int
	// SendQueueSize bounds the messages waiting to be written to one connection. A connection
	// whose queue is full is a slow consumer: it is closed, and counted. Default 1024.
	SendQueueSize int
	// HandshakeTimeout closes a connection that has not completed its handshake. Default 15 s.
	HandshakeTimeout time.Duration
	// KeepAliveInterval is how long a connection may stay silent before the server pings it.
	// Default 15 s.
	KeepAliveInterval time.Duration
	// ClientTimeout closes a connection the server has heard nothing from for this long. Default 30 s.
	ClientTimeout time.Duration
	// DisconnectTimeout is how long a negotiated connection may wait for its transport, and a long-
	// polling connection for its next poll, before it is dropped. Default 15 s.
	DisconnectTimeout time.Duration
	// LongPollTimeout is how long a poll waits for messages before it returns empty. Default 90 s.
	LongPollTimeout time.Duration
	// ClientResultTimeout bounds the wait for a client result when the caller's context has no
	// deadline. Default 30 s.
	ClientResultTimeout time.Duration
	// WriteCoalesce is how long the WebSocket write of a message from someone else (a broadcast, a
	// group or user message) may wait for more messages to the same connection, to write them in
	// one frame. Replies to the caller are never held. Measured with `herald bench hub` at 10,000
	// connections: 200 broadcasts a second overloaded the machine without it and were kept up
	// with 2 ms. Default 2 ms; negative turns it off.
	WriteCoalesce time.Duration
	// WriteTimeout bounds one write to a transport. Default 10 s.
	WriteTimeout time.Duration
	// KeepConnectionsPastExpiry keeps a connection open after its credentials expire
	// (Principal.Expires, or the token's exp). By default it is closed then, with a Close message
	// that allows reconnecting (the clients' automatic reconnect gets a fresh token), as ASP.NET
	// Core's CloseOnAuthenticationExpiration: a socket must not outlive the token that opened it.
	// A transport request with a later token (a long poll, a resume) extends the connection.
	KeepConnectionsPastExpiry bool
	// NegotiatesPerMinute bounds the connections one user may start (negotiate, or a WebSocket
	// without negotiate) per minute on this node, after a burst of NegotiateBurst; more get 429
	// with Retry-After. Anonymous connections are not limited (see limits.go). Default 600 a
	// minute after a burst of 100; negative turns it off.
	NegotiatesPerMinute int
	NegotiateBurst      int
	// MaxConnectionsPerUser bounds one user's open connections on this node; more get 429.
	// Default 200; negative turns it off.
	MaxConnectionsPerUser int
	// DisableStatefulReconnect refuses clients' withStatefulReconnect(): negotiate does not offer
	// it. On by default: a WebSocket that drops for less than DisconnectTimeout then loses
	// nothing (stateful.go).
	DisableStatefulReconnect bool
	// StatefulReconnectBufferSize bounds the bytes of messages kept per stateful connection until
	// the client acknowledges them (about once a second). A message from someone else that does
	// not fit closes the connection (the client reconnects afresh); a reply to the caller waits
	// for room. Default 100,000 bytes, as the .NET server and the clients.
	StatefulReconnectBufferSize int
	// EnableDetailedErrors sends the text of a method's error to the client. Off by default: the
	// client gets a generic text unless the method returns a *hub.Error.
	EnableDetailedErrors bool
	// Transports that clients may use. Default: all of them.
	Transports []Transport
	// AllowedOrigins are the origins (patterns as in path.Match, e.g. "https://*.example.com")
	// allowed to open WebSockets. Empty allows every origin: the hub authenticates with bearer
	// tokens, not cookies, so a cross-site page gains nothing it could not do itself.
	AllowedOrigins []string
	// OnConnected runs after a connection's handshake, before its first invocation. An error
	// closes the connection with a Close message, as .NET does when OnConnectedAsync throws:
	// "Connection closed with an error." and, for a *hub.Error (or any error with detailed
	// errors), " HubException: <message>" (" <Type>: <message>").
	OnConnected func(c *Context) error
	// OnDisconnected runs once when a connection ends; err is why (nil for a normal close).
	OnDisconnected func(c *Context, err error)
	// Filters run around every invocation and around OnConnected and OnDisconnected, the first
	// outermost (see Filter). Default none.
	Filters []Filter
	// ErrorText writes what a client is told about a failed invocation. Default DefaultErrorText:
	// ASP.NET Core's texts, to the letter.
	ErrorText func(e *InvocationError) string
	// Challenge answers a request refused for its credentials (negotiate, a transport request):
	// err is why (nil when it carried none). Default: 401 with an empty body and a
	// WWW-Authenticate challenge, as ASP.NET Core's JWT bearer handler answers (clients show a
	// non-empty body to users as the error).
	Challenge func(w http.ResponseWriter, r *http.Request, err error)
}

// Transport is a SignalR transport.
type Transport string

// The transports, with the names negotiate uses.
const (
	WebSockets       Transport = "WebSockets"
	ServerSentEvents Transport = "ServerSentEvents"
	LongPolling      Transport = "LongPolling"
)

// WithDefaults returns a copy of o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.Backplane == nil {
		o.Backplane = backplane.NewMemory()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.MaxMessageSize, DefaultMaxMessageSize)
	setDefault(&o.MaxParallelInvocations, DefaultMaxParallelInvocations)
	setDefault(&o.StreamBufferCapacity, DefaultStreamBufferCapacity)
	setDefault(&o.SendQueueSize, DefaultSendQueueSize)
	setDefault(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&o.KeepAliveInterval, DefaultKeepAliveInterval)
	setDefault(&o.ClientTimeout, DefaultClientTimeout)
	setDefault(&o.DisconnectTimeout, DefaultDisconnectTimeout)
	setDefault(&o.LongPollTimeout, DefaultLongPollTimeout)
	setDefault(&o.ClientResultTimeout, DefaultClientResultTimeout)
	setDefault(&o.WriteTimeout, DefaultWriteTimeout)
	setDefault(&o.WriteCoalesce, DefaultWriteCoalesce)
	setDefault(&o.StatefulReconnectBufferSize, DefaultStatefulReconnectBufferSize)
	setDefault(&o.NegotiatesPerMinute, DefaultNegotiatesPerMinute)
	setDefault(&o.NegotiateBurst, DefaultNegotiateBurst)
	setDefault(&o.MaxConnectionsPerUser, DefaultMaxConnectionsPerUser)
	if o.ErrorText == nil {
		o.ErrorText = DefaultErrorText
	}
	if o.Challenge == nil {
		o.Challenge = DefaultChallenge
	}
	if len(o.Transports) == 0 {
		o.Transports = []Transport{WebSockets, ServerSentEvents, LongPolling}
	}
	return o
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate reports what is wrong with o once its defaults are applied (New calls it).
func (o Options) Validate() error {
	var errs []error
	positive := func(name string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("hub: %s must be positive, got %d", name, v))
		}
	}
	positive("MaxMessageSize", int64(o.MaxMessageSize))
	positive("MaxParallelInvocations", int64(o.MaxParallelInvocations))
	positive("StreamBufferCapacity", int64(o.StreamBufferCapacity))
	positive("SendQueueSize", int64(o.SendQueueSize))
	positive("StatefulReconnectBufferSize", int64(o.StatefulReconnectBufferSize))
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HandshakeTimeout", o.HandshakeTimeout}, {"KeepAliveInterval", o.KeepAliveInterval},
		{"ClientTimeout", o.ClientTimeout}, {"DisconnectTimeout", o.DisconnectTimeout},
		{"LongPollTimeout", o.LongPollTimeout}, {"ClientResultTimeout", o.ClientResultTimeout},
		{"WriteTimeout", o.WriteTimeout},
	} {
		positive(d.name, int64(d.v))
	}
	for _, t := range o.Transports {
		if t != WebSockets && t != ServerSentEvents && t != LongPolling {
			errs = append(errs, fmt.Errorf("hub: unknown transport %q", t))
		}
	}
	if o.RequireAuth && o.Authenticate == nil {
		errs = append(errs, errors.New("hub: RequireAuth needs an Authenticate function"))
	}
	return errors.Join(errs...)
}
