package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	require.EqualValues(t, 1000, h.Count())
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		require.InEpsilon(t, float64(c.want), float64(got), 0.02, "q=%v", c.q)
	}
	var empty Histogram
	require.Zero(t, empty.Quantile(0.5))
}

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	p := payload(42, 100)
	require.Len(t, p, 100)
	seq, sent, ok := parsePayload(p)
	require.True(t, ok)
	require.EqualValues(t, 42, seq)
	require.WithinDuration(t, time.Now(), sent, time.Second)
	for _, bad := range []string{"", "x", "1|", "a|b|c", "1|b|"} {
		_, _, ok := parsePayload(bad)
		require.False(t, ok, bad)
	}
}

func TestFanoutSlotsIgnoreStaleDeliveries(t *testing.T) {
	t.Parallel()
	f := newFanout(1) // 4 slots
	f.arm(0)
	f.arm(4)                 // reuses slot 0
	f.record(payload(0, 10)) // late delivery of the message that used the slot before
	f.record(payload(4, 10))
	f.record("garbage")
	require.EqualValues(t, 1, f.ring[0].count.Load())
	require.EqualValues(t, 2, f.delivered.Load())
	require.EqualValues(t, 1, f.bad.Load())
}

func TestPrintTableRatios(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, PrintTable(&b, []Result{
		{Server: "herald", Scenario: "idle", Conns: 10, BytesPerConn: 10 * 1024},
		{Server: "peer", Scenario: "idle", Conns: 10, BytesPerConn: 20 * 1024},
		{Server: "herald", Scenario: "broadcast", Conns: 10, DeliveriesPerS: 300},
		{Server: "peer", Scenario: "broadcast", Conns: 10, DeliveriesPerS: 100},
	}))
	out := b.String()
	require.Contains(t, out, "10.0 KiB/conn")
	require.Contains(t, out, "2.00x") // memory: peer uses twice Herald's
	require.Contains(t, out, "3.00x") // throughput: Herald three times the peer
	require.Equal(t, 5, strings.Count(out, "\n"))
}
