package goredis

import (
	"context"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
)

// Redis is a go-redis client wrapped for cache.Options.Redis, so that the local tier learns
// what the host leaves out of its LocalCache calls: the TTL of each write, whether Redis took
// it, and the TTL left on each key it reads. Create one with [Local.Redis].
//
// It sends Redis what the bare client would, except that a read is GET and PTTL in one
// MULTI/EXEC: still one round trip.
type Redis struct {
	rdb redis.Cmdable
	l   *Local
}

// Compile-time proof that a *Redis fits cache.Options.Redis, whose interface the host does not
// export.
var _ = gocache.Options{Redis: (*Redis)(nil)}

// Redis wraps rdb (a *redis.Client, *redis.ClusterClient, *redis.Ring, ...) for the host:
// pass the result as cache.Options.Redis and l as cache.Options.LocalCache.
func (l *Local) Redis(rdb redis.Cmdable) *Redis {
	return &Redis{rdb: rdb, l: l}
}

// Set writes to Redis, then gives the local copy the item's TTL (capped by Config.TTL). The host
// has stored the copy just before, for Config.TTL, as it knows no better.
func (r *Redis) Set(ctx context.Context, key string, value any, ttl time.Duration) *redis.StatusCmd {
	sent := time.Now()
	cmd := r.rdb.Set(ctx, key, value, ttl)
	r.wrote(key, value, ttl, sent, cmd.Err() == nil)
	return cmd
}

// SetXX writes only if the key exists in Redis. When it does not, the host has stored the value
// locally all the same, and the copy is dropped: Redis has no such key.
func (r *Redis) SetXX(ctx context.Context, key string, value any, ttl time.Duration) *redis.BoolCmd {
	sent := time.Now()
	cmd := r.rdb.SetXX(ctx, key, value, ttl)
	r.wrote(key, value, ttl, sent, cmd.Err() == nil && cmd.Val())
	return cmd
}

// SetNX writes only if the key does not exist in Redis. When it does, the host has stored the
// refused value locally all the same, and the copy is dropped: Redis keeps another value.
func (r *Redis) SetNX(ctx context.Context, key string, value any, ttl time.Duration) *redis.BoolCmd {
	sent := time.Now()
	cmd := r.rdb.SetNX(ctx, key, value, ttl)
	r.wrote(key, value, ttl, sent, cmd.Err() == nil && cmd.Val())
	return cmd
}

// wrote brings the local copy in line with a write to Redis, sent at sent: one that holds
// exactly what Redis stored gets the write's TTL; any other is dropped, whether Redis refused
// the write or failed, or the item skipped the local tier (SkipLocalCache) and left an older
// value there, or a concurrent read stored the value Redis held before. Dropping is always
// safe: the next read goes to Redis.
func (r *Redis) wrote(key string, value any, ttl time.Duration, sent time.Time, stored bool) {
	k := bytesOf(key)
	if b, ok := asBytes(value); ok && stored && ttl != redis.KeepTTL {
		local := r.l.ttl
		if ttl > 0 {
			// Redis started the key's TTL when it ran the command, after it was sent: counted
			// from the sending, the local copy expires no later than the key. (Redis counts
			// from its clock truncated to the millisecond, and a key expires only once that
			// clock has passed its expiry, which gives the key up to a millisecond more.)
			local = ttl - time.Since(sent)
		}
		// One atomic step: the TTL changes only if the copy is still the value written.
		if local > 0 {
			local = r.l.clamp(local)
			if swapped, err := r.l.c.CompareAndSwap(k, b, b, local); swapped && err == nil {
				return
			}
		}
	}
	r.l.c.Delete(k)
}

// asBytes returns the bytes of a value as the host passes them ([]byte) or as a caller of the
// wrapper might (string); other types are not compared, and their local copy is dropped.
func asBytes(value any) ([]byte, bool) {
	switch v := value.(type) {
	case []byte:
		return v, true
	case string:
		return bytesOf(v), true
	}
	return nil, false
}

// Get reads key and its remaining TTL from Redis in one round trip and stores the local copy
// with that TTL (capped by Config.TTL); the host's LocalCache.Set that follows finds it
// identical and leaves it be. A key with no expiry gets Config.TTL. A key whose time left has
// run out by the time the reply arrives is reported as missing, so that no copy is stored for
// it at all.
//
// A read that skips the local tier (GetSkippingLocalCache) stores the copy too: the wrapper
// cannot tell it apart. The copy is what Redis holds, with Redis's TTL.
func (r *Redis) Get(ctx context.Context, key string) *redis.StringCmd {
	var (
		get  *redis.StringCmd
		pttl *redis.DurationCmd
	)
	sent := time.Now()
	// MULTI/EXEC rather than a plain pipeline, so that the key cannot expire between the two.
	_, _ = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	if get.Err() != nil {
		return get
	}
	if err := pttl.Err(); err != nil {
		// Without its TTL the value cannot be cached safely; the host gets the error.
		return redis.NewStringResult("", err)
	}
	ttl := r.l.ttl // PTTL -1: no expiry
	if left := pttl.Val(); left != -1 {
		// PTTL is what the key had left when Redis ran the command, after it was sent, and
		// understates it (by up to a millisecond: Redis truncates its clock to the millisecond
		// and expires a key once that clock has passed the expiry). Counted from the sending,
		// the local copy expires no later than the key.
		rest := left - time.Since(sent)
		if rest <= 0 {
			return redis.NewStringResult("", redis.Nil) // as good as expired: no copy
		}
		ttl = r.l.clamp(rest)
	}
	k, v := bytesOf(key), get.Val()
	if err := r.l.c.SetWithTTL(k, bytesOf(v), ttl); err != nil {
		// Not counted here: the host's LocalCache.Set that follows fails the same way and
		// counts it, once per read.
		r.l.c.Delete(k)
	}
	return get
}

// Del deletes the keys from Redis, then their local copies once more: the host dropped them
// before calling Del, and a read running meanwhile may have stored again the value Redis
// still held.
func (r *Redis) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	cmd := r.rdb.Del(ctx, keys...)
	for _, key := range keys {
		r.l.c.Delete(bytesOf(key))
	}
	return cmd
}
