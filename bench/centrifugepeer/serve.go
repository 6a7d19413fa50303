package main

import (
	"context"
	"encoding/json"
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

	"github.com/centrifugal/centrifuge"
)

// wsPath is where the server accepts WebSocket connections, Centrifugo's own path.
const wsPath = "/connection/websocket"

// RPC methods of the server.
const (
	rpcEcho      = "echo"      // returns its data
	rpcBroadcast = "broadcast" // publishes broadcastRequest.Data to broadcastRequest.Channel
)

// serveShutdownTimeout bounds how long a stop waits for the node and the HTTP server.
const serveShutdownTimeout = 5 * time.Second

// broadcastRequest is the data of the "broadcast" RPC.
type broadcastRequest struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func serveMain(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on (port 0 picks a free port)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := log.New(os.Stderr, "centrifugepeer: ", 0)
	if limit, err := raiseNoFile(); err == nil {
		logger.Printf("open-file limit is %d, so at most about that many connections", limit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, *addr, logger)
}

// serve runs a node with the in-memory broker and presence manager (Centrifuge's defaults)
// until ctx is done. Every option is the library's default: nothing is logged, no history is
// kept, no presence or join/leave messages are sent.
func serve(ctx context.Context, addr string, logger *log.Logger) error {
	node, err := centrifuge.New(centrifuge.Config{})
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	node.OnConnecting(func(_ context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		// Anonymous connections are allowed; each gets its own user id, as each connection of a
		// real app is a user of its own.
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: "anon-" + e.ClientID}}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(_ centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnRPC(func(e centrifuge.RPCEvent, cb centrifuge.RPCCallback) {
			cb(handleRPC(node, e))
		})
	})
	if err := node.Run(); err != nil {
		return fmt.Errorf("run node: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle(wsPath, centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Printf("listening on http://%s", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), serveShutdownTimeout)
	defer cancel()
	// Shutting the node down disconnects every client; the HTTP server then has nothing left.
	if err := node.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down node: %w", err)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}

// handleRPC answers the server's two RPC methods; any other method is ErrorMethodNotFound.
func handleRPC(node *centrifuge.Node, e centrifuge.RPCEvent) (centrifuge.RPCReply, error) {
	switch e.Method {
	case rpcEcho:
		return centrifuge.RPCReply{Data: e.Data}, nil
	case rpcBroadcast:
		var req broadcastRequest
		if err := json.Unmarshal(e.Data, &req); err != nil || req.Channel == "" || len(req.Data) == 0 {
			return centrifuge.RPCReply{}, centrifuge.ErrorBadRequest
		}
		if _, err := node.Publish(req.Channel, req.Data); err != nil {
			return centrifuge.RPCReply{}, centrifuge.ErrorInternal
		}
		return centrifuge.RPCReply{}, nil
	default:
		return centrifuge.RPCReply{}, centrifuge.ErrorMethodNotFound
	}
}
