package redis

import (
	"context"
	"fmt"
	"math"
	"strconv"
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
