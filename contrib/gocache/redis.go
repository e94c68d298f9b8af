package gocache

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// PreciseTTL is a go-redis client for gocache's Redis store (redis_store.NewRedis) whose TTL
// asks Redis for PTTL. The store's GetWithTTL reads a key's time left with TTL, and the chain
// copies the key into the stores above with that time. TTL counts whole seconds, rounded to the
// nearest: a key with 1.6 s left reports 2 s, and its copy would outlive it by 0.4 s; one with
// 0.4 s left reports 0, which every store takes for "no expiry". PTTL counts milliseconds.
//
// What PreciseTTL.TTL reports is less a millisecond: the chain stores its copy a moment after
// this read, on its own goroutine, and counts the TTL from then. (PTTL itself understates what a
// key has left, by up to a millisecond: Redis truncates its clock to the millisecond and expires
// a key once that clock has passed the expiry.) A key with a millisecond or less left is
// reported as gone (-2, as Redis reports a missing key), and this package's Store does not copy
// it. A key without expiry is -1, as from TTL.
//
// Wrap any go-redis client: PreciseTTL{Cmdable: rdb}. Every other method is the client's own.
type PreciseTTL struct {
	redis.Cmdable
}

// TTL returns key's time left to the millisecond, less one; see [PreciseTTL].
func (c PreciseTTL) TTL(ctx context.Context, key string) *redis.DurationCmd {
	cmd := c.Cmdable.PTTL(ctx, key)
	if cmd.Err() != nil {
		return cmd
	}
	switch left := cmd.Val(); {
	case left == -1, left == goRedisNoKey:
		// No expiry, or no such key: as Redis says.
	case left <= time.Millisecond:
		cmd.SetVal(goRedisNoKey)
	default:
		cmd.SetVal(left - time.Millisecond)
	}
	return cmd
}
