package client

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// feedConn is a connection with no socket, for feeding bytes to its reader. Its writer is ended,
// so that handler replies fail at once instead of writing.
func feedConn(t *testing.T, p protocol.HubProtocol, maxSize int) (*conn, map[string]*invocation) {
	t.Helper()
	c := &Client{proto: p, log: slog.New(slog.DiscardHandler)}
	c.opts = Options{MaxMessageSize: maxSize, HandlerQueueSize: 4}.WithDefaults()
	cn := &conn{c: c, s: &session{}, proto: p}
	cn.ctx, cn.cancel = context.WithCancelCause(context.Background())
	cn.wdone = true
	calls := make(map[string]*invocation)
	for _, id := range []string{"1", "2", "3", "x"} {
		calls[id] = &invocation{done: make(chan outcome, 1)}
		if err := cn.register(id, calls[id]); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		cn.cancel(errors.New("test over"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cn.s.g.Wait(ctx); err != nil {
			t.Errorf("handler goroutines: %v", err)
		}
	})
	return cn, calls
}

// completed lists the ids whose Completion was dispatched.
func completed(calls map[string]*invocation) []string {
	var ids []string
	for id, call := range calls {
		select {
		case o := <-call.done:
			ids = append(ids, id+":"+o.m.Error)
		default:
		}
	}
	slices.Sort(ids)
	return ids
}

// FuzzFeed checks that the reader never panics, keeps no more than a record's worth of bytes, and
// dispatches the same messages however the bytes are cut into chunks.
func FuzzFeed(f *testing.F) {
	rec := func(p protocol.HubProtocol, ms ...protocol.Message) []byte {
		var b []byte
		for _, m := range ms {
			var err error
			if b, err = p.AppendMessage(b, m); err != nil {
				f.Fatal(err)
			}
		}
		return b
	}
	for i, p := range []protocol.HubProtocol{protocol.JSON(), protocol.MessagePack()} {
		binary := i == 1
		f.Add(binary, rec(p, &protocol.Completion{InvocationID: "1", HasResult: true, Result: "ok"}, &protocol.Ping{},
			&protocol.Completion{InvocationID: "2", Error: "bad"}), uint16(7))
		f.Add(binary, rec(p, &protocol.Invocation{Target: "m", Arguments: []any{1, "two"}},
			&protocol.StreamItem{InvocationID: "3", Item: 1.5}, &protocol.Completion{InvocationID: "3"}), uint16(30))
		f.Add(binary, rec(p, &protocol.Completion{InvocationID: "x"}, &protocol.Close{Error: "bye", AllowReconnect: true},
			&protocol.Completion{InvocationID: "1"}), uint16(3))
		f.Add(binary, rec(p, &protocol.Invocation{InvocationID: "s1", Target: "m", Arguments: []any{"a long enough argument to pass the limit of this test"}}), uint16(1))
	}
	f.Add(false, []byte("{\"type\":3,\"invocationId\":\"1\"}\x1e{not json}\x1e"), uint16(12))
	f.Add(true, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, uint16(2))
	f.Fuzz(func(t *testing.T, binary bool, data []byte, cut uint16) {
		p := protocol.JSON()
		if binary {
			p = protocol.MessagePack()
		}
		const maxSize = 64
		whole, wholeCalls := feedConn(t, p, maxSize)
		wholeErr := whole.feed(data)

		split, splitCalls := feedConn(t, p, maxSize)
		var splitErr error
		for rest := data; len(rest) > 0 && splitErr == nil; {
			n := min(int(cut)%16+1, len(rest))
			splitErr = split.feed(rest[:n])
			rest = rest[n:]
			if splitErr == nil && len(split.partial) > maxSize+16 {
				t.Fatalf("the reader keeps %d bytes, more than a record's worth", len(split.partial))
			}
		}
		if (wholeErr == nil) != (splitErr == nil) {
			t.Fatalf("fed at once: %v; fed in chunks: %v", wholeErr, splitErr)
		}
		if w, s := completed(wholeCalls), completed(splitCalls); !slices.Equal(w, s) {
			t.Fatalf("fed at once completed %v; fed in chunks %v", w, s)
		}
	})
}
