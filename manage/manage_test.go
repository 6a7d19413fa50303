package manage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/manage"
)

const testKey = "example-access-key-0123456789abcdef012345678"

// TestMain serves a Herald for the examples, which read its connection string from
// HERALD_CONNECTION_STRING as a backend would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "manage-test-")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.New(ctx, app.Config{
		DataDir: dir, NoWorkers: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Manage: app.ManageConfig{AccessKeys: []string{testKey}, Hubs: []string{"orders"}},
	})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	os.Setenv("HERALD_CONNECTION_STRING", "Endpoint=http://"+ln.Addr().String()+";AccessKey="+testKey+";Version=1.0;")
	code := m.Run()
	cancel()
	<-done
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func ExampleHub_SendToUser() {
	c, err := manage.New(os.Getenv("HERALD_CONNECTION_STRING"))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.Hub("notifications").SendToUser(context.Background(), "alice", manage.Message{
		Target:    "notification",
		Arguments: []any{map[string]any{"title": "Your export is ready"}},
	})
	fmt.Println("sent:", err == nil)
	// Output: sent: true
}

func ExampleHub_SendToGroup_idempotent() {
	c, _ := manage.New(os.Getenv("HERALD_CONNECTION_STRING"))
	orders := c.Hub("orders")
	ctx := context.Background()
	// A worker that may see the same order twice (at-least-once delivery) sends its result with
	// the order's key: the second send is accepted and not delivered again.
	for range 2 {
		err := orders.SendToGroup(ctx, "user:alice", manage.Message{Target: "orderCompleted", Arguments: []any{"order-42"}},
			manage.SendOptions{IdempotencyKey: "order-42-result"})
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// <nil>
}

func ExampleHub_UserExists() {
	c, _ := manage.New(os.Getenv("HERALD_CONNECTION_STRING"))
	online, err := c.Hub("notifications").UserExists(context.Background(), "nobody")
	fmt.Println(online, err)
	// Output: false <nil>
}

func ExampleHub_Negotiate() {
	c, _ := manage.New(os.Getenv("HERALD_CONNECTION_STRING"))
	orders := c.Hub("orders")
	// A backend's negotiate endpoint: the official client POSTs to it, follows the url and
	// connects to Herald as the user with the token.
	negotiate := func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User") // a real backend takes it from its own session
		body, err := orders.Negotiate(user)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/negotiate", nil)
	req.Header.Set("X-User", "alice")
	negotiate(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 200 application/json
}

func TestParseConnectionString(t *testing.T) {
	cs, err := manage.ParseConnectionString(" endpoint=https://h.example/ ; AccessKey=abc=def= ;Port=8443;")
	require.NoError(t, err)
	require.Equal(t, "https://h.example:8443", cs.Endpoint)
	require.Equal(t, "abc=def=", cs.AccessKey, "a value keeps its '='")
	require.Equal(t, "1.0", cs.Version)
	again, err := manage.ParseConnectionString(cs.String())
	require.NoError(t, err)
	require.Equal(t, cs, again)
	for name, s := range map[string]string{
		"no endpoint":   "AccessKey=k;Version=1.0",
		"no key":        "Endpoint=http://h;Version=1.0",
		"bad version":   "Endpoint=http://h;AccessKey=k;Version=2.0",
		"not http":      "Endpoint=ftp://h;AccessKey=k",
		"relative":      "Endpoint=h;AccessKey=k",
		"twice":         "Endpoint=http://h;AccessKey=k;accesskey=j",
		"bad port":      "Endpoint=http://h;AccessKey=k;Port=70000",
		"bad client ep": "Endpoint=http://h;AccessKey=k;ClientEndpoint=nope",
	} {
		_, err := manage.ParseConnectionString(s)
		require.Error(t, err, name)
	}
}

func TestNegotiateToken(t *testing.T) {
	c, err := manage.New("Endpoint=http://h.example:8080;AccessKey=" + testKey + ";ClientEndpoint=https://public.example;")
	require.NoError(t, err)
	n, err := c.Hub("Orders").Negotiate("alice", manage.NegotiateOptions{Lifetime: time.Minute, Claims: map[string]any{"plan": "pro"}})
	require.NoError(t, err)
	require.Equal(t, "https://public.example/client/?hub=orders", n.URL)
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(n.AccessToken, claims, func(*jwt.Token) (any, error) { return []byte(testKey), nil })
	require.NoError(t, err)
	require.Equal(t, n.URL, claims["aud"])
	require.Equal(t, "alice", claims["nameid"])
	require.Equal(t, "pro", claims["plan"])
}

// TestRetriesAndTypedErrors: a send is retried on 503 (with its idempotency key unchanged), a
// 400 is not; errors match the sentinels.
func TestRetriesAndTypedErrors(t *testing.T) {
	var calls atomic.Int32
	var keys = make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		keys <- r.Header.Get("Idempotency-Key")
		switch {
		case r.URL.Path == "/api/hubs/h/users/bad/:send":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":"bad_request","message":"no"}}`)
		case n < 3:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	c, err := manage.New("Endpoint="+srv.URL+";AccessKey="+testKey+";", manage.Options{RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	h := c.Hub("h")
	require.NoError(t, h.SendToUser(context.Background(), "alice", manage.Message{Target: "m"}))
	require.Equal(t, int32(3), calls.Load(), "two 503s, then 202")
	first := <-keys
	require.NotEmpty(t, first)
	require.Equal(t, first, <-keys, "a retry keeps the idempotency key")
	<-keys

	calls.Store(10)
	err = h.SendToUser(context.Background(), "bad", manage.Message{Target: "m"})
	require.ErrorIs(t, err, manage.ErrBadRequest)
	var e *manage.Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "bad_request", e.Code)
	require.Equal(t, int32(11), calls.Load(), "a 400 is not retried")
	require.False(t, errors.Is(err, manage.ErrNotFound))
}
