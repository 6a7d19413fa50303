package main

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge-go"
)

// Channels of the scenarios.
const (
	broadcastChannel = "broadcast"
	groupPrefix      = "group:" // group i is channel "group:i"
	groupSize        = 10
)

// drainPoll is how often the drain checks whether every expected delivery has arrived.
const drainPoll = 20 * time.Millisecond

// timePrefix starts every message's data: its send time in unix nanoseconds follows, so that
// each receiver computes its own latency without a lookup.
var timePrefix = []byte(`{"t":`)

// scenario is what differs between the four scenarios: what each connection subscribes to, what
// it does with a publication, and what runs once every connection is ready.
type scenario struct {
	cfg           loadConfig
	subscriptions string // "none" or what each receiver subscribes to, for the result
	needsSender   bool   // broadcast and group publish through one extra connection
	sender        *centrifuge.Client
	channelOf     func(i int) string
	onPub         func(i int, data []byte)
	run           func(ctx context.Context, clients []*centrifuge.Client, res *result)

	latency   histogram    // receive time - send time, or the round trip for echo
	malformed atomic.Int64 // publications without a send time
}

func newScenario(cfg loadConfig) *scenario {
	s := &scenario{cfg: cfg, subscriptions: "none", channelOf: func(int) string { return "" }}
	s.onPub = s.receive
	switch cfg.scenario {
	case scenarioIdle:
		// Idle connections subscribe to nothing, like an idle SignalR connection in no group.
		s.run = func(context.Context, []*centrifuge.Client, *result) {}
	case scenarioBroadcast:
		s.subscriptions = `one channel, "broadcast", for all`
		s.needsSender = true
		s.channelOf = func(int) string { return broadcastChannel }
		s.run = func(ctx context.Context, clients []*centrifuge.Client, res *result) {
			receivers := int64(connected(clients))
			s.publish(ctx, res, func(int64) (string, int64) { return broadcastChannel, receivers })
		}
	case scenarioGroup:
		s.subscriptions = `one channel, "group:i", per group of 10`
		s.needsSender = true
		s.channelOf = func(i int) string { return groupPrefix + strconv.Itoa(i/groupSize) }
		s.run = func(ctx context.Context, clients []*centrifuge.Client, res *result) {
			sizes := make([]int64, (len(clients)+groupSize-1)/groupSize)
			for i, c := range clients {
				if c != nil {
					sizes[i/groupSize]++
				}
			}
			s.publish(ctx, res, func(k int64) (string, int64) {
				g := int(k % int64(len(sizes)))
				return groupPrefix + strconv.Itoa(g), sizes[g]
			})
		}
	case scenarioEcho:
		s.run = s.echo
	}
	return s
}

// receive records the latency of one publication.
func (s *scenario) receive(i int, data []byte) {
	now := time.Now().UnixNano()
	sent, ok := sendTime(data)
	if !ok {
		s.malformed.Add(1)
		return
	}
	s.latency.record(i, time.Duration(now-sent))
}

// publish makes the sender call the "broadcast" RPC for --duration, at --rate or in a closed loop,
// message k going to target(k) which names the channel and how many receivers it has; then it
// waits up to --drain for every delivery and fills res.
func (s *scenario) publish(ctx context.Context, res *result, target func(k int64) (channel string, receivers int64)) {
	var sent, expected, rpcErrors int64
	start := time.Now()
	deadline := start.Add(s.cfg.duration)
	var req []byte
	for k := int64(0); ctx.Err() == nil; k++ {
		if s.cfg.rate > 0 {
			next := start.Add(time.Duration(float64(k) / s.cfg.rate * float64(time.Second)))
			if !next.Before(deadline) {
				break
			}
			if wait := time.Until(next); wait > 0 {
				sleep(ctx, wait)
			}
		} else if !time.Now().Before(deadline) {
			break
		}
		channel, receivers := target(k)
		req = broadcastRequestData(req[:0], channel, s.cfg.payload, time.Now())
		rctx, cancel := context.WithTimeout(ctx, s.cfg.rpcTimeout)
		_, err := s.sender.RPC(rctx, rpcBroadcast, req)
		cancel()
		if err != nil {
			rpcErrors++
			continue
		}
		sent++
		expected += receivers
	}
	end := s.drain(ctx, uint64(expected))
	s.fill(res, sent, expected, rpcErrors, end.Sub(start))
}

