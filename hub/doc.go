// Package hub is a server for the ASP.NET Core SignalR protocol: the official SignalR clients
// (JavaScript, .NET, Java) connect to it unchanged.
//
// # Hubs and methods
//
// A [Hub] is an http.Handler for one hub path and its /negotiate. Its methods are registered once,
// at start-up, with typed Go functions; a client invocation is a map lookup on the lower-cased
// name, its arguments decoded into the parameter types:
//
//	h, _ := hub.New("chat", hub.Options{Authenticate: myAuth, RequireAuth: true})
//	h.On("Send", func(c *hub.Context, text string) error {
//		return c.Clients().Others().Send(c, "message", c.UserID(), text)
//	})
//	mux.Handle("/hubs/chat", h)
//	mux.Handle("/hubs/chat/negotiate", h)
//
// A method returns error, (T, error), or (<-chan T, error) to stream to the client; a parameter
// typed <-chan T receives a stream from the client. The [*Context] is the invocation's
// context.Context (done when the client cancels or goes) and knows the caller: its connection id,
// user, items, and the Clients and Groups APIs.
//
// # Sending to clients
//
// [Clients] addresses connections wherever they are connected: All, AllExcept, Client(s),
// User(s), Group(s), GroupExcept, and from a method Caller, Others and OthersInGroup. Anything,
// not only hub methods, may send:
//
//	h.Clients().User("alice").Send(ctx, "notification", n)
//	h.Clients().Group("orders").Send(ctx, "orderCompleted", order)
//
// Every send is published on the [backplane.Backplane] the hub was given, once, with the message
// already framed in both protocols; each node delivers it to its own connections. A Hub never
// talks to another node directly, so a shared backplane turns single-node Herald into a cluster
// without changing this package. Group membership ([Groups]) and client results
// ([SingleClientProxy.Invoke]) go through the same seam.
//
// # Paths, endpoints and routing
//
// A Hub serves its Options on the path it is mounted at; Endpoint serves the same hub on other
// paths with other transports, roles, origins or long-poll timeout, its connections, users and
// groups being one whatever the path. A [Router] maps paths in any letter case, as ASP.NET Core's
// routing, each with its /negotiate, and passes the rest to the application's own handler:
//
//	router := hub.NewRouter(mux)
//	router.Map("/hubs/chat", h)
//	router.Map("/hubs/chat-lp", h.Endpoint(hub.EndpointOptions{Transports: []hub.Transport{hub.LongPolling}}))
//
// # Filters, roles and errors
//
// [Filter]s run around every invocation and around OnConnected and OnDisconnected, the first
// outermost, as .NET's IHubFilter; [RequireRoles] declares a method's roles at registration. A
// failed invocation is answered with ASP.NET Core's own texts (DefaultErrorText): a [*Error] (the
// HubException) always shows its message, any other error only with EnableDetailedErrors, and
// Options.ErrorText can write them otherwise. A refused request gets 401 with an empty body and a
// challenge (Options.Challenge).
//
// # What a method sees
//
// Besides the caller's identity, a [*Context] gives the HTTP request that opened the connection
// (headers, cookies, query, remote address), its transport and protocol, and for a
// client-to-server stream the error the client ended it with ([Context.ClientStreamErr]).
//
// # Below hubs: connection handlers
//
// A [ConnectionHandler] gets what a client sends as bytes, with negotiate and the three
// transports but no hub protocol, as .NET's MapConnectionHandler; [NewConnections] serves one.
// The hub protocol is itself the connection's app of a Hub: both share negotiate, the transports,
// the send queue and the transport timers.
//
// # Connections, transports and limits
//
// Negotiate makes a connection; a WebSocket, Server-Sent Events or long-polling transport then
// attaches to it and moves bytes. Whatever the transport, what goes to a client waits in the
// connection's bounded send queue: a connection that cannot keep up with messages from others
// is closed as a slow consumer, while a method's own replies wait for room instead. What comes
// in is bounded by Options.MaxMessageSize and read by one reader at a time, with at most
// Options.MaxParallelInvocations invocations running per connection (more make the reader wait:
// back-pressure on the client). One sweeper goroutine per hub sends keep-alive pings and applies
// the handshake, client and disconnect timeouts. [Options] documents every limit and its
// default.
//
// # Inside
//
// The hub's shared state has one owner each: the registry (connections by token, id, user and
// group, with one documented lock order), the backplane subscriptions (reference counts per
// channel), and per connection the send queue, the receive side and the invocations. Transports
// keep their own state. Bad input never reaches a method: a malformed or oversized message closes
// its connection with a Close message that says why, and an unknown method or wrong arguments
// answer the invocation with an error Completion.
package hub
