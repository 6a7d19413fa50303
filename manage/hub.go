package manage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Hub is one hub of the server.
type Hub struct {
	c    *Client
	name string
}

// Name is the hub's name, lowercased.
func (h *Hub) Name() string { return h.name }

// Message is an invocation of a client method: Target(Arguments...) on every client sent to.
type Message struct {
	Target    string `json:"target"`
	Arguments []any  `json:"arguments"`
}

// SendOptions refine a send.
type SendOptions struct {
	// Excluded connection ids do not get the message (sends to all and to groups).
	Excluded []string
	// IdempotencyKey makes a repeated send (a worker redelivered the same order) a no-op on the
	// server for a while (Herald: 24 h). Default: a random key per call, which makes the client's
	// own retries safe.
	IdempotencyKey string
	// Result, when not nil, receives what the server said of the send.
	Result *SendResult
}

// SendResult is what Herald says of an accepted send (the hosted service says nothing).
type SendResult struct {
	// ReceivingNodes is the number of nodes that held a connection of the target when the message
	// was published (Herald-Receiving-Nodes): 0 means nobody was connected to receive it. -1 when
	// the server did not say (a replay, or another server).
	ReceivingNodes int
	// Replayed: the idempotency key was used before; this send was accepted and not sent again.
	Replayed bool
}

