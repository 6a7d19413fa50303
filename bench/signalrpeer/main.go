// Command signalrpeer serves the hub-benchmark subset of Herald's conformance hub with
// github.com/philippseith/signalr, the other Go implementation of the ASP.NET Core SignalR
// protocol, so that Herald's load generator can measure both side by side.
//
//	signalrpeer --addr 127.0.0.1:0
//
// It serves /hubs/conformance (negotiate, WebSockets and, the library's default, Server-Sent
// Events), logs "listening on http://ADDR" to stderr once it listens, and exits 0 on SIGTERM or
// SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	kitlog "github.com/go-kit/log"
	"github.com/philippseith/signalr"
)

// hubPath is where Herald serves its conformance hub; the load generator uses the same path for
// every SignalR server.
const hubPath = "/hubs/conformance"

// shutdownTimeout bounds how long a stop waits for HTTP handlers to return.
const shutdownTimeout = 5 * time.Second

func main() {
	log.SetFlags(0)
	log.SetPrefix("signalrpeer: ")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	flag.Parse()
	if err := run(*addr); err != nil {
		log.Fatal(err)
	}
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	raiseNoFile()

	// Cancelling hubCtx closes every SignalR connection the server holds.
	hubCtx, cancelHub := context.WithCancel(context.Background())
	defer cancelHub()
	server, err := signalr.NewServer(hubCtx,
		signalr.SimpleHubFactory(&conformanceHub{}),
		// A production setup does not log per connection or per message; the library's default
		// logger writes info events (connects, handshakes) to stderr.
		signalr.Logger(kitlog.NewNopLogger(), false),
		// The default, 1000 "pending" negotiations, also counts every negotiate v1 of the last
		// handshake timeout (15 s) that went on to connect: the library keeps the token's entry
		// until its reaper drops it. A ramp of more than 1000 connections within 15 s is then
		// refused with 429, so the limit is off here. Every other option is the library's default.
		signalr.MaxNegotiationConnections(0),
	)
	if err != nil {
		return fmt.Errorf("create signalr server: %w", err)
	}
	mux := http.NewServeMux()
	server.MapHTTP(signalr.WithHTTPServeMux(mux), hubPath)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Printf("listening on http://%s", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	cancelHub()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// raiseNoFile lifts the soft limit on open files as high as the process may: Go already raises
// it to the hard limit, and a root process may go beyond. Each connection holds one descriptor.
func raiseNoFile() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	const want = 1 << 20
	if lim.Cur >= want {
		return
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
		return
	}
	if lim.Cur < lim.Max {
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		fmt.Fprintf(os.Stderr, "signalrpeer: open-file limit is %d, so at most about that many connections\n", lim.Cur)
	}
}
