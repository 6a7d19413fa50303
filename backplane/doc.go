// Package backplane carries hub messages between the nodes of a Herald cluster.
//
// # The seam
//
// A [Backplane] is a publish/subscribe bus of opaque byte payloads on named channels. The hub
// decides what a channel means ("all", "user:alice", "group:g", "conn:id") and what a payload
// holds; the backplane only promises that a payload published on a channel reaches every node
// subscribed to it, the publishing node included, in the order one publisher sent it:
//
//	bp.Subscribe(ctx, "chat:user:alice", func(channel string, payload []byte) { … })
//	bp.Publish(ctx, "chat:user:alice", payload) // returns once the bus has it, not once delivered
//
// A node subscribes when it gains its first interest in a channel (the hub counts them) and
// unsubscribes when it loses the last, so a message for a user reaches only the nodes where that
// user is connected.
//
// # Implementations
//
// [Memory] is the single-process implementation: what Herald uses when it runs alone, and in
// tests, where a [Bus] of Memory nodes simulates a cluster inside one process. A Redis
// implementation (for several processes) is planned as backplane/redis. Every implementation is
// checked by the same conformance suite, backplanetest.Run:
//
//	backplanetest.Run(t, func(t *testing.T) func() backplane.Backplane {
//		bus := backplane.NewBus()
//		return func() backplane.Backplane { return bus.Node() }
//	})
package backplane
