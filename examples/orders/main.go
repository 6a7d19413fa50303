// Command orders is Herald's "order flow" example: a web API accepts an order at once (202), a
// worker processes it in the background and tells every open page of the user the moment it is
// done, through Herald's management API, and an audit trail records every order.
//
//	orders api      HTTP: POST /negotiate (the SignalR clients' login), POST /orders
//	orders worker   processes the orders, notifies the user (orderCompleted / orderFailed)
//	orders audit    appends every order to a JSON lines file
//	orders reset    deletes the stream (its orders and consumers) to start over
//
// The orders travel on a NATS JetStream stream: one stream, two durable consumers ("worker" and
// "audit"), each getting every order. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/manage"
)

const usage = `orders: Herald's order flow example.

Usage:
  orders api    [flags]   HTTP API: POST /negotiate, POST /orders (default 127.0.0.1:8090)
  orders worker [flags]   process the orders and notify their users through Herald
  orders audit  [flags]   append every order to a JSON lines file
  orders reset  [flags]   delete the stream (its orders and consumers)

The api and the worker need HERALD_CONNECTION_STRING (bin/herald keys prints it).
Run "orders <command> -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.Lmsgprefix)
	log.SetPrefix(cmd + ": ")
	// The api and the worker log to stdout; the audit's stdout is its output, it logs to stderr.
	log.SetOutput(os.Stdout)

	var err error
	switch cmd {
	case "api":
		err = runAPI(ctx, args)
	case "worker":
		err = runWorker(ctx, args)
	case "audit":
		log.SetOutput(os.Stderr)
		err = runAudit(ctx, args)
	case "reset":
		err = runReset(ctx, args)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "orders: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintf(os.Stderr, "orders %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// streamFlags name the NATS server, the stream and the subject; every command has them.
type streamFlags struct {
	url     string
	stream  string
	subject string
}

func (f *streamFlags) register(fs *flag.FlagSet) {
	def := "nats://127.0.0.1:4222"
	if v := os.Getenv("NATS_URL"); v != "" {
		def = v
	}
	fs.StringVar(&f.url, "nats", def, "NATS server URL (env NATS_URL)")
	fs.StringVar(&f.stream, "stream", "ORDERS", "JetStream stream of the orders (created if missing)")
	fs.StringVar(&f.subject, "subject", "orders.created", "subject the orders are published on (the stream's subject)")
}

// connect connects to NATS (reconnecting for ever once connected) and makes sure the stream is
// there.
func (f *streamFlags) connect(ctx context.Context, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(f.url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Printf("NATS disconnected: %v", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Printf("NATS reconnected to %s", c.ConnectedUrl()) }),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", f.url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if err := f.ensureStream(ctx, js); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// ensureStream creates the stream when it is missing. The default retention, LimitsPolicy,
// keeps every order (for 24 h) whoever has acknowledged it: each durable consumer reads the
// whole stream at its own pace, which is what makes one stream with two consumers a topic with
// two subscriptions. Duplicates is the window in which a second publish with the same
// Nats-Msg-Id (the order id) is dropped by the server.
func (f *streamFlags) ensureStream(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, f.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        f.stream,
			Description: "Orders of Herald's order flow example",
			Subjects:    []string{f.subject},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      24 * time.Hour,
			Duplicates:  2 * time.Minute,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, f.stream) // another process created it with other settings
		}
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
			return fmt.Errorf("the NATS server at %s runs without JetStream (start it with -js)", f.url)
		}
		return fmt.Errorf("stream %s: %w", f.stream, err)
	}
	if subjects := s.CachedInfo().Config.Subjects; !slices.Contains(subjects, f.subject) {
		return fmt.Errorf("stream %s exists with the subjects %v, not %s: pass other --stream or --subject values, or delete it with `orders reset --stream %s`",
			f.stream, subjects, f.subject, f.stream)
	}
	return nil
}

// heraldHub is the hub of the orders on the Herald that HERALD_CONNECTION_STRING names.
func heraldHub(ctx context.Context, name string) (*manage.Hub, error) {
	cs := os.Getenv("HERALD_CONNECTION_STRING")
	if cs == "" {
		return nil, errors.New("HERALD_CONNECTION_STRING is not set: it is Herald's connection string, " +
			"Endpoint=…;AccessKey=…;Version=1.0; (`bin/herald keys` prints it)")
	}
	c, err := manage.New(cs)
	if err != nil {
		return nil, fmt.Errorf("HERALD_CONNECTION_STRING: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Health(hctx); err != nil {
		log.Printf("warning: Herald at %s does not answer yet: %v", c.ConnectionString().Endpoint, err)
	}
	return c.Hub(name), nil
}

// userGroup is the group of a user's connections that the worker notifies.
func userGroup(user string) string { return "user:" + user }

// consumerOf creates (or updates) a durable pull consumer with explicit acks on the stream.
func consumerOf(ctx context.Context, js jetstream.JetStream, f *streamFlags, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg.AckPolicy = jetstream.AckExplicitPolicy
	cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	cfg.FilterSubject = f.subject
	c, err := js.CreateOrUpdateConsumer(ctx, f.stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on stream %s: %w", cfg.Durable, f.stream, err)
	}
	return c, nil
}

// next waits for the consumer's next message: nil, nil when none came within the pull's expiry.
func next(ctx context.Context, c jetstream.Consumer) (jetstream.Msg, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := c.Next(jetstream.FetchContext(pctx))
	switch {
	case err == nil:
		return msg, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return nil, nil
	default:
		return nil, err
	}
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func runReset(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	var sf streamFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, err := nats.Connect(sf.url, nats.Name("orders-reset"))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", sf.url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch err := js.DeleteStream(ctx, sf.stream); {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		log.Printf("no stream %s", sf.stream)
	case err != nil:
		return fmt.Errorf("delete stream %s: %w", sf.stream, err)
	default:
		log.Printf("deleted stream %s with its orders and consumers", sf.stream)
	}
	return nil
}
