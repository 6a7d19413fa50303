// Package loadgen drives a SignalR server over WebSockets with many connections and measures what
// users of a hub care about: memory per idle connection, broadcast and group fan-out, echo round
// trips. It is the engine of `herald bench hub`; it uses Herald's Go client, so it measures any
// server that speaks the protocol (Herald, or a peer implementation under bench/).
package loadgen
