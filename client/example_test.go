package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/conformance"
)

// exampleHub serves a Herald hub with the conformance methods (Echo, Count, Sum, AskCaller,
// SendToCaller, …) and returns its URL and a function that shuts it down.
func exampleHub() (string, func()) {
	h, err := hub.New("conformance", hub.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	conformance.Register(h, prometheus.NewRegistry())
	mux := http.NewServeMux()
	mux.Handle("/hubs/conformance", h)
	mux.Handle("/hubs/conformance/negotiate", h)
	srv := httptest.NewServer(mux)
	return srv.URL + "/hubs/conformance", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		srv.Close()
	}
}

func Example() {
	url, shutdown := exampleHub()
	defer shutdown()
	ctx := context.Background()

	c, err := client.New(url, client.Options{Protocol: client.MessagePack, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	var reply string
	if err := c.Invoke(ctx, "Echo", &reply, "hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply)

	err = c.Invoke(ctx, "Fail", nil, "out of coffee")
	var he *client.HubError
	if errors.As(err, &he) {
		fmt.Println("the method failed:", he.Message)
	}
	// Output:
	// hello
	// the method failed: An unexpected error occurred invoking 'Fail' on the server. HubException: out of coffee
}

func ExampleClient_Stream() {
	url, shutdown := exampleHub()
	defer shutdown()
	ctx := context.Background()
	c, err := client.New(url, client.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	// Count(n, delayMs) streams 0 … n-1.
	s, err := c.Stream(ctx, "Count", 3, 10)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close() // stops the server's producer if we leave early
	for {
		var n int
		err := s.Next(ctx, &n)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n)
	}
	// Output:
	// 0
	// 1
	// 2
}

// A channel argument is a client-to-server stream: Sum adds the numbers until the channel closes.
func ExampleClient_Invoke_clientStream() {
	url, shutdown := exampleHub()
	defer shutdown()
	ctx := context.Background()
	c, err := client.New(url, client.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	numbers := make(chan float64)
	go func() {
		defer close(numbers)
		for _, n := range []float64{1, 2, 3.5} {
			numbers <- n
		}
	}()
	var sum float64
	if err := c.Invoke(ctx, "Sum", &sum, numbers); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: 6.5
}

func ExampleClient_On() {
	url, shutdown := exampleHub()
	defer shutdown()
	ctx := context.Background()
	c, err := client.New(url, client.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	got := make(chan string, 1)
	c.On("notify", func(_ context.Context, args client.Args) (any, error) {
		var text string
		if err := args.Decode(0, &text); err != nil {
			return nil, err
		}
		got <- text
		return nil, nil
	})
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	// SendToCaller(method, value) makes the server invoke method(value) on this client.
	if err := c.Send(ctx, "SendToCaller", "notify", "task 42 is done"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	// Output: task 42 is done
}

// A handler's return value answers a client result: the server waits for it.
func ExampleClient_On_clientResult() {
	url, shutdown := exampleHub()
	defer shutdown()
	ctx := context.Background()
	c, err := client.New(url, client.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	c.On("double", func(_ context.Context, args client.Args) (any, error) {
		var n int
		if err := args.Decode(0, &n); err != nil {
			return nil, err
		}
		return 2 * n, nil
	})
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Stop(ctx)

	// AskCaller(method, value) invokes method(value) on this client and returns its result.
	var n int
	if err := c.Invoke(ctx, "AskCaller", &n, "double", 21); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
	// Output: 42
}

// A long-lived client with an access token and automatic reconnect.
func ExampleOptions_reconnect() {
	c, err := client.New("https://herald.example.com/hubs/notifications", client.Options{
		Protocol: client.MessagePack,
		AccessToken: func(ctx context.Context) (string, error) {
			return "a fresh token", nil // called for every connection attempt
		},
		Reconnect: client.DefaultReconnect, // after 0, 2, 10 and 30 s, then give up
	})
	if err != nil {
		log.Fatal(err)
	}
	c.OnReconnecting(func(err error) { log.Printf("connection lost: %v", err) })
	c.OnReconnected(func(id string) { log.Printf("reconnected as %s", id) })
	c.OnClose(func(err error) { log.Printf("closed: %v", err) })
}

// A load generator spreads its connections over several source addresses: each 127.0.0.x has its
// own range of ephemeral ports. Clients with the same LocalAddr share one pool of negotiate
// connections.
func ExampleOptions_localAddr() {
	const hubURL = "http://127.0.0.1:8080/hubs/conformance"
	var clients []*client.Client
	for i := range 4 {
		c, err := client.New(hubURL, client.Options{
			Protocol:  client.MessagePack,
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))},
			Logger:    quiet,
		})
		if err != nil {
			log.Fatal(err)
		}
		clients = append(clients, c)
	}
	fmt.Println(len(clients), "clients")
	// Output: 4 clients
}
