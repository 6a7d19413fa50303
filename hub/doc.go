// Package hub is a server for the ASP.NET Core SignalR protocol: the official SignalR clients
// (JavaScript, .NET, Java) connect to it unchanged.
//
// A Hub is an http.Handler for one hub path. It answers negotiate, serves the WebSockets,
// Server-Sent Events and long-polling transports, speaks the JSON and MessagePack hub protocols,
// and dispatches client invocations to methods registered once at start-up with On.
//
// How the parts fit:
//   - negotiate.go creates a connection; transport_*.go attach a transport to it and move bytes;
//   - conn.go owns one connection: its bounded send queue, its handshake, its parsing;
//   - dispatch.go runs invocations, streams in both directions and client results;
//   - method.go checks a method's signature once and binds arguments on each call;
//   - clients.go is the Clients API: every message to a target is published on the
//     backplane (package backplane), and each node delivers it to its own connections
//     (delivery.go). A Hub never talks to another node directly, so a Redis backplane
//     turns single-node Herald into a cluster without changing this package;
//   - sweep.go runs keep-alive pings and the handshake, client and disconnect timeouts.
package hub
