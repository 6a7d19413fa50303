package hub

import "sync"

// registry is the one place that knows which connections this node holds: every connection by
// its secret token (from negotiate until it is forgotten), and the connections that completed
// their handshake by id, by user and by group.
//
// Lock order: registry.mu, then conn.mu, then the connection's sendQueue lock. Delivery holds
// registry.mu for reading while it queues frames. tokensMu is a leaf: nothing is locked while it
// is held. The backplane subscriptions (subscriptions.go) are never changed under registry.mu:
// a connection subscribes before it is indexed and unsubscribes after it is removed, so that a
// subscribe's network round trip never blocks delivery.
type registry struct {
	tokensMu sync.Mutex
	byToken  map[string]*conn

	mu     sync.RWMutex
	conns  map[string]*conn
	users  map[string]map[*conn]struct{}
	groups map[string]map[*conn]struct{}
	// memberOf holds each indexed connection's groups: the other direction of groups.
	memberOf map[*conn]map[string]struct{}
}

func newRegistry() *registry {
	return &registry{
		byToken:  make(map[string]*conn),
		conns:    make(map[string]*conn),
		users:    make(map[string]map[*conn]struct{}),
		groups:   make(map[string]map[*conn]struct{}),
		memberOf: make(map[*conn]map[string]struct{}),
	}
}

// addToken makes c reachable by its token (transport requests).
func (r *registry) addToken(c *conn) {
	r.tokensMu.Lock()
	r.byToken[c.token] = c
	r.tokensMu.Unlock()
}

// byTokenOf returns the connection with that token, nil when there is none.
func (r *registry) byTokenOf(token string) *conn {
	r.tokensMu.Lock()
	defer r.tokensMu.Unlock()
	return r.byToken[token]
}

// userCount is how many indexed connections user has on this node.
func (r *registry) userCount(user string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.users[user])
}

// userIDs are the users with an indexed connection on this node.
func (r *registry) userIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.users))
	for u := range r.users {
		out = append(out, u)
	}
	return out
}

// forget drops c's token: later requests with it get 404. It reports whether c had it.
func (r *registry) forget(c *conn) bool {
	r.tokensMu.Lock()
	defer r.tokensMu.Unlock()
	if r.byToken[c.token] == c {
		delete(r.byToken, c.token)
		return true
	}
	return false
}

// tokens returns every connection that still has a token, handshaken or not.
func (r *registry) tokens() []*conn {
	r.tokensMu.Lock()
	defer r.tokensMu.Unlock()
	all := make([]*conn, 0, len(r.byToken))
	for _, c := range r.byToken {
		all = append(all, c)
	}
	return all
}

// add indexes c by id and user, and in groups, if admit, called under the registry's write lock,
// agrees. Nothing is delivered to c between admit and the end of add: admit can queue what must
// come first. The caller has subscribed to the groups' channels.
func (r *registry) add(c *conn, groups []string, admit func() bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !admit() {
		return false
	}
	r.conns[c.id] = c
	if u := c.userID(); u != "" {
		addMember(r.users, u, c)
	}
	if len(groups) > 0 {
		set := make(map[string]struct{}, len(groups))
		for _, g := range groups {
			set[g] = struct{}{}
			addMember(r.groups, g, c)
		}
		r.memberOf[c] = set
	}
	return true
}

// remove takes c out of every index and returns the groups it was in; false when c was not
// indexed.
func (r *registry) remove(c *conn) (groups []string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[c.id] != c {
		return nil, false
	}
	delete(r.conns, c.id)
	if u := c.userID(); u != "" {
		removeMember(r.users, u, c)
	}
	for g := range r.memberOf[c] {
		removeMember(r.groups, g, c)
		groups = append(groups, g)
	}
	delete(r.memberOf, c)
	return groups, true
}

// conn returns the indexed connection with that id, nil when there is none.
func (r *registry) conn(id string) *conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.conns[id]
}

// count is the number of indexed connections.
func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.conns)
}

// join adds c to group. It returns false when c is not indexed (it has ended, or never
// completed its handshake) and nothing changed. added is false when c was already a member.
func (r *registry) join(c *conn, group string) (added, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[c.id] != c {
		return false, false
	}
	set := r.memberOf[c]
	if _, member := set[group]; member {
		return false, true
	}
	if set == nil {
		set = make(map[string]struct{})
		r.memberOf[c] = set
	}
	set[group] = struct{}{}
	addMember(r.groups, group, c)
	return true, true
}

// leave removes c from group; it reports whether c was a member.
func (r *registry) leave(c *conn, group string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.memberOf[c]
	if _, member := set[group]; !member {
		return false
	}
	delete(set, group)
	removeMember(r.groups, group, c)
	return true
}

// isMember reports whether c is in group.
func (r *registry) isMember(c *conn, group string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.memberOf[c][group]
	return ok
}

// isMemberLocked is isMember for the for* methods' fn, which runs under the read lock.
func (r *registry) isMemberLocked(c *conn, group string) bool {
	_, ok := r.memberOf[c][group]
	return ok
}

// groupSize is the number of indexed connections in group.
func (r *registry) groupSize(group string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.groups[group])
}

// The for* methods call fn for each connection a target names, under the read lock: fn must not
// block, nor change the registry.

func (r *registry) forAll(fn func(*conn)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range r.conns {
		fn(c)
	}
}

func (r *registry) forConn(id string, fn func(*conn)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c := r.conns[id]; c != nil {
		fn(c)
	}
}

func (r *registry) forUser(user string, fn func(*conn)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.users[user] {
		fn(c)
	}
}

func (r *registry) forGroup(group string, fn func(*conn)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for c := range r.groups[group] {
		fn(c)
	}
}

func addMember(index map[string]map[*conn]struct{}, key string, c *conn) {
	set := index[key]
	if set == nil {
		set = make(map[*conn]struct{})
		index[key] = set
	}
	set[c] = struct{}{}
}

func removeMember(index map[string]map[*conn]struct{}, key string, c *conn) {
	set := index[key]
	delete(set, c)
	if len(set) == 0 {
		delete(index, key)
	}
}

// forTarget runs fn on the connections a channel of kind ("all", "conn", "user", "group") and
// name addresses, under the read lock.
func (r *registry) forTarget(kind, name string, fn func(*conn)) {
	switch kind {
	case "all":
		r.forAll(fn)
	case "conn":
		r.forConn(name, fn)
	case "user":
		r.forUser(name, fn)
	case "group":
		r.forGroup(name, fn)
	}
}

// groupsOf returns the groups c is in.
func (r *registry) groupsOf(c *conn) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.memberOf[c]))
	for g := range r.memberOf[c] {
		out = append(out, g)
	}
	return out
}
