package hub

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/backplane"
)

// FuzzBackplanePayload hands arbitrary payloads, as any program publishing under the prefix
// could, to a hub's delivery on each kind of channel. It must neither panic (also in the
// goroutines requests run on) nor hang.
func FuzzBackplanePayload(f *testing.F) {
	h, err := New("fz", Options{Backplane: backplane.NewMemory(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(f, err)
	require.NoError(f, h.Start(context.Background()))
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	c, err := h.newConn(context.Background(), h.ep, nil, 1)
	require.NoError(f, err)
	json, msgpack, err := invocationFrames("m", []any{1})
	require.NoError(f, err)
	f.Add(uint8(0), encodeInvocation(json, msgpack, []string{"x"}, []string{"g"}))
	f.Add(uint8(1), encodeClose([]string{c.id}, "bye"))
	f.Add(uint8(3), encodeFields(kindRequest, []byte("id"), []byte("fz:node:x"), []byte(opUserInGroup), []byte("g")))
	f.Add(uint8(1), encodeFields(kindRequest, []byte("id"), []byte("fz:node:x"), []byte(opHTTP), []byte(c.token), []byte("0"), []byte("GET"), []byte("/?id="+c.token), nil, nil, nil, nil))
	f.Add(uint8(1), encodeFields(kindRequest, []byte("id"), []byte("fz:node:x"), []byte(opTake), []byte(c.token), []byte("0")))
	f.Add(uint8(1), encodeFields(kindRequest, []byte("id"), []byte("fz:node:x"), []byte(opInvoke), []byte("m"), []byte("[1]"), []byte("5")))
	f.Add(uint8(1), encodeFields(kindRequest, []byte("id"), []byte("fz:node:x"), []byte(opRelay), []byte(c.token), []byte("0"), []byte("fz:relay:t")))
	f.Add(uint8(1), encodeFields(kindRelay, []byte("fz:relay:t"), []byte("in"), []byte("1"), []byte("{}\x1e")))
	f.Add(uint8(1), encodeFields(kindRelay, []byte("fz:relay:t"), []byte("gone")))
	f.Add(uint8(6), encodeFields(kindRelay, []byte("data"), []byte("1"), []byte("{}\x1e")))
	f.Add(uint8(6), encodeFields(kindRelay, []byte("end"), []byte("1000")))
	f.Add(uint8(2), encodeFields(kindReply, []byte(h.nodeID+".1"), nil))
	f.Add(uint8(3), encodeFields(kindCancel, []byte("id")))
	channels := []string{h.channel("all"), h.channel("conn", c.id), h.channel("user", "u"), h.channel("group", "g"), h.nodeChannel(), "fz:other", h.channel("relay", "t")}
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		h.deliver(channels[int(which)%len(channels)], payload)
	})
}

// A payload that is not the hub's is counted and dropped.
func TestMalformedPayloadIsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	bp := backplane.NewMemory()
	h, err := New("mal", Options{Backplane: bp, Metrics: NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background()))
	defer func() { _ = h.Shutdown(context.Background()) }()
	for _, p := range [][]byte{nil, {0}, {99, 1, 2}, {byte(kindInvoke), 200}, []byte("hello from another program")} {
		_, err := bp.Publish(context.Background(), h.channel("all"), p)
		require.NoError(t, err)
	}
	require.Equal(t, 5.0, testutil.ToFloat64(h.metrics.malformed))
}
