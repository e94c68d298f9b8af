package goredis

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// roundTrips counts the round trips a go-redis client makes: one per command, and one per
// pipeline or MULTI/EXEC block, however many commands it carries. The handshake of each new
// connection (HELLO, CLIENT ...) goes through the hooks too, and is not counted: the pool
// opens connections as it sees fit.
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

// since returns the round trips made since the last call.
func (r *roundTrips) since(last *int64) int64 {
	n := r.n.Load()
	d := n - *last
	*last = n
	return d
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

type stack struct {
	host  *gocache.Cache
	local *Local
	rdb   *redis.Client
	rt    *roundTrips
	last  int64
}

// newStack builds the host over a real redis-server, with a Local made from cfg as its local
// tier and the Redis client wrapped by it.
func newStack(t *testing.T, cfg Config) *stack {
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
	return &stack{
		host:  gocache.New(&gocache.Options{Redis: local.Redis(rdb), LocalCache: local}),
		local: local,
		rdb:   rdb,
		rt:    rt,
		last:  rt.n.Load(),
	}
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
	return Config{Cache: mmcache.Config{Capacity: 16 << 20}, TTL: time.Minute}
}

func (s *stack) set(t *testing.T, item *gocache.Item) {
	t.Helper()
	if err := s.host.Set(item); err != nil {
		t.Fatalf("Set %q: %v", item.Key, err)
	}
}

// get reads key through the host and checks the value, or the miss when want is nil.
func (s *stack) get(t *testing.T, key string, want []byte) {
	t.Helper()
	var got []byte
	err := s.host.Get(context.Background(), key, &got)
	switch {
	case want == nil && !errors.Is(err, gocache.ErrCacheMiss):
		t.Fatalf("Get %q: got %q, %v; want a miss", key, got, err)
	case want != nil && err != nil:
		t.Fatalf("Get %q: %v", key, err)
	case want != nil && !bytes.Equal(got, want):
		t.Fatalf("Get %q = %q, want %q", key, trim(got), trim(want))
	}
}

func (s *stack) roundTrips(t *testing.T, want int64, what string) {
	t.Helper()
	if got := s.rt.since(&s.last); got != want {
		t.Fatalf("%s: %d Redis round trips, want %d", what, got, want)
	}
}

func trim(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// The host reads its own writes from the local tier without a round trip; an update and a
// delete made through the host are seen at once, locally and in Redis.
func TestUpdateAndDeleteThroughTheStack(t *testing.T) {
	s := newStack(t, smallConfig())
	ctx := context.Background()

	s.set(t, &gocache.Item{Key: "k", Value: []byte("v1"), TTL: time.Hour})
	s.roundTrips(t, 1, "Set")
	for range 100 {
		s.get(t, "k", []byte("v1"))
	}
	s.roundTrips(t, 0, "100 Gets of a key just set")

	s.set(t, &gocache.Item{Key: "k", Value: []byte("v2"), TTL: time.Hour})
	s.get(t, "k", []byte("v2"))
	if got := s.rdb.Get(ctx, "k").Val(); got != "v2" {
		t.Fatalf("Redis holds %q after the update, want v2", got)
	}
	s.roundTrips(t, 2, "update, local Get, Redis GET")

	if err := s.host.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	s.get(t, "k", nil)
	if n := s.rdb.Exists(ctx, "k").Val(); n != 0 {
		t.Fatalf("Redis still has k after Delete")
	}
	s.roundTrips(t, 3, "Delete, Get (local miss, then Redis), EXISTS")

	st := s.local.Stats()
	if st.Hits != 101 || st.Misses != 1 || st.TooLarge != 0 || st.Failed != 0 {
		t.Fatalf("Stats = %+v; want 101 hits, 1 miss, nothing refused", st)
	}
}

// A key read from Redis is copied to the local tier once; the reads after it are local.
func TestReadFromRedisIsCopiedOnce(t *testing.T) {
	s := newStack(t, smallConfig())
	ctx := context.Background()
	if err := s.rdb.Set(ctx, "k", "from redis", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	s.roundTrips(t, 1, "SET")
	for range 10 {
		s.get(t, "k", []byte("from redis"))
	}
	s.roundTrips(t, 1, "10 Gets: one GET+PTTL in MULTI/EXEC, then local")
	if st := s.local.Stats(); st.Hits != 9 || st.Misses != 1 {
		t.Fatalf("Stats = %+v; want 9 hits, 1 miss", st)
	}
}

// Each item's TTL bounds its local copy, and Config.TTL bounds every copy.
func TestItemTTLBoundsLocalCopy(t *testing.T) {
	s := newStack(t, smallConfig())
	for _, tc := range []struct {
		key      string
		itemTTL  time.Duration
		atMost   time.Duration
		minLocal time.Duration // what a test run as slow as a minute still keeps
	}{
		{"short", 3 * time.Second, 3 * time.Second, time.Second},
		{"long", 2 * time.Hour, time.Minute, time.Second}, // capped by Config.TTL
	} {
		s.set(t, &gocache.Item{Key: tc.key, Value: []byte("v"), TTL: tc.itemTTL})
		left, ok := s.local.TTL(tc.key)
		if !ok || left > tc.atMost || left < tc.minLocal {
			t.Fatalf("item TTL %v: local copy has %v (present %v), want at most %v", tc.itemTTL, left, ok, tc.atMost)
		}
		redisLeft := s.rdb.PTTL(context.Background(), tc.key).Val()
		left, _ = s.local.TTL(tc.key) // read after Redis's
		notOutlived(t, tc.key, left, redisLeft)
	}
}

// A copy made on a read takes the key's remaining PTTL in Redis, to the millisecond, not TTL's
// whole seconds: Redis rounds those to the nearest, so TTL says 2 s for this key's 1.6 s, and
// a copy made from it would outlive the key.
func TestReadCopyKeepsRedisPTTL(t *testing.T) {
	s := newStack(t, smallConfig())
	ctx := context.Background()
	if err := s.rdb.Set(ctx, "k", "v", 1600*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	s.get(t, "k", []byte("v"))
	redisLeft := s.rdb.PTTL(ctx, "k").Val()
	left, ok := s.local.TTL("k") // read after Redis's
	if !ok || left > 1600*time.Millisecond || left <= time.Second {
		t.Fatalf("local copy has %v (present %v), want at most 1.6 s, over 1 s", left, ok)
	}
	notOutlived(t, "k", left, redisLeft)

	// A key with no expiry in Redis gets Config.TTL locally.
	if err := s.rdb.Set(ctx, "forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.get(t, "forever", []byte("v"))
	if left, ok := s.local.TTL("forever"); !ok || left > time.Minute || left < 59*time.Second {
		t.Fatalf("copy of a key with no expiry has %v (present %v), want Config.TTL, 1 min", left, ok)
	}
}

// Writes that Redis refuses leave no local copy: the host stores the value locally before it
// asks Redis, and TinyLFU would go on serving it.
func TestRefusedWritesLeaveNoCopy(t *testing.T) {
	s := newStack(t, smallConfig())
	s.set(t, &gocache.Item{Key: "k", Value: []byte("first"), TTL: time.Hour})
	s.set(t, &gocache.Item{Key: "k", Value: []byte("second"), TTL: time.Hour, SetNX: true}) // refused: k exists
	s.last = s.rt.n.Load()
	s.get(t, "k", []byte("first"))
	s.roundTrips(t, 1, "Get after a refused SetNX")

	s.set(t, &gocache.Item{Key: "absent", Value: []byte("v"), TTL: time.Hour, SetXX: true}) // refused: no such key
	s.get(t, "absent", nil)

	// A write that skips the local tier drops the older copy there.
	s.set(t, &gocache.Item{Key: "k", Value: []byte("third"), TTL: time.Hour, SkipLocalCache: true})
	s.get(t, "k", []byte("third"))
}

// A key deleted from Redis by someone else stays readable locally until its copy expires: the
// host has no invalidation. The copy's TTL is what bounds it.
func TestDeleteElsewhereBoundedByTTL(t *testing.T) {
	s := newStack(t, smallConfig())
	s.set(t, &gocache.Item{Key: "k", Value: []byte("v"), TTL: 2 * time.Second})
	if err := s.rdb.Del(context.Background(), "k").Err(); err != nil {
		t.Fatal(err)
	}
	s.get(t, "k", []byte("v")) // still local
	if left, ok := s.local.TTL("k"); !ok || left > 2*time.Second {
		t.Fatalf("stale copy has %v left (present %v), want at most the item's 2 s", left, ok)
	}
}

// A 1 MiB value over MaxEntrySize is refused by the local tier and counted, every time the host
// offers it, and the host serves it from Redis; the smaller value it replaced is not served.
func TestLargeValueRefusedIsCounted(t *testing.T) {
	s := newStack(t, smallConfig()) // 16 MiB: MaxEntrySize is 64 KiB
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	s.set(t, &gocache.Item{Key: "k", Value: []byte("small"), TTL: time.Hour})
	s.set(t, &gocache.Item{Key: "k", Value: big, TTL: time.Hour})
	if st := s.local.Stats(); st.TooLarge != 1 {
		t.Fatalf("TooLarge = %d after the Set, want 1", st.TooLarge)
	}
	s.last = s.rt.n.Load()
	for range 3 {
		s.get(t, "k", big)
	}
	s.roundTrips(t, 3, "3 Gets of a value the local tier refuses")
	if st := s.local.Stats(); st.TooLarge != 4 || st.Failed != 0 || st.Hits != 0 {
		t.Fatalf("Stats = %+v; want TooLarge 4 (a Set and 3 reads), no hit", st)
	}
}

// With MaxEntrySize raised, a 1 MiB value round-trips through the local tier.
func TestLargeValueLocal(t *testing.T) {
	s := newStack(t, Config{Cache: mmcache.Config{Capacity: 64 << 20, MaxEntrySize: 2 << 20, Shards: 4}})
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	s.set(t, &gocache.Item{Key: "k", Value: big, TTL: time.Hour})
	s.last = s.rt.n.Load()
	s.get(t, "k", big)
	s.roundTrips(t, 0, "Get of a 1 MiB value just set")
	s.host.DeleteFromLocalCache("k")
	s.get(t, "k", big)
	s.get(t, "k", big)
	s.roundTrips(t, 1, "2 Gets after dropping the local copy")
	if st := s.local.Stats(); st.TooLarge != 0 || st.Hits != 2 {
		t.Fatalf("Stats = %+v; want 2 hits, nothing refused", st)
	}
}

// Once serves from the local tier and loads once.
func TestOnce(t *testing.T) {
	s := newStack(t, smallConfig())
	loads := 0
	for range 3 {
		var got string
		err := s.host.Once(&gocache.Item{Key: "k", Value: &got, TTL: time.Hour, Do: func(*gocache.Item) (any, error) {
			loads++
			return "loaded", nil
		}})
		if err != nil || got != "loaded" {
			t.Fatalf("Once = %q, %v", got, err)
		}
	}
	if loads != 1 {
		t.Fatalf("loaded %d times, want 1", loads)
	}
}

func TestNewRejectsNegativeTTL(t *testing.T) {
	if _, err := New(Config{Cache: mmcache.Config{Capacity: 1 << 20}, TTL: -time.Second}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("New with a negative TTL: %v", err)
	}
	if _, err := New(Config{}); !errors.Is(err, mmcache.ErrInvalidConfig) {
		t.Fatalf("New without Capacity: %v", err)
	}
}
