package hub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
)

// userFromBearer is a stand-in for real authentication (Herald's auth package validates JWTs):
// the bearer token is the user id.
func userFromBearer(r *http.Request) (*hub.Principal, error) {
	user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, nil // no credentials: refused, as the hub requires them
	}
	if user == "" {
		return nil, errors.New("empty token")
	}
	return &hub.Principal{UserID: user}, nil
}

// A hub with two methods: one joins the caller to a room (a group), one says something to a
// room. Code outside any method (a background task, say) sends to a user with the hub's Clients
// API, reaching every connection of theirs.
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New("chat", hub.Options{Authenticate: userFromBearer, RequireAuth: true, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	h.On("Join", func(c *hub.Context, room string) error {
		return c.Groups().Add(c, c.ConnectionID(), room)
	})
	h.On("Say", func(c *hub.Context, room, text string) error {
		if text == "" {
			return hub.Errorf("Say something.") // a *hub.Error's text reaches the client
		}
		return c.Clients().Group(room).Send(c, "said", c.UserID(), text)
	})

	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", h)
	mux.Handle("/hubs/chat/negotiate", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = h.Shutdown(sctx)
	}()

	// Alice connects with the Go client (browsers use @microsoft/signalr the same way).
	got := make(chan string, 2)
	alice, err := client.New(srv.URL+"/hubs/chat", client.Options{AccessToken: client.StaticToken("alice"), Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	alice.On("said", func(_ context.Context, args client.Args) (any, error) {
		var who, text string
		if err := errors.Join(args.Decode(0, &who), args.Decode(1, &text)); err != nil {
			return nil, err
		}
		got <- who + ": " + text
		return nil, nil
	})
	alice.On("notification", func(_ context.Context, args client.Args) (any, error) {
		var text string
		if err := args.Decode(0, &text); err != nil {
			return nil, err
		}
		got <- "notification: " + text
		return nil, nil
	})
	if err := alice.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer alice.Stop(ctx)

	if err := alice.Invoke(ctx, "Join", nil, "lobby"); err != nil {
		log.Fatal(err)
	}
	if err := alice.Invoke(ctx, "Say", nil, "lobby", "hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	fmt.Println(alice.Invoke(ctx, "Say", nil, "lobby", ""))

	// From outside the hub: every connection of alice's, on any node.
	if err := h.Clients().User("alice").Send(ctx, "notification", "Your export is ready."); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	// Output:
	// alice: hello
	// client: hub error: An unexpected error occurred invoking 'Say' on the server. HubException: Say something.
	// notification: Your export is ready.
}

// One hub on two paths: the second without WebSockets and for admins only. A Router matches the
// paths in any letter case and passes other requests to the application's own mux.
func ExampleHub_Endpoint() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New("chat", hub.Options{Authenticate: userFromBearer, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	h.On("Echo", func(_ *hub.Context, s string) (string, error) { return s, nil })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	router := hub.NewRouter(mux)
	router.Map("/hubs/chat", h)
	router.Map("/hubs/chat-admin", h.Endpoint(hub.EndpointOptions{
		Transports: []hub.Transport{hub.ServerSentEvents, hub.LongPolling},
		Roles:      []string{"admin"},
	}))
	srv := httptest.NewServer(router)
	defer srv.Close()
	defer func() { _ = h.Shutdown(context.Background()) }()

	for _, path := range []string{"/hubs/chat/negotiate", "/HUBS/Chat-Admin/negotiate"} {
		resp, err := http.Post(srv.URL+path+"?negotiateVersion=1", "", nil)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(strings.TrimSpace(fmt.Sprint(path, " ", resp.StatusCode, " ", resp.Header.Get("WWW-Authenticate"))))
	}
	// Output:
	// /hubs/chat/negotiate 200
	// /HUBS/Chat-Admin/negotiate 401 Bearer
}

// Filters run around every invocation (and connect and disconnect): here, one that logs how long
// each method took and refuses a method to a user. RequireRoles declares a method's roles at
// registration.
func ExampleFilter() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New("chat", hub.Options{
		Authenticate: userFromBearer,
		Logger:       quiet,
		Filters:      []hub.Filter{timing{}},
	})
	if err != nil {
		log.Fatal(err)
	}
	h.On("Kick", func(*hub.Context, string) error { return nil }, hub.RequireRoles("moderator"))
	h.On("Echo", func(_ *hub.Context, s string) (string, error) { return s, nil })

	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() { _ = h.Shutdown(context.Background()) }()
	ctx := context.Background()
	c, err := client.New(srv.URL, client.Options{AccessToken: client.StaticToken("mallory"), Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
	fmt.Println(c.Invoke(ctx, "Kick", nil, "bob"))
	fmt.Println(c.Invoke(ctx, "Echo", nil, "hi"))
	// Output:
	// client: hub error: Failed to invoke 'Kick' because user is unauthorized
	// client: hub error: An unexpected error occurred invoking 'Echo' on the server. HubException: mallory may not call Echo.
}

// timing is a filter: it refuses mallory everything and would time the rest.
type timing struct{ hub.FilterBase }

func (timing) InvokeMethod(ic *hub.InvocationContext, next hub.InvokeFunc) (any, error) {
	if ic.UserID() == "mallory" {
		return nil, hub.Errorf("%s may not call %s.", ic.UserID(), ic.Method)
	}
	began := time.Now()
	defer func() { slog.Debug("hub method", "method", ic.Method, "took", time.Since(began)) }()
	return next(ic)
}

// A connection handler below hubs (.NET's MapConnectionHandler): negotiate and the transports
// deliver raw bytes, with no hub protocol. The official JavaScript client's HttpConnection talks to
// it; so does any WebSocket.
func ExampleNewConnections() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	echo, err := hub.NewConnections("echo", upperEcho{}, hub.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	router := hub.NewRouter(nil)
	router.Map("/echo", echo)
	srv := httptest.NewServer(router)
	defer srv.Close()
	defer func() { _ = echo.Shutdown(context.Background()) }()

	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/echo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	_, data, err := ws.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))
	// Output: HELLO
}

// upperEcho sends back what it receives, in capitals.
type upperEcho struct{}

func (upperEcho) OnConnected(*hub.Connection) error { return nil }
func (upperEcho) OnReceive(c *hub.Connection, data []byte) error {
	return c.Send(c.Context(), []byte(strings.ToUpper(string(data))))
}
func (upperEcho) OnDisconnected(*hub.Connection, error) {}

// A method sees the HTTP request that opened its connection (.NET's Context.GetHttpContext()),
// and its transport and protocol.
func ExampleContext_Request() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New("chat", hub.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	h.On("Hello", func(c *hub.Context) (string, error) {
		r := c.Request()
		lang := r.Header.Get("Accept-Language")
		theme := "light"
		if cookie, err := r.Cookie("theme"); err == nil {
			theme = cookie.Value
		}
		return fmt.Sprintf("%s over %s/%s, tenant %s, %s theme", lang, c.Transport(), c.Protocol(), r.Query().Get("tenant"), theme), nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() { _ = h.Shutdown(context.Background()) }()
	ctx := context.Background()
	c, err := client.New(srv.URL+"?tenant=acme", client.Options{
		Logger: quiet,
		Header: http.Header{"Accept-Language": {"fr"}, "Cookie": {"theme=dark"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
	var reply string
	if err := c.Invoke(ctx, "Hello", &reply); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply)
	// Output: fr over WebSockets/json, tenant acme, dark theme
}

// A method reading a client-to-server stream asks why it ended: the client may end it with an
// error. A method that does not ask fails with that error once it returns, as a .NET method whose
// stream reader throws.
func ExampleContext_ClientStreamErr() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New("uploads", hub.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	h.On("Upload", func(c *hub.Context, chunks <-chan string) (string, error) {
		n := 0
		for chunk := range chunks {
			n += len(chunk)
		}
		if err := c.ClientStreamErr(chunks); err != nil {
			return fmt.Sprintf("kept %d bytes; the client stopped: %v", n, err), nil
		}
		return fmt.Sprintf("stored %d bytes", n), nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() { _ = h.Shutdown(context.Background()) }()
	ctx := context.Background()
	c, err := client.New(srv.URL, client.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	chunks := make(chan string)
	go func() {
		defer close(chunks)
		chunks <- "hello, "
		chunks <- "world"
	}()
	var reply string
	if err := c.Invoke(ctx, "Upload", &reply, chunks); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply)
	// Output: stored 12 bytes
}

// Options.ErrorText writes what clients are told about failed invocations; DefaultErrorText is
// ASP.NET Core's wording, to build on.
func ExampleOptions_errorText() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := hub.New("chat", hub.Options{
		Logger: quiet,
		ErrorText: func(e *hub.InvocationError) string {
			if e.Phase == hub.PhaseBinding {
				return fmt.Sprintf("%s takes other arguments; see the API documentation.", e.Method)
			}
			return hub.DefaultErrorText(e)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	h.On("Add", func(_ *hub.Context, a, b int) (int, error) { return a + b, nil })
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() { _ = h.Shutdown(context.Background()) }()
	ctx := context.Background()
	c, err := client.New(srv.URL, client.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)
	fmt.Println(c.Invoke(ctx, "Add", nil, "one", "two"))
	fmt.Println(c.Invoke(ctx, "Nope", nil))
	// Output:
	// client: hub error: Add takes other arguments; see the API documentation.
	// client: hub error: Nope takes other arguments; see the API documentation.
}
