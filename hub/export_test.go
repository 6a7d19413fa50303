package hub

// Views of the hub's internals for the black-box tests in package hub_test: things a client cannot
// observe on the wire without waiting an arbitrary time.

// GroupSize is the number of this node's connections in group.
func GroupSize(h *Hub, group string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.groups[group])
}

// Subscriptions is the backplane channels the hub holds, with their interest counts.
func Subscriptions(h *Hub) map[string]int {
	h.subsMu.Lock()
	defer h.subsMu.Unlock()
	out := make(map[string]int, len(h.subs))
	for ch, n := range h.subs {
		out[ch] = n
	}
	return out
}

// PollPending reports whether a long poll is waiting on the connection with that token.
func PollPending(h *Hub, token string) bool {
	h.tokensMu.Lock()
	c := h.byToken[token]
	h.tokensMu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.polling != nil
}
