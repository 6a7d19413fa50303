package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear like HdrHistogram: values below histSub microseconds have a bucket
// each, and every doubling above has histSub/2 buckets, so a bucket is at most 1/64 (1.6%) wide
// relative to its values. Its memory is fixed, whatever the number of samples.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits // 128
	histHalf    = histSub / 2
	histMaxUs   = 1 << 40 // about 12.7 days: larger values are counted here
	histBuckets = histSub + (40-histSubBits)*histHalf
	histShards  = 16 // receivers spread over shards so that their atomic adds rarely collide
)

// histogram counts latencies in microseconds; record is safe for concurrent use.
type histogram struct {
	shards [histShards]histShard
}

type histShard struct {
	counts [histBuckets]atomic.Uint64
	_      [64]byte // keeps the next shard's hot counters off this shard's last cache line
}

func histIndex(us int64) int {
	if us < 0 {
		us = 0
	}
	if us >= histMaxUs {
		us = histMaxUs - 1
	}
	v := uint64(us)
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	sub := int(v >> shift) // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + (sub - histHalf)
}

// histValue returns the middle of bucket i, in microseconds.
func histValue(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	shift := (i-histSub)/histHalf + 1
	sub := uint64((i-histSub)%histHalf + histHalf)
	lo := sub << shift
	hi := (sub + 1) << shift
	return float64(lo+hi-1) / 2
}

// record counts latency d in the shard chosen by key (a connection's index).
func (h *histogram) record(key int, d time.Duration) {
	h.shards[key%histShards].counts[histIndex(d.Microseconds())].Add(1)
}

// summary returns the number of samples and their 50th and 99th percentiles in milliseconds.
func (h *histogram) summary() (n uint64, p50, p99 float64) {
	var merged [histBuckets]uint64
	for s := range h.shards {
		for i := range merged {
			c := h.shards[s].counts[i].Load()
			merged[i] += c
			n += c
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	return n, percentile(&merged, n, 0.50) / 1000, percentile(&merged, n, 0.99) / 1000
}

func percentile(counts *[histBuckets]uint64, n uint64, q float64) float64 {
	rank := uint64(q*float64(n-1)) + 1 // 1-based rank of the sample at quantile q
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(histBuckets - 1)
}
