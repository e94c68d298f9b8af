package gocache

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eko/gocache/lib/v4/cache"
	"github.com/eko/gocache/lib/v4/store"
	redis_store "github.com/eko/gocache/store/redis/v4"
	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// roundTrips counts the round trips a go-redis client makes: one per command, and one per
// pipeline, however many commands it carries. The handshake of each new connection (HELLO,
// CLIENT ...) goes through the hooks too, and is not counted: the pool opens connections as
// it sees fit.
type roundTrips struct{ n atomic.Int64 }

func handshake(cmd redis.Cmder) bool {
	return cmd.Name() == "hello" || cmd.Name() == "client"
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			r.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// noLeaks fails t if, once every cleanup registered after it has run, more goroutines are
// left than when it was called. Call it first: cleanups run last-registered first.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left behind, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

type env struct {
	local *Store
	chain *cache.ChainCache[string]
	rdb   *redis.Client
	rt    *roundTrips
	last  int64
}

// newEnv builds gocache's chain over a real redis-server: a Store made from cfg, then the
// Redis store, over PreciseTTL unless plain is set.
func newEnv(t *testing.T, cfg Config, plain bool) *env {
	t.Helper()
	noLeaks(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	rt := new(roundTrips)
	rdb.AddHook(rt)
	local, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = local.Close() })
	var client redis_store.RedisClientInterface = PreciseTTL{Cmdable: rdb}
	if plain {
		client = rdb
	}
	chain := cache.NewChain[string](cache.New[string](local), cache.New[string](redis_store.NewRedis(client)))
	t.Cleanup(func() { _ = chain.Close() }) // first: its goroutine writes to local
	return &env{local: local, chain: chain, rdb: rdb, rt: rt}
}

// notOutlived fails t if a local copy with local left to live could outlive a Redis key for
// which PTTL, asked before, said redisLeft. PTTL understates what a key has left by up to a
// millisecond: Redis truncates its clock to the millisecond and expires a key only once that
// clock has passed the expiry. So the key lives at most redisLeft + 1 ms from the PTTL on.
func notOutlived(t *testing.T, what string, local, redisLeft time.Duration) {
	t.Helper()
	if local > redisLeft+time.Millisecond {
		t.Fatalf("%s: local copy outlives Redis: %v left, Redis's PTTL %v", what, local, redisLeft)
	}
}

func smallConfig() Config {
	return Config{Cache: mmcache.Config{Capacity: 16 << 20}}
}

var ctx = context.Background()

func (e *env) set(t *testing.T, key, value string, options ...store.Option) {
	t.Helper()
	if err := e.chain.Set(ctx, key, value, options...); err != nil {
		t.Fatalf("Set %q: %v", key, err)
	}
}

// get reads key through the chain and checks the value, or the miss when want is "<miss>".
func (e *env) get(t *testing.T, key, want string) {
	t.Helper()
	got, err := e.chain.Get(ctx, key)
	switch {
	case want == miss && !errors.Is(err, store.NotFound{}):
		t.Fatalf("Get %q = %q, %v; want a miss", key, trim(got), err)
	case want != miss && err != nil:
		t.Fatalf("Get %q: %v", key, err)
	case want != miss && got != want:
		t.Fatalf("Get %q = %q, want %q", key, trim(got), trim(want))
	}
}

const miss = "<miss>"

func (e *env) roundTrips(t *testing.T, want int64, what string) {
	t.Helper()
	n := e.rt.n.Load()
	if got := n - e.last; got != want {
		t.Fatalf("%s: %d Redis round trips, want %d", what, got, want)
	}
	e.last = n
}

// copied waits for the chain's background goroutine to copy key into the local store, which it
// does after Get has returned: a bounded poll, not a fixed sleep.
func (e *env) copied(t *testing.T, key string) {
	t.Helper()
	var buf keyBuf
	mk := mkey(&buf, entryPrefix, key)
	for deadline := time.Now().Add(5 * time.Second); !e.local.c.Has(mk); {
		if time.Now().After(deadline) {
			t.Fatalf("%q was not copied to the local store within 5 s", key)
		}
		time.Sleep(time.Millisecond)
	}
}

// localTTL returns the TTL of key's local entry, and whether it has one.
func (e *env) localTTL(key string) (time.Duration, bool) {
	var buf keyBuf
	return e.local.c.TTL(mkey(&buf, entryPrefix, key))
}

