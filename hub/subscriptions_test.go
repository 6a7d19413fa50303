package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/backplane"
)

// slowBus is a backplane whose subscribes take a while and which checks that the hub never
// subscribes to a channel it holds, nor unsubscribes one it does not.
type slowBus struct {
	backplane.Backplane
	delay time.Duration
	t     *testing.T

	mu         sync.Mutex
	subscribed map[string]bool
}

func (b *slowBus) Subscribe(ctx context.Context, channel string, h backplane.Handler) error {
	time.Sleep(b.delay)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subscribed[channel] {
		b.t.Errorf("subscribed twice to %s", channel)
	}
	b.subscribed[channel] = true
	return nil
}

func (b *slowBus) Unsubscribe(ctx context.Context, channel string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.subscribed[channel] {
		b.t.Errorf("unsubscribed %s, which was not subscribed", channel)
	}
	delete(b.subscribed, channel)
	return nil
}

func TestSubscriptionsCountAndOrder(t *testing.T) {
	bus := &slowBus{Backplane: backplane.NewMemory(), delay: 5 * time.Millisecond, t: t, subscribed: map[string]bool{}}
	s := newSubscriptions(bus, func(string, []byte) {}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// Different channels subscribe at once, not one round trip after the other.
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { require.NoError(t, s.acquire(context.Background(), fmt.Sprint("conn:", i))) })
	}
	wg.Wait()
	require.Less(t, time.Since(start), 250*time.Millisecond, "100 subscribes of 5 ms each ran in turn")
	require.Len(t, s.snapshot(), 100)

	// Interest in few channels, taken and dropped by many goroutines at once: every subscribe and
	// unsubscribe alternates per channel (slowBus checks), and nothing is left at the end.
	for i := range 100 {
		s.release(fmt.Sprint("conn:", i))
	}
	bus.delay = 0
	for g := range 16 {
		wg.Go(func() {
			for i := range 300 {
				ch := fmt.Sprint("group:", (g+i)%4)
				require.NoError(t, s.acquire(context.Background(), ch))
				s.release(ch)
			}
		})
	}
	wg.Wait()
	require.Empty(t, s.snapshot())
	bus.mu.Lock()
	require.Empty(t, bus.subscribed)
	bus.mu.Unlock()
}
