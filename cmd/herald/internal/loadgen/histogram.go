package loadgen

import (
	"math"
	"sync/atomic"
	"time"
)

// Histogram records durations in logarithmic buckets about 1 % wide, lock-free, in fixed memory:
// millions of samples from thousands of goroutines cost an atomic add each.
type Histogram struct {
	buckets [histBuckets]atomic.Int64
	count   atomic.Int64
}

// 100 buckets per factor e of nanoseconds: 1 ns … about 2.7e11 ns (270 s).
const (
	histScale   = 100
	histBuckets = 27 * histScale
)

// Record adds one sample.
func (h *Histogram) Record(d time.Duration) {
	if d < 1 {
		d = 1
	}
	i := int(math.Log(float64(d)) * histScale)
	if i >= histBuckets {
		i = histBuckets - 1
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
}

// Count is the number of samples.
func (h *Histogram) Count() int64 { return h.count.Load() }

// Quantile returns the q-quantile (0 < q ≤ 1), to within a bucket's width.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			// The bucket's geometric middle.
			return time.Duration(math.Exp((float64(i) + 0.5) / histScale))
		}
	}
	return time.Duration(math.Exp(float64(histBuckets) / histScale))
}