func trim(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// Reads of a key the chain just set come from the local store; an update and a delete made
// through the chain are seen at once, locally and in Redis.
func TestUpdateAndDeleteThroughChain(t *testing.T) {
	e := newEnv(t, smallConfig(), false)
	e.set(t, "k", "v1", store.WithExpiration(time.Hour))
	e.roundTrips(t, 1, "Set")
	for range 100 {
		e.get(t, "k", "v1")
	}
	e.roundTrips(t, 0, "100 Gets of a key just set")

	e.set(t, "k", "v2", store.WithExpiration(time.Hour))
	e.get(t, "k", "v2")
	if got := e.rdb.Get(ctx, "k").Val(); got != "v2" {
		t.Fatalf("Redis holds %q after the update, want v2", got)
	}
	e.roundTrips(t, 2, "update, local Get, Redis GET")

	if err := e.chain.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	e.get(t, "k", miss)
	e.roundTrips(t, 2, "Delete, then a Get that misses locally and in Redis")
	if got := e.local.Stats().Cache; got.Hits != 101 || got.Misses != 1 {
		t.Fatalf("local Stats = %+v; want 101 hits, 1 miss", got)
	}
}

// A key found in Redis is copied to the local store once, with Redis's TTL to the millisecond;
// the reads after it are local.
func TestCopyBackKeepsRedisPTTL(t *testing.T) {
	e := newEnv(t, smallConfig(), false)
	if err := e.rdb.Set(ctx, "k", "from redis", 1600*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	e.get(t, "k", "from redis")
	e.roundTrips(t, 3, "SET, then a local miss: GET and PTTL")
	e.copied(t, "k")
	for range 10 {
		e.get(t, "k", "from redis")
	}
	e.roundTrips(t, 0, "10 Gets after the copy")

	redisLeft := e.rdb.PTTL(ctx, "k").Val()
	left, ok := e.localTTL("k") // read after Redis's
	if !ok || left > 1600*time.Millisecond || left <= time.Second {
		t.Fatalf("local copy has %v (present %v), want at most 1.6 s, over 1 s", left, ok)
	}
	notOutlived(t, "k", left, redisLeft)
}

// Without PreciseTTL, the Redis store reads TTL in whole seconds, rounded to the nearest by
// Redis: the chain's copy of a key with 1.9 s left gets 2 s and outlives the key. This is the
// host's behaviour that PreciseTTL corrects.
func TestPlainClientCopyOutlivesKey(t *testing.T) {
	e := newEnv(t, smallConfig(), true)
	if err := e.rdb.Set(ctx, "k", "v", 1900*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	e.get(t, "k", "v")
	e.copied(t, "k")
	left, _ := e.localTTL("k")
	redisLeft := e.rdb.PTTL(ctx, "k").Val() // read after the local TTL: the local must be larger still
	if left <= redisLeft+time.Millisecond || left > 2*time.Second {
		t.Fatalf("local copy has %v, Redis %v: expected the rounded 2 s, more than Redis's", left, redisLeft)
	}
}

// A key with no expiry in Redis (TTL -1) is copied with none, not refused as a negative TTL;
// MaxTTL caps it when set.
func TestNoExpiryFromRedis(t *testing.T) {
	for _, maxTTL := range []time.Duration{0, time.Minute} {
		cfg := smallConfig()
		cfg.MaxTTL = maxTTL
		e := newEnv(t, cfg, false)
		if err := e.rdb.Set(ctx, "forever", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		e.get(t, "forever", "v")
		e.copied(t, "forever")
		left, ok := e.localTTL("forever")
		if maxTTL == 0 && (!ok || left != 0) {
			t.Fatalf("no MaxTTL: local copy has %v (present %v), want no expiry (0)", left, ok)
		}
		if maxTTL > 0 && (!ok || left > maxTTL || left < maxTTL-time.Second) {
			t.Fatalf("MaxTTL %v: local copy has %v (present %v)", maxTTL, left, ok)
		}
		if st := e.local.Stats(); st.Failed != 0 || st.TooLarge != 0 {
			t.Fatalf("Stats = %+v, want nothing refused", st)
		}
	}
}

// Each store says "no expiry" its own way: 0 (ristretto, bigcache), -1 (Redis through go-redis,
// go-cache's NoExpiration), a date long past (go-cache's GetWithTTL for an item without
// one). All mean no expiry here; -2, go-redis's "no such key", stores nothing.
func TestExpirationMapping(t *testing.T) {
	noLeaks(t)
	s, err := New(smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, exp := range []time.Duration{0, -1, time.Until(time.Time{}), -time.Hour} {
		if err := s.Set(ctx, "k", "v", store.WithExpiration(exp)); err != nil {
			t.Fatalf("expiration %v: %v", exp, err)
		}
		if _, ttl, err := s.GetWithTTL(ctx, "k"); err != nil || ttl != 0 {
			t.Fatalf("expiration %v: TTL %v, %v; want 0 (none)", exp, ttl, err)
		}
	}
	if err := s.Set(ctx, "k", "v", store.WithExpiration(-2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.NotFound{}) {
		t.Fatalf("after a Set with -2 (no such key): %v, want a miss", err)
	}
	// A default expiration given to New applies to Sets without one.
	d, err := New(smallConfig(), store.WithExpiration(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_ = d.Set(ctx, "k", "v")
	if _, ttl, _ := d.GetWithTTL(ctx, "k"); ttl <= 0 || ttl > 3*time.Second {
		t.Fatalf("default expiration 3 s: TTL %v", ttl)
	}
}

// An expiration given to the chain's Set bounds the local copy, which never outlives Redis's.
func TestSetExpirationBoundsLocalCopy(t *testing.T) {
	e := newEnv(t, smallConfig(), false)
	e.set(t, "k", "v", store.WithExpiration(3*time.Second))
	redisLeft := e.rdb.PTTL(ctx, "k").Val()
	left, ok := e.localTTL("k")
	if !ok || left > 3*time.Second || left <= time.Second {
		t.Fatalf("local copy has %v (present %v), want at most 3 s", left, ok)
	}
	// Set locally first, then in Redis: the local copy started earlier, and ends earlier.
	notOutlived(t, "k", left, redisLeft)
}

// Invalidate drops every entry of a tag, locally as in Redis, and only those; a tag the cache
// lost (evicted, expired) drops its entries too rather than leave them uninvalidatable.
func TestTags(t *testing.T) {
	e := newEnv(t, smallConfig(), false)
	e.set(t, "a", "A", store.WithTags([]string{"t1"}))
	e.set(t, "b", "B", store.WithTags([]string{"t1", "t2"}))
	e.set(t, "c", "C", store.WithTags([]string{"t2"}))
	e.set(t, "d", "D")
	if err := e.chain.Invalidate(ctx, store.WithInvalidateTags([]string{"t1"})); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"a": nil, "b": nil, "c": "C", "d": "D"} {
		got, err := e.local.Get(ctx, key)
		if want == nil && !errors.Is(err, store.NotFound{}) || want != nil && got != want {
			t.Fatalf("local %q after invalidating t1: %v, %v; want %v", key, got, err, want)
		}
	}
	e.get(t, "a", miss) // and gone from Redis too
	e.set(t, "a", "A2", store.WithTags([]string{"t1"}))
	e.get(t, "a", "A2")

	var buf keyBuf
	e.local.c.Delete(mkey(&buf, tagPrefix, "t2")) // as if evicted
	if _, err := e.local.Get(ctx, "c"); !errors.Is(err, store.NotFound{}) {
		t.Fatalf("local c after losing its tag: %v, want a miss", err)
	}
}

// A 1 MiB value over MaxEntrySize: the chain's Set returns the local store's error, the write
// is counted, the smaller value it replaced is not served, and every copy the chain tries
// later is counted too; the chain serves the value from Redis.
func TestLargeValueRefusedIsCounted(t *testing.T) {
	e := newEnv(t, smallConfig(), false) // 16 MiB: MaxEntrySize is 64 KiB
	big := strings.Repeat("0123456789abcdef", 1<<16)
	e.set(t, "k", "small")
	err := e.chain.Set(ctx, "k", big)
	if !errors.Is(err, mmcache.ErrEntryTooLarge) {
		t.Fatalf("Set of 1 MiB: %v, want ErrEntryTooLarge", err)
	}
	if got := e.rdb.StrLen(ctx, "k").Val(); got != 1<<20 {
		t.Fatalf("Redis holds %d bytes, want 1 MiB", got)
	}
	e.last = e.rt.n.Load()
	for i := range 3 {
		e.get(t, "k", big)
		waitFor(t, func() bool { return e.local.Stats().TooLarge == uint64(2+i) }, "the chain's copy to be refused")
	}
	e.roundTrips(t, 6, "3 Gets, each GET and PTTL")
	if st := e.local.Stats(); st.TooLarge != 4 || st.Failed != 0 {
		t.Fatalf("Stats = %+v; want TooLarge 4 (a Set and 3 copies)", st)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// With MaxEntrySize raised, a 1 MiB value round-trips through the local store, both when set
// and when copied from Redis.
func TestLargeValueLocal(t *testing.T) {
	e := newEnv(t, Config{Cache: mmcache.Config{Capacity: 64 << 20, MaxEntrySize: 2 << 20, Shards: 4}}, false)
	big := strings.Repeat("0123456789abcdef", 1<<16)
	e.set(t, "k", big)
	e.last = e.rt.n.Load()
	e.get(t, "k", big)
	e.roundTrips(t, 0, "Get of a 1 MiB value just set")
	_ = e.local.Delete(ctx, "k")
	e.get(t, "k", big)
	e.copied(t, "k")
	e.get(t, "k", big)
	e.roundTrips(t, 2, "a Get from Redis (GET, PTTL), then a local one")
	if st := e.local.Stats(); st.TooLarge != 0 || st.Failed != 0 {
		t.Fatalf("Stats = %+v; want nothing refused", st)
	}
}

// Clear empties both stores.
func TestClear(t *testing.T) {
	e := newEnv(t, smallConfig(), false)
	e.set(t, "k", "v")
	if err := e.chain.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.local.c.Len(); n != 0 {
		t.Fatalf("%d local entries after Clear", n)
	}
	e.get(t, "k", miss)
}

// Values come back as the type they were stored as; other types are refused and counted.
func TestTypes(t *testing.T) {
	noLeaks(t)
	s, err := New(smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.GetType() != "mmcache" {
		t.Fatalf("GetType = %q", s.GetType())
	}
	_ = s.Set(ctx, "s", "text")
	_ = s.Set(ctx, []byte("b"), []byte("bytes"))
	_ = s.Set(ctx, "empty", "")
	if v, _ := s.Get(ctx, "s"); v != "text" {
		t.Fatalf("Get s = %#v", v)
	}
	if v, _ := s.Get(ctx, "b"); !bytes.Equal(v.([]byte), []byte("bytes")) {
		t.Fatalf("Get b = %#v", v)
	}
	if v, err := s.Get(ctx, "empty"); v != "" || err != nil {
		t.Fatalf("Get empty = %#v, %v", v, err)
	}
	if err := s.Set(ctx, "n", 42); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Set of an int: %v", err)
	}
	if _, err := s.Get(ctx, 42); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Get with an int key: %v", err)
	}
	if st := s.Stats(); st.Failed != 1 {
		t.Fatalf("Failed = %d, want 1", st.Failed)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(Config{Cache: mmcache.Config{Capacity: 1 << 20}, MaxTTL: -1}); err == nil {
		t.Fatal("New with a negative MaxTTL succeeded")
	}
	if _, err := New(Config{}); !errors.Is(err, mmcache.ErrInvalidConfig) {
		t.Fatalf("New without Capacity: %v", err)
	}
}

// PreciseTTL reports PTTL less a millisecond, -1 for no expiry, and -2 for a key that is gone
// or has a millisecond or less left.
func TestPreciseTTL(t *testing.T) {
	noLeaks(t)
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	p := PreciseTTL{Cmdable: rdb}
	_ = rdb.Set(ctx, "forever", "v", 0)
	_ = rdb.Set(ctx, "ten", "v", 10*time.Second)
	_ = rdb.Set(ctx, "brief", "v", time.Millisecond)
	if got := p.TTL(ctx, "forever").Val(); got != -1 {
		t.Fatalf("no expiry: %v, want -1ns", got)
	}
	if got, raw := p.TTL(ctx, "ten").Val(), rdb.PTTL(ctx, "ten").Val(); got > 10*time.Second-time.Millisecond || got < raw-time.Second {
		t.Fatalf("10 s: %v (PTTL %v)", got, raw)
	}
	for _, key := range []string{"brief", "absent"} {
		if got := p.TTL(ctx, key).Val(); got != -2 {
			t.Fatalf("%s: %v, want -2ns", key, got)
		}
	}
}
