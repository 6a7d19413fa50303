// Package backplane carries hub messages between the nodes of a Herald cluster.
//
// A Backplane is a publish/subscribe bus of opaque byte payloads on named channels. The hub decides
// what a channel means ("all", "user:alice", "group:g", "conn:id") and what a payload holds; the
// backplane only promises that a payload published on a channel reaches every node subscribed to it,
// the publishing node included, in the order one publisher sent it.
//
// Memory is the single-process implementation, used when Herald runs alone and in tests; a Bus of
// Memory nodes simulates a cluster inside one process. The Redis implementation lives in
// backplane/redis. Every implementation is checked by the same conformance suite,
// backplanetest.Run.
package backplane
