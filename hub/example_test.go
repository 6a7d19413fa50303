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
	// client: hub error: Say something.
	// notification: Your export is ready.
}
