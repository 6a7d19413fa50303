package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/manage"
)

type worker struct {
	hub           *manage.Hub
	ackWait       time.Duration
	maxDeliver    int
	delay         time.Duration
	failRate      float64
	exitBeforeAck bool
}

func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var w worker
	name := fs.String("consumer", "worker", "durable consumer name; every worker with the same name shares the orders")
	hubName := fs.String("hub", "orders", "Herald hub the users' pages are connected to")
	fs.DurationVar(&w.ackWait, "ack-wait", 5*time.Second, "redeliver an order to another worker when its worker has not acknowledged it (or said it is still at it) for this long")
	fs.IntVar(&w.maxDeliver, "max-deliver", 5, "deliveries of an order at most")
	fs.DurationVar(&w.delay, "delay", 2*time.Second, "how long processing an order takes")
	fs.Float64Var(&w.failRate, "fail-rate", 0, "share of the orders that fail, 0 to 1 (decided by the order id: a redelivered order fails again)")
	fs.BoolVar(&w.exitBeforeAck, "exit-before-ack", false, "exit right after the first notification, before its ack, like a worker killed at the worst moment (the order is redelivered and the idempotency key keeps the user from a second notification)")
	var sf streamFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case w.failRate < 0 || w.failRate > 1:
		return errors.New("--fail-rate is from 0 to 1")
	case w.ackWait < time.Second:
		return errors.New("--ack-wait is at least 1s")
	case w.maxDeliver < 1:
		return errors.New("--max-deliver is at least 1")
	case w.delay < 0:
		return errors.New("--delay cannot be negative")
	}
	hub, err := heraldHub(ctx, *hubName)
	if err != nil {
		return err
	}
	w.hub = hub
	nc, js, err := sf.connect(ctx, "orders-worker")
	if err != nil {
		return err
	}
	defer nc.Close()
	cons, err := consumerOf(ctx, js, &sf, jetstream.ConsumerConfig{
		Durable:     *name,
		Description: "Processes the orders and notifies their users",
		AckWait:     w.ackWait,
		MaxDeliver:  w.maxDeliver,
	})
	if err != nil {
		return err
	}
	log.Printf("ready: consumer %s on stream %s (ack wait %s, max deliver %d, delay %s, fail rate %g)",
		*name, sf.stream, w.ackWait, w.maxDeliver, w.delay, w.failRate)
	// One order at a time: a worker pulls the next one when it is done with the last, so none waits
	// in its buffer while its AckWait runs. More throughput: more workers.
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
		if msg != nil {
			w.handle(ctx, msg)
		}
	}
}

// handle processes one delivery of an order: it acknowledges it only once the user was told the
// outcome, so that a worker that dies on the way leaves the order to the next delivery.
func (w *worker) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		log.Printf("not a JetStream message: %v", err)
		return
	}
	var o Order
	if err := json.Unmarshal(msg.Data(), &o); err != nil || o.ID == "" || o.User == "" {
		log.Printf("message %d is not an order, dropped: %.200q", md.Sequence.Stream, msg.Data())
		_ = msg.Term()
		return
	}
	log.Printf("processing order %s for %s (delivery %d of at most %d)", o.ID, o.User, md.NumDelivered, w.maxDeliver)

	// Processing may take longer than AckWait: tell the server we are at it, every half AckWait.
	// Should this process die, the beats stop and the order goes to another worker.
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.ackWait / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	}()
	pause(ctx, w.delay)
	close(done)
	if ctx.Err() != nil {
		// Stopped halfway: hand the order back now rather than after AckWait.
		_ = msg.Nak()
		log.Printf("stopped while processing order %s: handed back", o.ID)
		return
	}

	target := "orderCompleted"
	o.Status = "completed"
	if reason, failed := fails(o.ID, w.failRate); failed {
		target, o.Status, o.Reason = "orderFailed", "failed", reason
	}
	// One key for the outcome of the order, whichever delivery sends it: Herald sends it once.
	// A redelivery after a notification that went out (the ack was lost, the worker died) is a
	// no-op for the user. The send is not cut short by a SIGTERM: it is quick, and then acked.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err = w.hub.SendToGroup(sctx, userGroup(o.User), manage.Message{Target: target, Arguments: []any{o}},
		manage.SendOptions{IdempotencyKey: "order-" + o.ID + "-result"})
	if err != nil {
		if int(md.NumDelivered) >= w.maxDeliver {
			log.Printf("order %s: notifying %s failed on the last delivery, giving up: %v", o.ID, o.User, err)
			_ = msg.Term()
			return
		}
		retry := time.Duration(md.NumDelivered) * 2 * time.Second
		log.Printf("order %s: notifying %s failed, again in %s: %v", o.ID, o.User, retry, err)
		_ = msg.NakWithDelay(retry)
		return
	}
	if w.exitBeforeAck {
		log.Printf("order %s %s, %s notified; exiting before the ack (--exit-before-ack)", o.ID, o.Status, o.User)
		os.Exit(3)
	}
	if err := msg.DoubleAck(sctx); err != nil {
		log.Printf("order %s: ack: %v (it will come again; the user is not notified twice)", o.ID, err)
		return
	}
	log.Printf("order %s %s, %s notified (%s)", o.ID, o.Status, o.User, target)
}

var reasons = []string{"payment declined", "out of stock", "address not deliverable"}

// fails decides whether an order fails, the same way on every delivery: a hash of its id below
// the rate.
func fails(id string, rate float64) (string, bool) {
	sum := sha256.Sum256([]byte(id))
	x := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) // uniform in [0, 1)
	if x >= rate {
		return "", false
	}
	return reasons[int(sum[8])%len(reasons)] + " (simulated)", true
}
