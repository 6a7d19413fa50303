// Package client is a Go client for SignalR hubs: Herald's, or any ASP.NET Core SignalR server.
// Herald's own tests, its load generator and its Go SDK use it.
//
// A Client connects over WebSockets, with the JSON or the MessagePack hub protocol:
//
//	c, err := client.New("https://example.com/hubs/chat", client.Options{
//		Protocol:    client.MessagePack,
//		AccessToken: func(ctx context.Context) (string, error) { return login(ctx) },
//		Reconnect:   client.DefaultReconnect,
//	})
//	c.On("message", func(ctx context.Context, args client.Args) (any, error) { … })
//	err = c.Start(ctx)
//	var reply string
//	err = c.Invoke(ctx, "Echo", &reply, "hello")
//	err = c.Stop(ctx)
//
// Calls: Invoke waits for the method's result, Send does not (fire-and-forget), Stream reads a
// server-to-client stream item by item. A channel argument to any of them is a client-to-server
// stream. Handlers registered with On answer the server's invocations, including client results
// (the server waiting for a value the client returns).
//
// # A connection's life
//
// Start negotiates (following one redirect, as the official clients do), dials the WebSocket and
// completes the handshake; one reader goroutine then parses records and dispatches them, and a
// timer sends keep-alive pings and notices a silent server. When the connection drops, the
// ReconnectPolicy decides how long to wait before each new attempt; calls made meanwhile fail
// with ErrNotConnected rather than wait. Outgoing messages go through a bounded buffer, so a slow server
// slows the caller down instead of growing memory.
//
// # Resources
//
// The client is built for load generators that hold tens of thousands of connections
// in one process: an idle connected Client costs one goroutine (its reader), one timer and the
// WebSocket library's buffers. A call writes its own message when no write is in progress; a
// writer goroutine exists only while messages queue up behind a write, and a handler goroutine
// only while server invocations wait for their handlers. Read buffers, encoding buffers and the
// negotiate HTTP client are shared. Options.LocalAddr or
// Options.Dialer choose the source address, so that a load generator can spread connections over
// several 127.0.0.x addresses.
//
// Bounds. Every queue is bounded, and what happens at the bound is documented: the outgoing
// buffer (Options.WriteBufferSize) makes callers wait; the handler queue
// (Options.HandlerQueueSize) and the stream buffers (Options.StreamBufferSize) make the reader
// wait, which ends the connection with ErrServerTimeout when it lasts longer than
// Options.ServerTimeout; a received message larger than Options.MaxMessageSize ends the connection.
//
// Not supported: the Server-Sent Events and long-polling transports, and stateful reconnect.
package client
