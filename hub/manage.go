package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// What a management API needs beyond sending, each across the cluster: closing the connections of
// a target, whether a connection, a user or a group has connections, and users' group
// memberships, which outlive their connections: a user added to a group brings the connections
// they open later into it (until the membership's expiry), as in the hosted SignalR service.

// Requests served on a user's channel: every node holding one of the user's connections answers.
const (
	opUserGroupAdd    = "ugroup+" // group: the user's connections join it
	opUserGroupRemove = "ugroup-" // group ("" for all): they leave it
	opUserInGroup     = "ingroup" // group: "1" when one of them is in it
	// opExists, on a connection's channel: "1" when the connection has completed its handshake.
	opExists = "exists"
	// opGroupRemoveAll, on a connection's channel: it leaves every group.
	opGroupRemoveAll = "group*"
)

// Bounds of the names the management calls take.
const (
	// MaxUserIDLength bounds user ids in membership calls, as the hosted service's REST API.
	MaxUserIDLength = 1024
	// MaxConnectionIDLength bounds the connection ids asked about.
	MaxConnectionIDLength = 256
)

// userGroupsKey is the Store key of a user's group memberships.
func (h *Hub) userGroupsKey(user string) string { return h.channel("ugroups", user) }

// Close ends every connection of the target with a Close message carrying reason (none when
// empty), wherever it is connected; the clients do not reconnect by themselves. Like Send, it
// returns once the request is on the backplane.
func (p *proxy) Close(ctx context.Context, reason string) error {
	payload := encodeClose(p.exclude, reason)
	var errs []error
	for _, ch := range p.channels {
		if _, err := p.h.bp.Publish(ctx, ch, payload); err != nil {
			p.h.metrics.publishErrors.Inc()
			errs = append(errs, fmt.Errorf("publish close to %s: %w", ch, err))
		}
	}
	return errors.Join(errs...)
}

// closeLocal closes this node's connections that a close on channel (kind, name) addresses.
func (h *Hub) closeLocal(kind, name string, e *envelope) {
	var targets []*conn
	h.reg.forTarget(kind, name, func(c *conn) {
		if !slices.Contains(e.exclude, c.id) {
			targets = append(targets, c)
		}
	})
	// Outside the registry's lock: closing may tear the connection down, which takes it.
	for _, c := range targets {
		c.close(closeReason{message: e.arg, err: errClosedByServer})
	}
}

var errClosedByServer = errors.New("hub: closed by the server (management)")

