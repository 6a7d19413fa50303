package hub

// Views of the hub's internals for the black-box tests in package hub_test: things a client cannot
// observe on the wire without waiting an arbitrary time.

// GroupSize is the number of this node's connections in group.
func GroupSize(h *Hub, group string) int { return h.reg.groupSize(group) }

// NodeID is the hub's node id, which names its node channel.
func NodeID(h *Hub) string { return h.nodeID }

// Subscriptions is the backplane channels the hub holds, with their interest counts.
func Subscriptions(h *Hub) map[string]int { return h.subs.snapshot() }

// PollPending reports whether a long poll is waiting on the connection with that token.
func PollPending(h *Hub, token string) bool {
	c := h.reg.byTokenOf(token)
	if c == nil {
		return false
	}
	t, ok := c.transportOf().(*pollTransport)
	return ok && t.pending()
}

// ConnectionOf reports whether this node holds a connection with that id (handshaken or not).
func ConnectionOf(h *Hub, id string) *Connection {
	for _, c := range h.reg.tokens() {
		if c.id == id && !c.isTornDown() {
			return &c.public
		}
	}
	return nil
}

// ProbeEvery is how often a long wait on another node checks that the node is still there.
var ProbeEvery = probeEvery

// TraceEmitted is how many events the Monitor's hubs have emitted (queued or dropped).
func TraceEmitted(m *Monitor) int64 { return m.emitted.Load() }

// Tracing reports whether the Monitor's hot-path flag is on.
func Tracing(m *Monitor) bool { return m.Tracing() }

// DecodeLease parses a lease announcement as it comes off the backplane.
func DecodeLease(payload []byte) error {
	_, err := decodeLease(payload)
	return err
}

// LeaseChannel is where nodes announce their watchers.
const LeaseChannel = leaseChannel
