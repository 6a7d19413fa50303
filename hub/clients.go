package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
)

// ClientProxy sends invocations to a set of clients.
type ClientProxy interface {
	// Send invokes method(args...) on every client of the set, wherever it is connected. It returns
	// once the message is on the backplane; it does not wait for the clients.
	Send(ctx context.Context, method string, args ...any) error
	// Close ends every connection of the set with a Close message carrying reason (none when
	// empty), wherever it is connected; the clients do not reconnect by themselves. It returns
	// once the request is on the backplane.
	Close(ctx context.Context, reason string) error
}

// SingleClientProxy addresses one connection, and can wait for what it returns.
type SingleClientProxy interface {
	ClientProxy
	// Invoke invokes method(args...) on the client and waits for its result (a client result).
	// Without a deadline on ctx, the wait is bounded by Options.ClientResultTimeout. Only
	// connections on this node can be invoked.
	Invoke(ctx context.Context, method string, args ...any) (Result, error)
}

// Clients addresses the hub's clients from anywhere: hub methods, other packages, other goroutines.
type Clients struct {
	h *Hub
}

// Clients returns the hub's Clients API.
func (h *Hub) Clients() *Clients { return &Clients{h: h} }

// All is every connection.
func (c *Clients) All() ClientProxy { return c.targets(nil, c.h.channel("all")) }

// AllExcept is every connection but the excluded connection ids.
func (c *Clients) AllExcept(connectionIDs ...string) ClientProxy {
	return c.targets(connectionIDs, c.h.channel("all"))
}

// Client is one connection.
func (c *Clients) Client(connectionID string) SingleClientProxy {
	return &single{proxy: c.targets(nil, c.h.channel("conn", connectionID)), h: c.h, id: connectionID}
}

// Clients is several connections.
func (c *Clients) Clients(connectionIDs ...string) ClientProxy {
	return c.targets(nil, c.channels("conn", unique(connectionIDs))...)
}

// Group is every connection in a group.
func (c *Clients) Group(group string) ClientProxy { return c.targets(nil, c.h.channel("group", group)) }

// Groups is every connection in any of the groups. A connection in several of them gets the
// message once.
func (c *Clients) Groups(groups ...string) ClientProxy {
	p := c.targets(nil, c.channels("group", groups)...)
	p.groups = slices.Clone(groups)
	return p
}

// GroupExcept is a group but the excluded connection ids.
func (c *Clients) GroupExcept(group string, connectionIDs ...string) ClientProxy {
	return c.targets(connectionIDs, c.h.channel("group", group))
}

// User is every connection of a user.
func (c *Clients) User(userID string) ClientProxy { return c.targets(nil, c.h.channel("user", userID)) }

// UserExcept is every connection of a user but the excluded connection ids.
func (c *Clients) UserExcept(userID string, connectionIDs ...string) ClientProxy {
	return c.targets(connectionIDs, c.h.channel("user", userID))
}

// Users is every connection of several users.
func (c *Clients) Users(userIDs ...string) ClientProxy {
	return c.targets(nil, c.channels("user", unique(userIDs))...)
}

// unique drops repeated names, so that Users("a", "a") reaches a's connections once.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (c *Clients) channels(kind string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = c.h.channel(kind, n)
	}
	return out
}

func (c *Clients) targets(exclude []string, channels ...string) *proxy {
	return &proxy{h: c.h, channels: channels, exclude: exclude}
}

// CallerClients is the Clients API seen from a hub method: it also knows the caller. Besides
// Caller, Others and OthersInGroup it has every method of Clients (All, AllExcept, Client,
// Clients, Group, Groups, GroupExcept, User, Users), promoted from the embedded Clients.
type CallerClients struct {
	callerBase // every method of Clients, Clients(ids...) included
	caller     *conn
}

// callerBase names the embedded Clients: embedded under its own name, the field Clients would
// hide the method Clients(ids...).
type callerBase = Clients

// Caller is the connection that invoked the method.
func (c *CallerClients) Caller() SingleClientProxy {
	return &single{proxy: c.targets(nil, c.h.channel("conn", c.caller.id)), h: c.h, id: c.caller.id, local: c.caller}
}

// Others is every connection but the caller.
func (c *CallerClients) Others() ClientProxy { return c.AllExcept(c.caller.id) }

// OthersInGroup is a group but the caller.
func (c *CallerClients) OthersInGroup(group string) ClientProxy {
	return c.GroupExcept(group, c.caller.id)
}

