package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// newID returns a UUID version 7 (RFC 9562): a millisecond timestamp, a
// 12-bit counter that keeps ids of one process ordered within a millisecond,
// and random bits.
func newID() string {
	ms, seq := idClock.next()
	var b [16]byte
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never returns an error.
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	b[6] = 0x70 | byte(seq>>8)&0x0f
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

type monotonicClock struct {
	mu  sync.Mutex
	ms  int64
	seq uint16
}

var idClock monotonicClock

func (c *monotonicClock) next() (int64, uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := time.Now().UnixMilli()
	switch {
	case ms > c.ms:
		c.ms, c.seq = ms, 0
	case c.seq < 0x0fff:
		c.seq++
	default: // counter exhausted: borrow the next millisecond
		c.ms++
		c.seq = 0
	}
	return c.ms, c.seq
}
