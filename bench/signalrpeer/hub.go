package main

import "github.com/philippseith/signalr"

// conformanceHub holds the subset of Herald's /hubs/conformance methods that the hub benchmark
// drives, with the same names and semantics. philippseith/signalr finds a method by its name,
// case-insensitively, through reflection on every invocation: that is the library's design, and
// part of what the benchmark measures.
type conformanceHub struct {
	signalr.Hub
}

// Echo returns its argument. The library decodes it into an interface{} (a JSON number becomes a
// float64), so unlike Herald's raw pass-through a very large integer may lose precision.
func (h *conformanceHub) Echo(value any) any { return value }

// SendToAll invokes method(value) on every connected client and returns nothing.
func (h *conformanceHub) SendToAll(method string, value any) {
	h.Clients().All().Send(method, value)
}

// JoinGroup adds the calling connection to group.
func (h *conformanceHub) JoinGroup(group string) {
	h.Groups().AddToGroup(group, h.ConnectionID())
}

// SendToGroup invokes method(value) on every connection in group.
func (h *conformanceHub) SendToGroup(group, method string, value any) {
	h.Clients().Group(group).Send(method, value)
}
