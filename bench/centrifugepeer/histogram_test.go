package main

import (
	"math"
	"testing"
	"time"
)

func TestHistIndexCoversRangeMonotonically(t *testing.T) {
	t.Parallel()
	prev := -1
	for us := int64(0); us < histMaxUs; us = us*17/16 + 1 {
		i := histIndex(us)
		if i < prev || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d after %d (buckets %d)", us, i, prev, histBuckets)
		}
		if v := histValue(i); math.Abs(v-float64(us)) > float64(us)/64+1 {
			t.Fatalf("histValue(histIndex(%d)) = %v, more than 1/64 off", us, v)
		}
		prev = i
	}
	if got := histIndex(histMaxUs * 4); got != histBuckets-1 {
		t.Fatalf("histIndex(huge) = %d, want the last bucket %d", got, histBuckets-1)
	}
}

func TestHistogramPercentiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(i, time.Duration(i)*time.Millisecond)
	}
	n, p50, p99 := h.summary()
	if n != 1000 || math.Abs(p50-500) > 500.0/64 || math.Abs(p99-990) > 990.0/64 {
		t.Fatalf("summary = %d, %v, %v; want 1000, ~500, ~990", n, p50, p99)
	}
}

func TestMessageDataSizeAndSendTime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 123456789)
	for _, size := range []int{0, 10, 32, 100, 4096} {
		data := messageData(nil, size, now)
		if size >= 32 && len(data) != size {
			t.Fatalf("messageData(%d) has %d bytes: %s", size, len(data), data)
		}
		got, ok := sendTime(data)
		if !ok || got != now.UnixNano() {
			t.Fatalf("sendTime(%s) = %d, %v; want %d", data, got, ok, now.UnixNano())
		}
	}
	req := broadcastRequestData(nil, "group:7", 100, now)
	want := `{"channel":"group:7","data":` + string(messageData(nil, 100, now)) + `}`
	if string(req) != want {
		t.Fatalf("broadcastRequestData = %s, want %s", req, want)
	}
}
