package backplane

import (
	"context"
	"time"
)

// Store is the small state a cluster's nodes share beside the bus: sets whose members expire, and
// claims. The hub keeps in it the groups users were added to (for the connections they open
// later) and the idempotency keys of management API sends. A Backplane that can keep state
// implements Store too; the hub falls back to a memory Store of its own (right for one node only)
// when its Backplane does not.
//
// Keys are the caller's (the hub scopes them by hub name); an implementation keeps them apart
// from other clusters' as it keeps channels apart.
type Store interface {
	// SetAdd adds member to the set at key, to expire at expires (the zero time: never). Adding a
	// member again replaces its expiry.
	SetAdd(ctx context.Context, key, member string, expires time.Time) error
	// SetRemove removes members from the set at key; with no members it removes the whole set.
	SetRemove(ctx context.Context, key string, members ...string) error
	// SetMembers returns the unexpired members of the set at key with their expiries (the zero
	// time for none); an unknown key is an empty set.
	SetMembers(ctx context.Context, key string) (map[string]time.Time, error)
	// Claim records key for ttl and reports whether this call made the claim: false when key was
	// claimed before and has not expired.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Release drops a claim, so that key can be claimed again (what it guarded failed).
	Release(ctx context.Context, key string) error
	// Extend sets the time a claim has left to ttl (a claim taken short while its work runs is
	// kept long once the work is done); a claim that has expired stays expired.
	Extend(ctx context.Context, key string, ttl time.Duration) error

	// LogAppend adds value to the log at key and returns its number: one more than the log's last
	// (the first is 1), so that a reader can tell a gap. The log keeps its last keep entries, and
	// is dropped (numbering starts again at 1) ttl after its last append.
	LogAppend(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) (int64, error)
	// LogSince returns at most limit entries of the log at key numbered after after, oldest first,
	// with the number of the log's oldest kept entry (0 when the log is empty) and of its last (0
	// for an unknown key).
	LogSince(ctx context.Context, key string, after int64, limit int) (LogRead, error)
}

// LogEntry is one entry of a Store's log.
type LogEntry struct {
	Seq   int64
	Value []byte
}

// LogRead is what LogSince found.
type LogRead struct {
	Entries []LogEntry
	// First is the number of the oldest entry kept, Last of the newest (0 and 0: no log).
	First, Last int64
}

// StoreOf is b's Store, or, when b keeps no state, a memory Store of its own: right for one node
// only, as b's users (the hub, the management API) must know.
func StoreOf(b Backplane) Store {
	if s, ok := b.(Store); ok {
		return s
	}
	return NewMemory()
}

// memoryState is a Bus's Store: maps under the bus's lock.
type memoryState struct {
	sets       map[string]map[string]time.Time
	claims     map[string]time.Time
	sweepAt    int // the size of claims at which expired ones are dropped
	logs       map[string]*memoryLog
	logSweepAt int
}

type memoryLog struct {
	last    int64
	entries []LogEntry
	expires time.Time
}

var _ Store = (*Memory)(nil)

// SetAdd implements Store.
func (m *Memory) SetAdd(ctx context.Context, key, member string, expires time.Time) error {
	return m.state(ctx, func(s *memoryState) {
		set := s.sets[key]
		if set == nil {
			set = make(map[string]time.Time)
			s.sets[key] = set
		}
		set[member] = expires
	})
}

// SetRemove implements Store.
func (m *Memory) SetRemove(ctx context.Context, key string, members ...string) error {
	return m.state(ctx, func(s *memoryState) {
		if len(members) == 0 {
			delete(s.sets, key)
			return
		}
		for _, member := range members {
			delete(s.sets[key], member)
		}
		if len(s.sets[key]) == 0 {
			delete(s.sets, key)
		}
	})
}

// SetMembers implements Store.
func (m *Memory) SetMembers(ctx context.Context, key string) (map[string]time.Time, error) {
	out := make(map[string]time.Time)
	err := m.state(ctx, func(s *memoryState) {
		now := time.Now()
		for member, exp := range s.sets[key] {
			if !exp.IsZero() && !exp.After(now) {
				delete(s.sets[key], member)
				continue
			}
			out[member] = exp
		}
		if len(s.sets[key]) == 0 {
			delete(s.sets, key)
		}
	})
	return out, err
}

// Claim implements Store.
func (m *Memory) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	claimed := false
	err := m.state(ctx, func(s *memoryState) {
		now := time.Now()
		if exp, ok := s.claims[key]; ok && exp.After(now) {
			return
		}
		// Drop expired claims each time the map has doubled, so that it does not only grow.
		if len(s.claims) >= s.sweepAt {
			for k, exp := range s.claims {
				if !exp.After(now) {
					delete(s.claims, k)
				}
			}
			s.sweepAt = max(1024, 2*len(s.claims))
		}
		s.claims[key] = now.Add(ttl)
		claimed = true
	})
	return claimed, err
}

// Extend implements Store.
func (m *Memory) Extend(ctx context.Context, key string, ttl time.Duration) error {
	return m.state(ctx, func(s *memoryState) {
		now := time.Now()
		if exp, ok := s.claims[key]; ok && exp.After(now) {
			s.claims[key] = now.Add(ttl)
		}
	})
}

// Release implements Store.
func (m *Memory) Release(ctx context.Context, key string) error {
	return m.state(ctx, func(s *memoryState) { delete(s.claims, key) })
}

// LogAppend implements Store.
func (m *Memory) LogAppend(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) (int64, error) {
	var seq int64
	err := m.state(ctx, func(s *memoryState) {
		now := time.Now()
		l := s.logs[key]
		if l == nil || !l.expires.After(now) {
			// Drop expired logs each time the map has doubled, so that it does not only grow.
			if len(s.logs) >= s.logSweepAt {
				for k, old := range s.logs {
					if !old.expires.After(now) {
						delete(s.logs, k)
					}
				}
				s.logSweepAt = max(1024, 2*len(s.logs))
			}
			l = &memoryLog{}
			s.logs[key] = l
		}
		l.last++
		seq = l.last
		l.entries = append(l.entries, LogEntry{Seq: seq, Value: append([]byte(nil), value...)})
		if n := len(l.entries) - max(keep, 1); n > 0 {
			clear(l.entries[:n])
			l.entries = l.entries[n:]
		}
		l.expires = now.Add(ttl)
	})
	return seq, err
}

// LogSince implements Store.
func (m *Memory) LogSince(ctx context.Context, key string, after int64, limit int) (LogRead, error) {
	var out LogRead
	err := m.state(ctx, func(s *memoryState) {
		l := s.logs[key]
		if l == nil || !l.expires.After(time.Now()) {
			return
		}
		out.Last = l.last
		if len(l.entries) > 0 {
			out.First = l.entries[0].Seq
		}
		for _, e := range l.entries {
			if e.Seq > after && len(out.Entries) < limit {
				out.Entries = append(out.Entries, LogEntry{Seq: e.Seq, Value: append([]byte(nil), e.Value...)})
			}
		}
	})
	return out, err
}

func (m *Memory) state(ctx context.Context, fn func(*memoryState)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.bus.mu.Lock()
	defer m.bus.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.bus.state.sets == nil {
		m.bus.state = memoryState{sets: make(map[string]map[string]time.Time), claims: make(map[string]time.Time), logs: make(map[string]*memoryLog)}
	}
	fn(&m.bus.state)
	return nil
}
