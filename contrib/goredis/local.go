// Package goredis puts an mmcache.Cache under github.com/go-redis/cache/v9 as its local tier
// (cache.Options.LocalCache), in place of the host's TinyLFU: the local copies, their keys and
// their expiries live in mmcache's mapping outside the Go heap, so a local tier of millions of
// entries adds nothing to the garbage collector's work.
//
// The host tells its local tier nothing but a key and a value: no time to live, and no word
// of what Redis accepted. So a [Local] alone keeps each copy for at most [Config.TTL], as
// TinyLFU does. Wrap the Redis client with [Local.Redis] as well, and the local tier sees what
// the host sends to Redis and reads from it: each local copy then lives no longer than the key
// in Redis (the item's TTL on a write, the key's PTTL on a read), capped by Config.TTL, and a
// write that Redis refused or failed leaves no local copy behind:
//
//	local, err := goredis.New(goredis.Config{Cache: mmcache.Config{Capacity: 256 << 20}, TTL: time.Minute})
//	...
//	c := cache.New(&cache.Options{Redis: local.Redis(rdb), LocalCache: local})
//
// The host cannot receive an error from its local tier; [Local.Stats] counts the writes it
// refused (a value over MaxEntrySize, say), and the host serves those keys from Redis.
package goredis

import (
	"bytes"
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	gocache "github.com/go-redis/cache/v9"
	"github.com/mmcache/mmcache"
)

// DefaultTTL is the longest a local copy lives when Config.TTL is 0. The host never tells its
// local tier about writes made by other processes, so this bounds how long one may serve a
// value that another has replaced or deleted in Redis.
const DefaultTTL = time.Minute

// Config sets up a [Local].
type Config struct {
	// Cache configures the mmcache.Cache that holds the local copies; Capacity is required.
	// Its DefaultTTL is not used: every write here carries its own TTL.
	Cache mmcache.Config
	// TTL is the longest a local copy lives, whatever Redis holds: the bound on how stale a
	// copy may get when another process writes the key. 0 means DefaultTTL.
	TTL time.Duration
}

// Local is a go-redis/cache LocalCache over an mmcache.Cache. It is safe for concurrent use.
// Create one with [New] and release its memory with [Local.Close].
type Local struct {
	c   *mmcache.Cache
	ttl time.Duration

	// Counted here rather than read from mmcache's Stats, whose lookups also count the
	// comparisons that Set and the Redis wrapper make.
	hits, misses     atomic.Uint64
	tooLarge, failed atomic.Uint64
}

// The host's interface, checked at compile time so that a change in it breaks the build here.
var _ gocache.LocalCache = (*Local)(nil)

// New returns an empty local tier. It fails as mmcache.New does, on a Config it cannot
// honour, and on a negative TTL.
func New(cfg Config) (*Local, error) {
	if cfg.TTL < 0 {
		return nil, errors.New("goredis: Config.TTL is negative")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	c, err := mmcache.New(cfg.Cache)
	if err != nil {
		return nil, err
	}
	return &Local{c: c, ttl: cfg.TTL}, nil
}

// bytesOf views s as bytes without copying it, for mmcache calls only: they read a key or a
// value during the call, never write it and never keep it, so the string's bytes stay intact,
// and a copy would cost an allocation for any key longer than the compiler's 32-byte stack
// buffer.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Set stores data under key, for the host. An identical live copy keeps the TTL it has: the
// host calls Set right after reading a key from Redis, and the Redis wrapper has by then stored
// that very value with the key's remaining TTL, which must not be stretched to Config.TTL.
// Anything else is stored for Config.TTL, the most the host lets us assume; on a write the
// Redis wrapper then shortens that to the item's TTL.
//
// A value the cache refuses (too large, or no room) is counted in Stats, and any older copy
// under key is dropped, so that the host does not go on serving it in place of the new one.
func (l *Local) Set(key string, data []byte) {
	k := bytesOf(key)
	same := false
	if l.c.View(k, func(v []byte) { same = bytes.Equal(v, data) }) && same {
		return
	}
	if err := l.c.SetWithTTL(k, data, l.ttl); err != nil {
		l.refused(k, err)
	}
}

// refused counts a write the cache did not store and drops the copy that mmcache keeps under
// the key on error, now older than what the host wrote.
func (l *Local) refused(key []byte, err error) {
	if errors.Is(err, mmcache.ErrEntryTooLarge) {
		l.tooLarge.Add(1)
	} else {
		l.failed.Add(1)
	}
	l.c.Delete(key)
}

// Get returns a copy of the value stored under key. It must copy: the host hands the slice to
// its caller, or unmarshals it later, so it has to stay intact after Get returns, while the
// bytes in mmcache's mapping may be reused by the next write.
func (l *Local) Get(key string) ([]byte, bool) {
	v, ok := l.c.Get(nil, bytesOf(key))
	if ok {
		l.hits.Add(1)
	} else {
		l.misses.Add(1)
	}
	return v, ok
}

// Del removes key's local copy.
func (l *Local) Del(key string) {
	l.c.Delete(bytesOf(key))
}

// Stats is a snapshot of a Local's counters.
type Stats struct {
	Hits, Misses uint64 // the host's local lookups (Get) that found, or did not find, a copy
	// TooLarge counts the writes refused with mmcache.ErrEntryTooLarge: key and value over
	// Config.Cache.MaxEntrySize. The host cannot see the error and serves such keys from Redis.
	TooLarge uint64
	// Failed counts the writes refused for another reason (mmcache.ErrBusy, ErrClosed).
	Failed uint64
	// Cache is the underlying cache's own Stats: entries, bytes, evictions, expirations. Its
	// Hits and Misses also count the comparisons made by Set and the Redis wrapper.
	Cache mmcache.Stats
}

// Stats returns the local tier's counters.
func (l *Local) Stats() Stats {
	return Stats{
		Hits:     l.hits.Load(),
		Misses:   l.misses.Load(),
		TooLarge: l.tooLarge.Load(),
		Failed:   l.failed.Load(),
		Cache:    l.c.Stats(),
	}
}

// TTL returns how long key's local copy has left to live, and whether there is one. The Redis
// wrapper's copies never have 0 (no expiry): each lives at most Config.TTL.
func (l *Local) TTL(key string) (time.Duration, bool) {
	return l.c.TTL(bytesOf(key))
}

// Close releases the cache's memory. The host must not use the Local afterwards: its Gets
// miss and its Sets are counted as Failed.
func (l *Local) Close() error {
	return l.c.Close()
}

// clamp returns the TTL a local copy gets for a Redis TTL: never longer than Config.TTL, and
// Config.TTL for a key with no expiry (0 in a write, -1 from PTTL).
func (l *Local) clamp(ttl time.Duration) time.Duration {
	if ttl <= 0 || ttl > l.ttl {
		return l.ttl
	}
	return ttl
}