// drain waits until expected deliveries have arrived or --drain has passed, and returns when.
func (s *scenario) drain(ctx context.Context, expected uint64) time.Time {
	limit := time.Now().Add(s.cfg.drain)
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		if n, _, _ := s.latency.summary(); n >= expected {
			return time.Now()
		}
		if !time.Now().Before(limit) {
			return time.Now()
		}
		select {
		case <-ctx.Done():
			return time.Now()
		case <-t.C:
		}
	}
}

// echo makes every connection call the "echo" RPC in a closed loop for --duration. A connection
// whose call fails stops calling: a dead connection would otherwise spin on errors.
func (s *scenario) echo(ctx context.Context, clients []*centrifuge.Client, res *result) {
	payload := messageData(nil, s.cfg.payload, time.Now())
	var sent, rpcErrors atomic.Int64
	start := time.Now()
	deadline := start.Add(s.cfg.duration)
	var wg sync.WaitGroup
	for i, c := range clients {
		if c == nil {
			continue
		}
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				sent.Add(1)
				t0 := time.Now()
				rctx, cancel := context.WithTimeout(ctx, s.cfg.rpcTimeout)
				_, err := c.RPC(rctx, rpcEcho, payload)
				cancel()
				if err != nil {
					rpcErrors.Add(1)
					return
				}
				s.latency.record(i, time.Since(t0))
			}
		})
	}
	wg.Wait()
	s.fill(res, sent.Load(), sent.Load(), rpcErrors.Load(), time.Since(start))
}

// fill writes the figures of a finished run into res.
func (s *scenario) fill(res *result, sent, expected, rpcErrors int64, elapsed time.Duration) {
	n, p50, p99 := s.latency.summary()
	res.Sent = sent
	res.Expected = expected
	res.Delivered = int64(n)
	res.Lost = max(expected-res.Delivered, 0)
	res.ElapsedS = round3(elapsed.Seconds())
	if elapsed > 0 {
		res.DeliveriesPerS = round3(float64(n) / elapsed.Seconds())
	}
	res.P50Ms, res.P99Ms = round3(p50), round3(p99)
	res.RPCErrors = rpcErrors
	res.OtherErrors += s.malformed.Load()
	res.PayloadBytes = len(messageData(nil, s.cfg.payload, time.Now()))
}

// messageData appends to buf a JSON object of size bytes (or the least that holds the time)
// that starts with the send time t: {"t":UNIXNANO,"p":"xxx…"}.
func messageData(buf []byte, size int, t time.Time) []byte {
	start := len(buf)
	buf = append(buf, timePrefix...)
	buf = strconv.AppendInt(buf, t.UnixNano(), 10)
	buf = append(buf, `,"p":"`...)
	for pad := size - (len(buf) - start) - 2; pad > 0; pad-- {
		buf = append(buf, 'x')
	}
	return append(buf, `"}`...)
}

// broadcastRequestData appends to buf the data of a "broadcast" RPC: {"channel":…,"data":…}.
// Channel names here need no JSON escaping.
func broadcastRequestData(buf []byte, channel string, size int, t time.Time) []byte {
	buf = append(buf, `{"channel":"`...)
	buf = append(buf, channel...)
	buf = append(buf, `","data":`...)
	buf = messageData(buf, size, t)
	return append(buf, '}')
}

// sendTime reads the send time at the start of a message's data.
func sendTime(data []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(data, timePrefix)
	if !ok {
		return 0, false
	}
	var v int64
	n := 0
	for ; n < len(rest) && rest[n] >= '0' && rest[n] <= '9'; n++ {
		v = v*10 + int64(rest[n]-'0')
	}
	return v, n > 0
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