// proxy publishes one invocation on each of its channels.
type proxy struct {
	h        *Hub
	channels []string
	exclude  []string
	// groups are the group names of Groups' channels: the message on group i skips the members
	// of groups 0..i-1, who got it from those.
	groups []string
}

func (p *proxy) Send(ctx context.Context, method string, args ...any) error {
	if method == "" {
		return errors.New("hub: Send needs a method name")
	}
	json, msgpack, err := invocationFrames(method, args)
	if err != nil {
		return err
	}
	var errs []error
	var payload []byte
	for i, ch := range p.channels {
		if payload == nil || p.groups != nil {
			var skip []string
			if p.groups != nil {
				skip = unique(p.groups[:i])
			}
			payload = encodeInvocation(json, msgpack, p.exclude, skip)
		}
		n, err := p.h.bp.Publish(ctx, ch, payload)
		if err != nil {
			p.h.metrics.publishErrors.Inc()
			errs = append(errs, fmt.Errorf("publish to %s: %w", ch, err))
		} else {
			p.h.sends.Add(1)
			if p.h.mon.on() {
				p.h.traceSend(ch, method, json, args)
			}
		}
		if c, ok := ctx.Value(nodeCounterKey{}).(*atomic.Int64); ok {
			c.Add(int64(n))
		}
	}
	return errors.Join(errs...)
}

type nodeCounterKey struct{}

// CountNodes returns a context whose sends (ClientProxy.Send) count the nodes that held a
// connection of their target when the message was published, and what reads the count: 0 tells
// a caller that nobody was there to receive it (a user with no connection, an empty group). A
// send to several channels (Groups, Users) adds up the nodes of each; a send to All counts every
// node. It says nothing of delivery itself: a connection may end before its message is written.
func CountNodes(ctx context.Context) (context.Context, func() int) {
	var c atomic.Int64
	return context.WithValue(ctx, nodeCounterKey{}, &c), func() int { return int(c.Load()) }
}

// single is a proxy for one connection.
type single struct {
	*proxy
	h     *Hub
	id    string
	local *conn
}

func (s *single) Invoke(ctx context.Context, method string, args ...any) (Result, error) {
	c := s.local
	if c == nil {
		c = s.h.reg.conn(s.id)
	}
	if c == nil {
		return s.h.invokeRemote(ctx, s.id, method, args)
	}
	return c.invokeClient(ctx, method, args)
}

// Groups manages group membership. A connection leaves all its groups when it ends.
type Groups struct {
	h *Hub
}

// Groups returns the hub's group manager.
func (h *Hub) Groups() *Groups { return &Groups{h: h} }

// MaxGroupNameLength bounds group names.
const MaxGroupNameLength = 1024

// Add adds a connection to a group, on whichever node it is connected: when Add returns, the
// connection's node has applied it. It fails with ErrConnectionClosed when no node has the
// connection, and after a timeout (10 s, or ctx's deadline) when its node does not answer.
func (g *Groups) Add(ctx context.Context, connectionID, group string) error {
	return g.change(ctx, opGroupAdd, connectionID, group)
}

// Remove removes a connection from a group, as Add adds it.
func (g *Groups) Remove(ctx context.Context, connectionID, group string) error {
	return g.change(ctx, opGroupRemove, connectionID, group)
}

func (g *Groups) change(ctx context.Context, op, connectionID, group string) error {
	if group == "" || len(group) > MaxGroupNameLength {
		return &Error{Message: fmt.Sprintf("A group name must have 1 to %d bytes.", MaxGroupNameLength)}
	}
	h := g.h
	if c := h.reg.conn(connectionID); c != nil {
		if op == opGroupAdd {
			return c.join(ctx, group)
		}
		c.leave(group)
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, groupAckTimeout)
		defer cancel()
	}
	_, err := h.call(ctx, connectionID, op, []byte(group))
	return err
}

// join adds a local connection to a group. It subscribes to the group's channel before the
// connection is indexed in the group, so that it misses nothing sent to the group once the join
// has returned.
func (c *conn) join(ctx context.Context, group string) error {
	h := c.h
	channel := h.channel("group", group)
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	if h.reg.isMember(c, group) {
		return nil
	}
	if err := h.subs.acquire(ctx, channel); err != nil {
		return fmt.Errorf("join group: %w", err)
	}
	if _, ok := h.reg.join(c, group); !ok {
		h.subs.release(channel)
		return ErrConnectionClosed
	}
	return nil
}

// leave takes a local connection out of a group.
func (c *conn) leave(group string) {
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	if c.h.reg.leave(c, group) {
		c.h.subs.release(c.h.channel("group", group))
	}
}
