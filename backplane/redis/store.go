package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/backplane"
)

var _ backplane.Store = (*Backplane)(nil)

// A set is a sorted set scored by each member's expiry in unix milliseconds (+inf: never). Adding
// drops expired members and keeps the key's own expiry at its last member's, so that sets nobody
// reads again do not stay in Redis.
var setAdd = goredis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] == 'inf' then
	redis.call('PERSIST', KEYS[1])
else
	redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
end
return 1
`)

func (b *Backplane) key(key string) string { return b.prefix + key }

func score(expires time.Time) string {
	if expires.IsZero() {
		return "+inf"
	}
	return strconv.FormatInt(expires.UnixMilli(), 10)
}

// SetAdd implements backplane.Store.
func (b *Backplane) SetAdd(ctx context.Context, key, member string, expires time.Time) error {
	if b.isClosed() {
		return ErrClosed
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := setAdd.Run(ctx, b.client, []string{b.key(key)}, score(expires), member, now).Err(); err != nil {
		return fmt.Errorf("redis store: add: %w", err)
	}
	return nil
}

// SetRemove implements backplane.Store.
func (b *Backplane) SetRemove(ctx context.Context, key string, members ...string) error {
	if b.isClosed() {
		return ErrClosed
	}
	var err error
	if len(members) == 0 {
		err = b.client.Del(ctx, b.key(key)).Err()
	} else {
		list := make([]any, len(members))
		for i, m := range members {
			list[i] = m
		}
		err = b.client.ZRem(ctx, b.key(key), list...).Err()
	}
	if err != nil {
		return fmt.Errorf("redis store: remove: %w", err)
	}
	return nil
}

// SetMembers implements backplane.Store.
func (b *Backplane) SetMembers(ctx context.Context, key string) (map[string]time.Time, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	now := time.Now().UnixMilli()
	zs, err := b.client.ZRangeByScoreWithScores(ctx, b.key(key), &goredis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: members: %w", err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		member, _ := z.Member.(string)
		var exp time.Time
		if !math.IsInf(z.Score, 1) {
			exp = time.UnixMilli(int64(z.Score))
		}
		out[member] = exp
	}
	return out, nil
}

// Extend implements backplane.Store.
func (b *Backplane) Extend(ctx context.Context, key string, ttl time.Duration) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := b.client.PExpire(ctx, b.key(key), ttl).Err(); err != nil {
		return fmt.Errorf("redis store: extend: %w", err)
	}
	return nil
}

// Release implements backplane.Store.
func (b *Backplane) Release(ctx context.Context, key string) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := b.client.Del(ctx, b.key(key)).Err(); err != nil {
		return fmt.Errorf("redis store: release: %w", err)
	}
	return nil
}

// Claim implements backplane.Store.
func (b *Backplane) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if b.isClosed() {
		return false, ErrClosed
	}
	ok, err := b.client.SetNX(ctx, b.key(key), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis store: claim: %w", err)
	}
	return ok, nil
}

// A log is a stream whose entry ids are the entries' numbers ("n-0"), beside a counter; both under
// one hash tag (one slot in a Redis Cluster), appended to in one script so that numbers and order
// agree whichever node appends.
//
// Each append carries an id of its own (field "i"), and the script first looks for it among the
// stream's last appendLookback entries: go-redis sends a command once more after a network error
// (MaxRetries), and when only the reply was lost the first run has appended already. The second
// run then returns the first one's number instead of appending the message twice (seen in the
// chaos suite as a notification with two numbers after a Redis reset).
var logAppend = goredis.NewScript(`
local recent = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[5])
for _, e in ipairs(recent) do
  local f = e[2]
  for j = 1, #f, 2 do
    if f[j] == 'i' and f[j + 1] == ARGV[4] then
      return tonumber(string.match(e[1], '^%d+'))
    end
  end
end
local n = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], n .. '-0', 'v', ARGV[2], 'i', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return n
`)

// appendLookback is how many of a log's last entries an append looks through for its own id: a
// retry follows its first run within the command's timeout, so only appends to the same log in
// between could push the first run's entry further back.
const appendLookback = 32

func (b *Backplane) logKeys(key string) []string {
	k := b.key("{" + key + "}")
	return []string{k + ":n", k + ":log"}
}

// LogAppend implements backplane.Store.
func (b *Backplane) LogAppend(ctx context.Context, key string, value []byte, keep int, ttl time.Duration) (int64, error) {
	var id [12]byte
	_, _ = rand.Read(id[:]) // crypto/rand does not fail
	return b.logAppendOnce(ctx, key, value, keep, ttl, base64.RawURLEncoding.EncodeToString(id[:]))
}

// logAppendOnce appends value to the log under an append id: a second run with the same id
// returns the number the first one got, without appending.
func (b *Backplane) logAppendOnce(ctx context.Context, key string, value []byte, keep int, ttl time.Duration, id string) (int64, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	n, err := logAppend.Run(ctx, b.client, b.logKeys(key), max(keep, 1), value, max(ttl.Milliseconds(), 1), id, appendLookback).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis store: log append: %w", err)
	}
	return n, nil
}

// LogSince implements backplane.Store.
func (b *Backplane) LogSince(ctx context.Context, key string, after int64, limit int) (backplane.LogRead, error) {
	var out backplane.LogRead
	if b.isClosed() {
		return out, ErrClosed
	}
	keys := b.logKeys(key)
	var last *goredis.StringCmd
	var first, since *goredis.XMessageSliceCmd
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		last = p.Get(ctx, keys[0])
		first = p.XRangeN(ctx, keys[1], "-", "+", 1)
		since = p.XRangeN(ctx, keys[1], strconv.FormatInt(after+1, 10)+"-0", "+", int64(max(limit, 1)))
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return out, fmt.Errorf("redis store: log read: %w", err)
	}
	if n, err := last.Int64(); err == nil {
		out.Last = n
	}
	if msgs := first.Val(); len(msgs) > 0 {
		out.First = streamSeq(msgs[0].ID)
	}
	for _, m := range since.Val() {
		v, _ := m.Values["v"].(string)
		out.Entries = append(out.Entries, backplane.LogEntry{Seq: streamSeq(m.ID), Value: []byte(v)})
	}
	return out, nil
}

// streamSeq is the number of a log entry's stream id "n-0".
func streamSeq(id string) int64 {
	n, _, _ := strings.Cut(id, "-")
	seq, _ := strconv.ParseInt(n, 10, 64)
	return seq
}
