package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge-go"
)

// Bounds of opening and closing the driver's connections.
const (
	clientHandshakeTimeout = 10 * time.Second // the library's default, 1 s, is short for a ramp of thousands
	clientWriteTimeout     = 5 * time.Second  // the library's default, 1 s, drops connections of a busy driver
	closeConcurrency       = 64
	closeTimeout           = 30 * time.Second // after that the process exits and the kernel closes the rest
)

// errConnectTimeout is returned when a connection is not ready within --connect-timeout.
var errConnectTimeout = errors.New("not connected and subscribed in time")

// driver opens the connections of one run and counts what happens to them. Its callbacks run on
// centrifuge-go's goroutines, one queue per connection; the driver itself starts no goroutine
// per connection except in the echo scenario, which needs one caller per connection.
type driver struct {
	cfg     loadConfig
	dialers []*net.Dialer // one per source address; empty: the library's default dialer
	closing atomic.Bool   // set before the driver closes connections: disconnects are then expected

	connectLatency histogram
	connectErrors  atomic.Int64 // connections that never became ready
	disconnects    atomic.Int64 // ready connections lost before the driver closed them
	clientErrors   atomic.Int64 // errors reported by the client library after a connection was ready
	subErrors      atomic.Int64 // subscription errors after a connection was ready
}

func newDriver(cfg loadConfig) *driver {
	d := &driver{cfg: cfg}
	for _, ip := range cfg.sourceIPs {
		// The port is left to the kernel: each source address has its own ephemeral ports.
		d.dialers = append(d.dialers, &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}})
	}
	return d
}

// newClient returns an unconnected client; i chooses its source address.
func (d *driver) newClient(i int) *centrifuge.Client {
	cfg := centrifuge.Config{
		Name:             "herald-bench",
		HandshakeTimeout: clientHandshakeTimeout,
		ReadTimeout:      d.cfg.rpcTimeout, // how long connect, subscribe and RPC replies may take
		WriteTimeout:     clientWriteTimeout,
	}
	if len(d.dialers) > 0 {
		cfg.NetDialContext = d.dialers[i%len(d.dialers)].DialContext
	}
	if d.cfg.protocol == "protobuf" {
		return centrifuge.NewProtobufClient(d.cfg.url, cfg)
	}
	return centrifuge.NewJsonClient(d.cfg.url, cfg)
}

// open connects client i and, when channel is not empty, subscribes it to channel with onPub
// receiving its publications. It returns once the connection is ready (connected and subscribed).
func (d *driver) open(ctx context.Context, i int, channel string, onPub func(i int, data []byte)) (*centrifuge.Client, error) {
	c := d.newClient(i)
	var ready atomic.Bool
	done := make(chan error, 1)
	signal := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	c.OnError(func(e centrifuge.ErrorEvent) {
		if ready.Load() {
			d.clientErrors.Add(1)
			return
		}
		signal(e.Error)
	})
	lost := func() {
		if ready.Load() && !d.closing.Load() {
			d.disconnects.Add(1)
		}
	}
	c.OnConnecting(func(e centrifuge.ConnectingEvent) {
		if e.Code != 0 { // 0 is the first Connect; anything else is a reconnect after a loss
			lost()
		}
	})
	c.OnDisconnected(func(centrifuge.DisconnectedEvent) { lost() })
	if channel == "" {
		c.OnConnected(func(centrifuge.ConnectedEvent) { signal(nil) })
	} else {
		sub, err := c.NewSubscription(channel)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("new subscription to %q: %w", channel, err)
		}
		sub.OnPublication(func(e centrifuge.PublicationEvent) { onPub(i, e.Data) })
		sub.OnSubscribed(func(centrifuge.SubscribedEvent) { signal(nil) })
		sub.OnError(func(e centrifuge.SubscriptionErrorEvent) {
			if ready.Load() {
				d.subErrors.Add(1)
				return
			}
			signal(e.Error)
		})
		// Subscribing before connecting sends the subscribe right after the connect, as an app does.
		if err := sub.Subscribe(); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe to %q: %w", channel, err)
		}
	}
	start := time.Now()
	if err := c.Connect(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	timer := time.NewTimer(d.cfg.connectTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("connect: %w", err)
		}
	case <-timer.C:
		c.Close()
		return nil, errConnectTimeout
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	ready.Store(true)
	d.connectLatency.record(i, time.Since(start))
	return c, nil
}

// openAll opens n connections, at most --connect-concurrency at a time, connection i subscribed
// to channelOf(i) (none when it returns ""). Connections that fail are nil in the result and
// counted in connectErrors; the first failure is logged to stderr.
func (d *driver) openAll(ctx context.Context, n int, channelOf func(i int) string, onPub func(i int, data []byte)) []*centrifuge.Client {
	clients := make([]*centrifuge.Client, n)
	var next atomic.Int64
	var logOnce sync.Once
	var wg sync.WaitGroup
	for range min(d.cfg.connectConcurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := d.open(ctx, i, channelOf(i), onPub)
				if err != nil {
					d.connectErrors.Add(1)
					logOnce.Do(func() { logf("connection %d: %v (further failures are only counted)", i, err) })
					continue
				}
				clients[i] = c
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Connections never attempted count as failed too.
		attempted := min(int(next.Load()), n)
		d.connectErrors.Add(int64(n - attempted))
	}
	return clients
}

// closeAll closes every connection, closeConcurrency at a time, for at most closeTimeout.
func (d *driver) closeAll(clients []*centrifuge.Client) {
	d.closing.Store(true)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range closeConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(clients) {
					return
				}
				if c := clients[i]; c != nil {
					c.Close()
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		logf("closing connections took over %s; leaving the rest to process exit", closeTimeout)
	}
}

// connected counts the non-nil clients.
func connected(clients []*centrifuge.Client) int {
	n := 0
	for _, c := range clients {
		if c != nil {
			n++
		}
	}
	return n
}