// ConnectionExists reports whether a connection with that id has completed its handshake, on
// any node.
func (c *Clients) ConnectionExists(ctx context.Context, connectionID string) (bool, error) {
	h := c.h
	if h.reg.conn(connectionID) != nil {
		return true, nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	out, err := h.call(ctx, connectionID, opExists)
	if errors.Is(err, ErrConnectionClosed) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return len(out) == 1 && string(out[0]) == "1", nil
}

// UserExists reports whether the user has a connection on any node.
func (c *Clients) UserExists(ctx context.Context, userID string) (bool, error) {
	h := c.h
	local := false
	h.reg.forUser(userID, func(*conn) { local = true })
	if local {
		return true, nil
	}
	return h.anyNodeSubscribes(ctx, h.channel("user", userID))
}

// Exists reports whether the group has a connection on any node.
func (g *Groups) Exists(ctx context.Context, group string) (bool, error) {
	h := g.h
	if h.reg.groupSize(group) > 0 {
		return true, nil
	}
	return h.anyNodeSubscribes(ctx, h.channel("group", group))
}

// anyNodeSubscribes asks the backplane how many nodes hold channel: a node subscribes to a user's
// (a group's) channel while it holds a connection of the user (in the group).
func (h *Hub) anyNodeSubscribes(ctx context.Context, channel string) (bool, error) {
	n, err := h.bp.Publish(ctx, channel, encodeFields(kindProbe))
	if err != nil {
		h.metrics.publishErrors.Inc()
		return false, fmt.Errorf("hub: probe: %w", err)
	}
	return n > 0, nil
}

// RemoveFromAll takes a connection out of every group it is in, on whichever node it is
// connected. It fails with ErrConnectionClosed when no node has the connection.
func (g *Groups) RemoveFromAll(ctx context.Context, connectionID string) error {
	h := g.h
	if c := h.reg.conn(connectionID); c != nil {
		c.leaveAll()
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	_, err := h.call(ctx, connectionID, opGroupRemoveAll)
	return err
}

// Forever is the ttl of a user's group membership that does not expire.
const Forever time.Duration = -1

// AddUser adds a user to a group: the user's connections join it now, on every node, and those
// the user opens later join it too until ttl has passed (Forever: always; 0: only the
// connections there are now), as the hosted service's user-group membership. A membership's
// expiry does not take connections out of the group. Adding again replaces the expiry.
func (g *Groups) AddUser(ctx context.Context, userID, group string, ttl time.Duration) error {
	if err := checkMembershipNames(userID, group); err != nil {
		return err
	}
	h := g.h
	key := h.userGroupsKey(userID)
	if ttl != 0 {
		var expires time.Time
		if ttl > 0 {
			expires = time.Now().Add(ttl)
		}
		if err := h.store.SetAdd(ctx, key, group, expires); err != nil {
			return fmt.Errorf("hub: keep user group: %w", err)
		}
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if _, err := h.callUser(ctx, userID, opUserGroupAdd, group); err != nil {
		if ttl != 0 && !errors.As(err, new(*Error)) {
			// Not applied to the live connections: do not keep it for later ones either.
			_ = h.store.SetRemove(context.WithoutCancel(ctx), key, group)
		}
		return err
	}
	return nil
}

// RemoveUser takes a user out of a group: the membership ends, and the user's connections leave
// the group on every node.
func (g *Groups) RemoveUser(ctx context.Context, userID, group string) error {
	if err := checkMembershipNames(userID, group); err != nil {
		return err
	}
	return g.removeUser(ctx, userID, group)
}

// RemoveUserFromAll takes a user out of every group: every membership ends, and the user's
// connections leave every group they are in (also those they joined one by one).
func (g *Groups) RemoveUserFromAll(ctx context.Context, userID string) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	return g.removeUser(ctx, userID, "")
}

func (g *Groups) removeUser(ctx context.Context, userID, group string) error {
	h := g.h
	key := h.userGroupsKey(userID)
	var err error
	if group == "" {
		err = h.store.SetRemove(ctx, key)
	} else {
		err = h.store.SetRemove(ctx, key, group)
	}
	if err != nil {
		return fmt.Errorf("hub: drop user group: %w", err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	_, err = h.callUser(ctx, userID, opUserGroupRemove, group)
	return err
}

// UserInGroup reports whether the user is in the group: a membership that has not expired, or
// one of the user's connections in the group.
func (g *Groups) UserInGroup(ctx context.Context, userID, group string) (bool, error) {
	if err := checkMembershipNames(userID, group); err != nil {
		return false, err
	}
	h := g.h
	members, err := h.store.SetMembers(ctx, h.userGroupsKey(userID))
	if err != nil {
		return false, fmt.Errorf("hub: read user groups: %w", err)
	}
	if _, ok := members[group]; ok {
		return true, nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	replies, err := h.callUser(ctx, userID, opUserInGroup, group)
	if err != nil {
		return false, err
	}
	for _, r := range replies {
		if len(r) == 1 && string(r[0]) == "1" {
			return true, nil
		}
	}
	return false, nil
}

func checkMembershipNames(user, group string) error {
	if err := checkUserID(user); err != nil {
		return err
	}
	if group == "" || len(group) > MaxGroupNameLength {
		return &Error{Message: fmt.Sprintf("A group name must have 1 to %d bytes.", MaxGroupNameLength)}
	}
	return nil
}

func checkUserID(user string) error {
	if user == "" || len(user) > MaxUserIDLength {
		return &Error{Message: fmt.Sprintf("A user id must have 1 to %d bytes.", MaxUserIDLength)}
	}
	return nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, groupAckTimeout)
}

// callUser publishes a request on a user's channel and waits for the reply of every node that
// received it (the nodes holding the user's connections). It returns their replies' fields.
func (h *Hub) callUser(ctx context.Context, userID, op string, args ...string) ([][][]byte, error) {
	fields := make([][]byte, len(args))
	for i, a := range args {
		fields[i] = []byte(a)
	}
	_, reply, n, done, err := h.request(ctx, h.channel("user", userID), op, 64, fields...)
	if err != nil {
		return nil, err
	}
	defer done()
	var out [][][]byte
	for range n {
		select {
		case r := <-reply:
			f, err := replyFields(r)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		case <-ctx.Done():
			return nil, fmt.Errorf("hub: %s request for user %s: %w", op, userID, ctx.Err())
		}
	}
	return out, nil
}

// serveUserRequest answers a request about a user's connections on this node.
func (h *Hub) serveUserRequest(user string, fields [][]byte) {
	if len(fields) != 4 {
		h.metrics.malformed.Inc()
		return
	}
	id, replyTo, op, group := string(fields[0]), string(fields[1]), string(fields[2]), string(fields[3])
	var conns []*conn
	h.reg.forUser(user, func(c *conn) { conns = append(conns, c) })
	ctx, cancel := context.WithTimeout(context.Background(), groupAckTimeout)
	defer cancel()
	var (
		out [][]byte
		err error
	)
	switch op {
	case opUserGroupAdd:
		for _, c := range conns {
			if jerr := c.join(ctx, group); jerr != nil && !errors.Is(jerr, ErrConnectionClosed) {
				err = jerr
			}
		}
	case opUserGroupRemove:
		for _, c := range conns {
			if group == "" {
				c.leaveAll()
			} else {
				c.leave(group)
			}
		}
	case opUserInGroup:
		in := ""
		for _, c := range conns {
			if h.reg.isMember(c, group) {
				in = "1"
			}
		}
		out = [][]byte{[]byte(in)}
	default:
		h.metrics.malformed.Inc()
		h.log.Warn("drop backplane request", "op", op)
		return
	}
	h.reply(replyTo, id, op, err, out)
}

// subscribeUserGroups reads the groups a new connection's user was added to and subscribes to
// their channels, for register to index the connection in them with the handshake: a send to such
// a group right after the client connected reaches it. A connection that cannot learn them (the
// store is away) still connects; the error is logged and counted.
func (h *Hub) subscribeUserGroups(c *conn) []string {
	members, err := h.store.SetMembers(c.ctx, h.userGroupsKey(c.userID()))
	if err != nil {
		if c.ctx.Err() == nil {
			h.metrics.publishErrors.Inc()
			h.log.Warn("read the user's groups", "connection", c.id, "err", err)
		}
		return nil
	}
	groups := make([]string, 0, len(members))
	for g := range members {
		if err := h.subs.acquire(c.ctx, h.channel("group", g)); err != nil {
			h.log.Warn("join the user's group", "connection", c.id, "group", g, "err", err)
			continue
		}
		groups = append(groups, g)
	}
	return groups
}

// joinUserGroups brings a registered connection into the groups its user was added to while it
// registered (subscribeUserGroups read them before: a membership made in between is read here,
// and one made later reaches the connection as a request on the user's channel).
func (h *Hub) joinUserGroups(c *conn) {
	user := c.userID()
	if user == "" {
		return
	}
	groups, err := h.store.SetMembers(c.ctx, h.userGroupsKey(user))
	if err == nil {
		for g := range groups {
			if jerr := c.join(c.ctx, g); jerr != nil && !errors.Is(jerr, ErrConnectionClosed) {
				err = jerr
			}
		}
	}
	if err != nil && c.ctx.Err() == nil {
		h.metrics.publishErrors.Inc()
		h.log.Warn("join the user's groups", "connection", c.id, "err", err)
	}
}

// leaveAll takes a local connection out of every group.
func (c *conn) leaveAll() {
	for _, g := range c.h.reg.groupsOf(c) {
		c.leave(g)
	}
}

// ErrNumberRange: DecodeArguments met a number no float64 holds.
var ErrNumberRange = errors.New("hub: a number is out of range")

// DecodeArguments decodes a JSON array of arguments (a management API's body) into values the
// hub sends in every protocol: numbers become int64 where they are whole, float64 elsewhere.
func DecodeArguments(raw []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var values []any
	if err := dec.Decode(&values); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("hub: more than one JSON value")
	}
	for i, v := range values {
		values[i] = plainNumbers(v)
		if !finite(values[i]) {
			return nil, ErrNumberRange
		}
	}
	return values, nil
}

// finite reports whether every number in v is finite (JSON and MessagePack clients alike can read
// it back).
func finite(v any) bool {
	switch x := v.(type) {
	case float64:
		return !math.IsInf(x, 0) && !math.IsNaN(x)
	case []any:
		for _, e := range x {
			if !finite(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range x {
			if !finite(e) {
				return false
			}
		}
	}
	return true
}
