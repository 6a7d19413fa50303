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
// How the parts fit:
//   - client.go: the Client, its states, Start and Stop, and the session loop that reads the
//     connection and, when it drops, reconnects with the ReconnectPolicy (options.go);
//   - negotiate.go: the negotiate request (with one redirect), the access token, the shared HTTP
//     clients of the Dialer and LocalAddr options;
//   - conn.go: one WebSocket connection: handshake, the reader that parses records with
//     hub/protocol and dispatches them, the keep-alive ping and server timeout timer, teardown;
//   - writer.go: the bounded outgoing buffer, written by the calling goroutine or a writer goroutine;
//   - invoke.go and stream.go: Invoke, Send, Stream and client-to-server streams;
//   - handler.go: On, Args and the queue of server invocations.
//
// Resources. The client is built for load generators that hold tens of thousands of connections
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
