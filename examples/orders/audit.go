package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// auditLine is one line of the audit file.
type auditLine struct {
	Seq         uint64          `json:"seq"`         // the order's sequence number in the stream
	PublishedAt time.Time       `json:"publishedAt"` // when the stream stored it
	Order       json.RawMessage `json:"order"`
}

func runAudit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	name := fs.String("consumer", "audit", "durable consumer name")
	out := fs.String("out", "-", `file to append the JSON lines to ("-": stdout)`)
	var sf streamFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f := os.Stdout
	if *out != "-" {
		var err error
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
	}
	nc, js, err := sf.connect(ctx, "orders-audit")
	if err != nil {
		return err
	}
	defer nc.Close()
	// A consumer of its own: it reads every order of the stream, whatever the workers do, from
	// the first one kept when it is created, and resumes where it stopped after a restart.
	cons, err := consumerOf(ctx, js, &sf, jetstream.ConsumerConfig{
		Durable:     *name,
		Description: "Appends every order to the audit file",
		AckWait:     30 * time.Second,
	})
	if err != nil {
		return err
	}
	log.Printf("ready: consumer %s on stream %s, appending to %s", *name, sf.stream, *out)
	for {
		msg, err := next(ctx, cons)
		if ctx.Err() != nil {
			log.Printf("stopping")
			return nil
		}
		if err != nil {
			log.Printf("pull: %v", err)
			pause(ctx, time.Second)
			continue
		}
		if msg == nil {
			continue
		}
		if err := record(f, msg); err != nil {
			log.Printf("write: %v", err)
			_ = msg.NakWithDelay(5 * time.Second)
			continue
		}
		// Written (and synced) before the ack: an audit that dies in between writes the line again
		// when the order comes back, so a reader keeps the first line of each order id.
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := msg.DoubleAck(actx); err != nil {
			log.Printf("ack: %v", err)
		}
		cancel()
	}
}

func record(f *os.File, msg jetstream.Msg) error {
	md, err := msg.Metadata()
	if err != nil {
		return err
	}
	order := json.RawMessage(msg.Data())
	if !json.Valid(order) {
		order, _ = json.Marshal(string(msg.Data())) // kept as a string: an audit keeps everything
	}
	line, err := json.Marshal(auditLine{Seq: md.Sequence.Stream, PublishedAt: md.Timestamp.UTC(), Order: order})
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	if f != os.Stdout {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %v", f.Name(), err)
		}
	}
	return nil
}
