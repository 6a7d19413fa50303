package hub_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
)

// BenchmarkTraceSend measures a hub send (to a user with no connection: the send path itself,
// encoding and publishing, where the trace point is) while nobody watches the trace, and while a
// watcher on the node takes every event (its filter keeps them all, without and with payloads):
// the figures side by side are tracing's cost on the send path.
//
//	go test -run '^$' -bench BenchmarkTraceSend -benchmem ./hub/
func BenchmarkTraceSend(b *testing.B) {
	for _, c := range []struct {
		name    string
		watch   bool
		payload bool
	}{
		{"nobody-watching", false, false},
		{"watched", true, false},
		{"watched-with-payload", true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, mon := monitored(b, backplane.NewMemory(), "n1", hub.MonitorOptions{PublishQueue: 1 << 16, WatchBuffer: 1 << 16})
			ctx := context.Background()
			var got int64
			if c.watch {
				w, err := mon.Watch(ctx, hub.TraceFilter{Payload: c.payload})
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				go func() { // the watcher takes every event, as the SSE handler does
					defer close(done)
					for {
						select {
						case <-w.Events():
							got++
						case <-w.Done():
							return
						}
					}
				}()
				defer func() { w.Close(); <-done; b.ReportMetric(float64(got)/float64(b.N), "events/op") }()
			}
			proxy := f.hub.Clients().User("alice")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := proxy.Send(ctx, "Msg", "order 42 shipped", i); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
		})
	}
}