func (h *Hub) path(parts ...string) string {
	p := "/api/hubs/" + url.PathEscape(h.name)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

func (h *Hub) send(ctx context.Context, path string, m Message, opts []SendOptions) error {
	var o SendOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if m.Target == "" {
		return &Error{StatusCode: http.StatusBadRequest, Code: "bad_request", Message: "a message needs a target"}
	}
	if m.Arguments == nil {
		m.Arguments = []any{}
	}
	key := o.IdempotencyKey
	if key == "" {
		key = randomKey()
	}
	var q url.Values
	if len(o.Excluded) > 0 {
		q = url.Values{"excluded": o.Excluded}
	}
	got, err := h.c.do(ctx, http.MethodPost, path, q, http.Header{"Idempotency-Key": {key}}, m, true)
	if o.Result != nil && err == nil {
		*o.Result = SendResult{ReceivingNodes: -1, Replayed: got.Get("Idempotent-Replayed") == "true"}
		if n, perr := strconv.Atoi(got.Get("Herald-Receiving-Nodes")); perr == nil {
			o.Result.ReceivingNodes = n
		}
	}
	return err
}

// SendToAll sends m to every connection of the hub but SendOptions.Excluded.
func (h *Hub) SendToAll(ctx context.Context, m Message, opts ...SendOptions) error {
	return h.send(ctx, h.path()+"/:send", m, opts)
}

// SendToUser sends m to every connection of a user.
func (h *Hub) SendToUser(ctx context.Context, user string, m Message, opts ...SendOptions) error {
	return h.send(ctx, h.path("users", user)+"/:send", m, opts)
}

// SendToGroup sends m to every connection in a group but SendOptions.Excluded.
func (h *Hub) SendToGroup(ctx context.Context, group string, m Message, opts ...SendOptions) error {
	return h.send(ctx, h.path("groups", group)+"/:send", m, opts)
}

// SendToConnection sends m to one connection.
func (h *Hub) SendToConnection(ctx context.Context, connectionID string, m Message, opts ...SendOptions) error {
	return h.send(ctx, h.path("connections", connectionID)+"/:send", m, opts)
}

// AddToGroup adds a connection to a group; ErrNotFound when no node has the connection.
func (h *Hub) AddToGroup(ctx context.Context, group, connectionID string) error {
	_, err := h.c.do(ctx, http.MethodPut, h.path("groups", group, "connections", connectionID), nil, nil, nil, true)
	return err
}

// RemoveFromGroup takes a connection out of a group.
func (h *Hub) RemoveFromGroup(ctx context.Context, group, connectionID string) error {
	_, err := h.c.do(ctx, http.MethodDelete, h.path("groups", group, "connections", connectionID), nil, nil, nil, true)
	return err
}

// RemoveFromAllGroups takes a connection out of every group.
func (h *Hub) RemoveFromAllGroups(ctx context.Context, connectionID string) error {
	_, err := h.c.do(ctx, http.MethodDelete, h.path("connections", connectionID, "groups"), nil, nil, nil, true)
	return err
}

// Forever is the ttl of a user's group membership that does not expire.
const Forever time.Duration = -1

// AddUserToGroup adds a user to a group: the user's connections join it now, and those the user
// opens later until ttl has passed (Forever: always; 0: only the connections there are now).
// The server counts ttl in whole seconds.
func (h *Hub) AddUserToGroup(ctx context.Context, group, user string, ttl time.Duration) error {
	var q url.Values
	if ttl >= 0 {
		q = url.Values{"ttl": {strconv.FormatInt(int64(ttl/time.Second), 10)}}
	}
	_, err := h.c.do(ctx, http.MethodPut, h.path("users", user, "groups", group), q, nil, nil, true)
	return err
}

// RemoveUserFromGroup takes a user (the membership and the user's connections) out of a group.
func (h *Hub) RemoveUserFromGroup(ctx context.Context, group, user string) error {
	_, err := h.c.do(ctx, http.MethodDelete, h.path("users", user, "groups", group), nil, nil, nil, true)
	return err
}

// RemoveUserFromAllGroups takes a user out of every group.
func (h *Hub) RemoveUserFromAllGroups(ctx context.Context, user string) error {
	_, err := h.c.do(ctx, http.MethodDelete, h.path("users", user, "groups"), nil, nil, nil, true)
	return err
}

// CloseConnection ends one connection with reason (may be empty); ErrNotFound when no node has
// it.
func (h *Hub) CloseConnection(ctx context.Context, connectionID, reason string) error {
	_, err := h.c.do(ctx, http.MethodDelete, h.path("connections", connectionID), reasonQuery(reason, nil), nil, nil, true)
	return err
}

// CloseUserConnections ends every connection of a user but the excluded ones.
func (h *Hub) CloseUserConnections(ctx context.Context, user, reason string, excluded ...string) error {
	_, err := h.c.do(ctx, http.MethodPost, h.path("users", user)+"/:closeConnections", reasonQuery(reason, excluded), nil, nil, true)
	return err
}

// CloseGroupConnections ends every connection in a group but the excluded ones.
func (h *Hub) CloseGroupConnections(ctx context.Context, group, reason string, excluded ...string) error {
	_, err := h.c.do(ctx, http.MethodPost, h.path("groups", group)+"/:closeConnections", reasonQuery(reason, excluded), nil, nil, true)
	return err
}

// CloseAllConnections ends every connection of the hub but the excluded ones.
func (h *Hub) CloseAllConnections(ctx context.Context, reason string, excluded ...string) error {
	_, err := h.c.do(ctx, http.MethodPost, h.path()+"/:closeConnections", reasonQuery(reason, excluded), nil, nil, true)
	return err
}

func reasonQuery(reason string, excluded []string) url.Values {
	q := url.Values{}
	if reason != "" {
		q.Set("reason", reason)
	}
	if len(excluded) > 0 {
		q["excluded"] = excluded
	}
	return q
}

// ConnectionExists reports whether a connection is connected to the hub.
func (h *Hub) ConnectionExists(ctx context.Context, connectionID string) (bool, error) {
	return h.exists(ctx, h.path("connections", connectionID))
}

// UserExists reports whether a user has a connection to the hub.
func (h *Hub) UserExists(ctx context.Context, user string) (bool, error) {
	return h.exists(ctx, h.path("users", user))
}

// GroupExists reports whether a group has a connection.
func (h *Hub) GroupExists(ctx context.Context, group string) (bool, error) {
	return h.exists(ctx, h.path("groups", group))
}

// UserInGroup reports whether a user is in a group (a membership, or one of the user's
// connections).
func (h *Hub) UserInGroup(ctx context.Context, group, user string) (bool, error) {
	return h.exists(ctx, h.path("users", user, "groups", group))
}

func (h *Hub) exists(ctx context.Context, path string) (bool, error) {
	_, err := h.c.do(ctx, http.MethodHead, path, nil, nil, nil, true)
	// A 404 with the hosted service's "not there" codes is an answer; one for an unknown hub
	// (Error.Hub.NotExisted) is an error.
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusNotFound &&
		(strings.HasPrefix(e.Code, "Warning.") || strings.HasPrefix(e.Code, "Info.")) {
		return false, nil
	}
	return err == nil, err
}

// NegotiateResponse is what a backend's negotiate endpoint returns to a serverless client: the
// official clients follow it to Url with AccessToken.
type NegotiateResponse struct {
	URL         string `json:"url"`
	AccessToken string `json:"accessToken"`
}

// NegotiateOptions refine Negotiate.
type NegotiateOptions struct {
	// Lifetime of the token. Default the client's TokenLifetime (1 h). Herald checks the token when
	// the client connects; a connection outlives it.
	Lifetime time.Duration
	// Claims are added to the token (the hub's connections see them).
	Claims map[string]any
}

// Negotiate returns the redirect body of a serverless client of user (empty for an anonymous
// client): the hub's client URL and a token for it carrying the user id in the nameid claim.
func (h *Hub) Negotiate(user string, opts ...NegotiateOptions) (NegotiateResponse, error) {
	var o NegotiateOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Lifetime <= 0 {
		o.Lifetime = h.c.opts.TokenLifetime
	}
	base := h.c.cs.Endpoint
	if h.c.cs.ClientEndpoint != "" {
		base = h.c.cs.ClientEndpoint
	}
	clientURL := base + "/client/?hub=" + url.QueryEscape(h.name)
	claims := jwt.MapClaims{}
	for k, v := range o.Claims {
		claims[k] = v
	}
	if user != "" {
		claims["nameid"] = user
	}
	tok, err := h.c.token(clientURL, claims, o.Lifetime)
	if err != nil {
		return NegotiateResponse{}, &Error{Err: err}
	}
	return NegotiateResponse{URL: clientURL, AccessToken: tok}, nil
}
