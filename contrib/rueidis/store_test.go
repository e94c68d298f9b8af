package mmrueidis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/rueidis"
)

// sizes clears the fields of st that depend on mmcache's layout, for comparing counters.
func sizes(st Stats) Stats {
	st.LiveBytes, st.UsedBytes, st.Capacity = 0, 0, 0
	return st
}

func TestDoCacheHitsLocalTier(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	e.set("k", "v")

	if v, hit := e.get("k", time.Minute); v != "v" || hit {
		t.Fatalf("first DoCache = %q, hit %v; want \"v\" from Redis", v, hit)
	}
	for i := range 3 {
		if v, hit := e.get("k", time.Minute); v != "v" || !hit {
			t.Fatalf("DoCache %d = %q, hit %v; want \"v\" from the local tier", i+2, v, hit)
		}
	}
	if got := e.calls("get"); got != 1 {
		t.Errorf("Redis ran GET %d times, want 1", got)
	}
	if got := e.calls("pttl"); got != 1 {
		t.Errorf("Redis ran PTTL %d times, want 1", got)
	}
	st := e.cache.Stats()
	// One record: key "k" (1 byte) and one reply framed as len(cmd) "GET" len(msg) msg, msg
	// being 7 bytes of expiry, a type byte, 8 bytes of length and "v": 1 + 1+3+1+17 = 23.
	if st.LiveBytes != 23 || st.Capacity != 8<<20 {
		t.Errorf("LiveBytes %d, Capacity %d; want 23, %d", st.LiveBytes, st.Capacity, 8<<20)
	}
	e.wantStats(sizes(st), Stats{Hits: 3, Misses: 1, Stored: 1, Stores: 1, Entries: 1})
}

func TestSetFromAnotherClientInvalidates(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	e.set("k", "v1")
	e.get("k", time.Minute)
	if v, hit := e.get("k", time.Minute); v != "v1" || !hit {
		t.Fatalf("DoCache = %q, hit %v; want \"v1\" from the local tier", v, hit)
	}

	e.set("k", "v2") // by the admin client: Redis tells the caching one
	e.waitInvalidation("k")
	e.wantStats(sizes(e.cache.Stats()), Stats{Hits: 1, Misses: 1, Stored: 1, Invalidated: 1, Stores: 1})

	if v, hit := e.get("k", time.Minute); v != "v2" || hit {
		t.Fatalf("after SET, DoCache = %q, hit %v; want \"v2\" from Redis", v, hit)
	}
	if v, hit := e.get("k", time.Minute); v != "v2" || !hit {
		t.Fatalf("DoCache = %q, hit %v; want \"v2\" from the local tier", v, hit)
	}
	if got := e.calls("get"); got != 2 {
		t.Errorf("Redis ran GET %d times, want 2", got)
	}
	e.wantStats(sizes(e.cache.Stats()), Stats{Hits: 2, Misses: 2, Stored: 2, Invalidated: 1, Stores: 1, Entries: 1})
}

func TestDelInvalidates(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	e.set("k", "v1")
	e.get("k", time.Minute)

	e.do(e.admin.B().Del().Key("k").Build())
	e.waitInvalidation("k")
	// The missing key's nil reply is cached too, as rueidis' own store does: Redis tracks reads
	// of missing keys and tells when they are written.
	if v, hit := e.get("k", time.Minute); v != "(nil)" || hit {
		t.Fatalf("after DEL, DoCache = %q, hit %v; want nil from Redis", v, hit)
	}
	if v, hit := e.get("k", time.Minute); v != "(nil)" || !hit {
		t.Fatalf("DoCache = %q, hit %v; want nil from the local tier", v, hit)
	}
	e.set("k", "v3")
	e.waitInvalidation("k")
	if v, hit := e.get("k", time.Minute); v != "v3" || hit {
		t.Fatalf("after SET, DoCache = %q, hit %v; want \"v3\" from Redis", v, hit)
	}
	if got := e.calls("get"); got != 3 {
		t.Errorf("Redis ran GET %d times, want 3", got)
	}
	e.wantStats(sizes(e.cache.Stats()), Stats{Hits: 1, Misses: 3, Stored: 3, Invalidated: 2, Stores: 1, Entries: 1})
}

func TestFlushAllDropsEverything(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	for _, k := range []string{"a", "b", "c"} {
		e.set(k, k)
		e.get(k, time.Minute)
	}
	if got := e.cache.Stats().Entries; got != 3 {
		t.Fatalf("%d keys cached, want 3", got)
	}
	e.do(e.admin.B().Flushall().Build())
	e.barrier() // the flush's invalidation came before this reply
	e.wantStats(sizes(e.cache.Stats()), Stats{Misses: 3, Stored: 3, Flushes: 1, Stores: 1})
	if v, hit := e.get("a", time.Minute); v != "(nil)" || hit {
		t.Fatalf("after FLUSHALL, DoCache = %q, hit %v; want nil from Redis", v, hit)
	}
}

func TestPTTLHonoured(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	s := e.only()
	docache := func(key string, ttl time.Duration) rueidis.RedisMessage {
		t.Helper()
		m, err := e.c.DoCache(e.ctx, e.c.B().Get().Key(key).Cache(), ttl).ToMessage()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// check verifies that key's cached reply expires at the pxat DoCache reported, that pxat is
	// within [lo, hi], and that the TTL mmcache holds is no longer than the one given, nor than
	// the time left until pxat. That last bound allows 1 ms: pxat is on the wall clock and
	// mmcache's TTLs on the monotonic one, which NTP may slew apart by up to 0.05%.
	check := func(key string, given time.Duration, pxat, lo, hi int64) {
		t.Helper()
		if pxat < lo || pxat > hi {
			t.Errorf("%s: reply expires at %d, want within [%d, %d]", key, pxat, lo, hi)
		}
		left := time.Until(time.UnixMilli(pxat))
		ttl, stored := recordTTL(t, s, key, "GET")
		if stored != pxat {
			t.Errorf("%s: the cached reply expires at %d, DoCache said %d", key, stored, pxat)
		}
		if ttl <= 0 || ttl > given || ttl > left+time.Millisecond {
			t.Errorf("%s: mmcache holds a TTL of %v, want in (0, %v] and at most %v", key, ttl, given, left)
		}
		// The expiry is checked on each hit against rueidis' clock too: live to its last
		// millisecond, gone from its expiry on, with no sleep needed to see it.
		if _, ok := s.lookup(key, "GET", time.UnixMilli(pxat-1)); !ok {
			t.Errorf("%s: no hit 1 ms before the expiry", key)
		}
		if _, ok := s.lookup(key, "GET", time.UnixMilli(pxat)); ok {
			t.Errorf("%s: a hit at the expiry", key)
		}
		if m := docache(key, time.Hour); !m.IsCacheHit() || m.CachePXAT() != pxat {
			t.Errorf("%s: second DoCache hit %v, expiry %d; want a hit expiring at %d", key, m.IsCacheHit(), m.CachePXAT(), pxat)
		}
	}

	// The server's PTTL is shorter than DoCache's TTL: it wins.
	e.do(e.admin.B().Set().Key("server").Value("v").PxMilliseconds(60_000).Build())
	before := time.Now().UnixMilli()
	m := docache("server", time.Hour)
	after := time.Now().UnixMilli()
	if m.IsCacheHit() {
		t.Fatal("first DoCache was a hit")
	}
	if pttl := m.CachePTTL(); pttl <= 0 || pttl > 60_000 {
		t.Errorf("CachePTTL %d, want in (0, 60000]", pttl)
	}
	check("server", 60*time.Second, m.CachePXAT(), before+60_000-5_000, after+60_000)

	// DoCache's TTL is shorter than the server's PTTL: it wins.
	e.do(e.admin.B().Set().Key("client").Value("v").PxMilliseconds(3_600_000).Build())
	before = time.Now().UnixMilli()
	m = docache("client", 5*time.Second)
	after = time.Now().UnixMilli()
	check("client", 5*time.Second, m.CachePXAT(), before+5_000, after+5_000)

	// No expiry on the server: DoCache's TTL.
	e.set("forever", "v")
	before = time.Now().UnixMilli()
	m = docache("forever", 30*time.Second)
	after = time.Now().UnixMilli()
	check("forever", 30*time.Second, m.CachePXAT(), before+30_000, after+30_000)

	if got := e.calls("get"); got != 3 {
		t.Errorf("Redis ran GET %d times, want 3", got)
	}
}

func TestConcurrentDoCacheOfOneKey(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	e.set("k", "v")

	const n = 64
	var wg sync.WaitGroup
	start := make(chan struct{})
	got := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := e.c.DoCache(e.ctx, e.c.B().Get().Key("k").Cache(), time.Minute).ToString()
			if err != nil {
				v = err.Error()
			}
			got <- v
		}()
	}
	close(start)
	wg.Wait()
	close(got)
	for v := range got {
		if v != "v" {
			t.Fatalf("a DoCache got %q, want \"v\"", v)
		}
	}
	// One request for all: the others hit, or waited for its reply.
	if c := e.calls("get"); c != 1 {
		t.Errorf("Redis ran GET %d times for %d concurrent DoCache, want 1", c, n)
	}
	st := e.cache.Stats()
	if st.Misses != 1 || st.Hits+st.Waits != n-1 || st.Pending != 0 {
		t.Errorf("Misses %d, Hits+Waits %d, Pending %d; want 1, %d, 0", st.Misses, st.Hits+st.Waits, st.Pending, n-1)
	}

	// Readers while another client writes 1, 2, ... 200: each reader's values never go back, as
	// the replies and invalidations of one connection are applied in order.
	const last = 200
	e.set("k", "0")
	e.waitInvalidation("k")
	done := make(chan struct{})
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := -1
			for {
				select {
				case <-done:
					return
				default:
				}
				s, err := e.c.DoCache(e.ctx, e.c.B().Get().Key("k").Cache(), time.Minute).ToString()
				if err != nil {
					errs <- err
					return
				}
				v, _ := strconv.Atoi(s)
				if v < prev {
					errs <- fmt.Errorf("read %d after %d", v, prev)
					return
				}
				prev = v
			}
		}()
	}
	for i := 1; i <= last; i++ {
		e.set("k", strconv.Itoa(i))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.barrier()
	if v, _ := e.get("k", time.Minute); v != strconv.Itoa(last) {
		t.Fatalf("after the writes, DoCache = %q, want %q", v, strconv.Itoa(last))
	}
	if st := e.cache.Stats(); st.Pending != 0 || st.TooLarge != 0 || st.Dropped != 0 {
		t.Errorf("Pending %d, TooLarge %d, Dropped %d; want 0", st.Pending, st.TooLarge, st.Dropped)
	}
}

func bigValue() string {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte('a' + i%23)
	}
	return string(b)
}

func TestOneMiBValue(t *testing.T) {
	big := bigValue()
	t.Run("fits", func(t *testing.T) {
		e := newEnv(t, Config{Capacity: 64 << 20, MaxEntrySize: 2 << 20})
		e.set("big", big)
		if v, hit := e.get("big", time.Minute); v != big || hit {
			t.Fatalf("first DoCache: %d bytes, equal %v, hit %v", len(v), v == big, hit)
		}
		if v, hit := e.get("big", time.Minute); v != big || !hit {
			t.Fatalf("second DoCache: %d bytes, equal %v, hit %v; want the value from the local tier", len(v), v == big, hit)
		}
		if got := e.calls("get"); got != 1 {
			t.Errorf("Redis ran GET %d times, want 1", got)
		}
		e.wantStats(sizes(e.cache.Stats()), Stats{Hits: 1, Misses: 1, Stored: 1, Stores: 1, Entries: 1})
	})
	t.Run("too large", func(t *testing.T) {
		// 16 MiB leaves mmcache's default MaxEntrySize far under 1 MiB: the value is answered,
		// not cached, and counted.
		e := newEnv(t, Config{Capacity: 16 << 20})
		e.set("big", big)
		for i := range 2 {
			if v, hit := e.get("big", time.Minute); v != big || hit {
				t.Fatalf("DoCache %d: %d bytes, equal %v, hit %v; want the value from Redis", i+1, len(v), v == big, hit)
			}
		}
		if got := e.calls("get"); got != 2 {
			t.Errorf("Redis ran GET %d times, want 2", got)
		}
		e.wantStats(sizes(e.cache.Stats()), Stats{Misses: 2, TooLarge: 2, Stores: 1})
	})
}

func TestCommandsOfOneKeyShareARecord(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	e.set("k", "hello")
	strlen := func() (int64, bool) {
		t.Helper()
		m, err := e.c.DoCache(e.ctx, e.c.B().Strlen().Key("k").Cache(), time.Minute).ToMessage()
		if err != nil {
			t.Fatal(err)
		}
		n, err := m.AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n, m.IsCacheHit()
	}
	for round := range 2 {
		e.get("k", time.Minute)
		strlen()
		if v, hit := e.get("k", time.Minute); v != "hello" || !hit {
			t.Fatalf("round %d: GET = %q, hit %v", round, v, hit)
		}
		if n, hit := strlen(); n != 5 || !hit {
			t.Fatalf("round %d: STRLEN = %d, hit %v", round, n, hit)
		}
		if got := e.cache.Stats().Entries; got != 1 {
			t.Fatalf("round %d: %d entries, want 1 record for both commands", round, got)
		}
		e.set("k", "hello")
		e.waitInvalidation("k") // drops both replies
		if got := e.cache.Stats().Entries; got != 0 {
			t.Fatalf("round %d: %d entries after the invalidation, want 0", round, got)
		}
	}
	if g, s := e.calls("get"), e.calls("strlen"); g != 2 || s != 2 {
		t.Errorf("Redis ran GET %d and STRLEN %d times, want 2 and 2", g, s)
	}
}

func TestMGetSharesGETReplies(t *testing.T) {
	e := newEnv(t, Config{Capacity: 8 << 20})
	e.set("a", "1")
	e.set("b", "2")
	vs, err := e.c.DoCache(e.ctx, e.c.B().Mget().Key("a", "b").Cache(), time.Minute).AsStrSlice()
	if err != nil || len(vs) != 2 || vs[0] != "1" || vs[1] != "2" {
		t.Fatalf("MGET = %q, %v", vs, err)
	}
	if v, hit := e.get("b", time.Minute); v != "2" || !hit {
		t.Fatalf("GET b after MGET = %q, hit %v; want \"2\" from the local tier", v, hit)
	}
	if g, m := e.calls("get"), e.calls("mget"); g != 0 || m != 1 {
		t.Errorf("Redis ran GET %d and MGET %d times, want 0 and 1", g, m)
	}
}

func TestClosingTheClientClosesTheStores(t *testing.T) {
	srv := redistest.Start(t)
	cache, err := New(Config{Capacity: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	// rueidis' default: several connections (PipelineMultiplex), each with a store.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, NewCacheStoreFn: cache.NewStore})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 64 {
		if err := c.DoCache(ctx, c.B().Get().Key("k"+strconv.Itoa(i)).Cache(), time.Minute).Error(); !rueidis.IsRedisNil(err) {
			t.Fatalf("DoCache: %v, want redis nil", err)
		}
	}
	stores := cache.openStores()
	if got := cache.Stats().Stores; got != len(stores) || got == 0 {
		t.Fatalf("Stats.Stores %d, open stores %d", got, len(stores))
	}
	var addrs []uintptr
	for _, s := range stores {
		addr := mappingAddr(t, s)
		if !mapped(t, addr) {
			t.Fatalf("%#x is not mapped while the client is open", addr)
		}
		addrs = append(addrs, addr)
	}
	stores = nil

	c.Close()
	// rueidis ends each connection on that connection's own goroutine, which closes its store:
	// Close may return before the last one has.
	for deadline := time.Now().Add(10 * time.Second); cache.Stats().Stores != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d stores still open 10 s after Close", cache.Stats().Stores)
		}
	}
	if st := cache.Stats(); st.Capacity != 0 || st.Pending != 0 {
		t.Fatalf("after Close: capacity %d, %d pending; want 0", st.Capacity, st.Pending)
	}
	for _, addr := range addrs {
		if mapped(t, addr) {
			t.Errorf("%#x is still mapped after Close", addr)
		}
	}
	if err := c.DoCache(ctx, c.B().Get().Key("k0").Cache(), time.Minute).Error(); !errors.Is(err, rueidis.ErrClosing) {
		t.Errorf("DoCache after Close: %v, want %v", err, rueidis.ErrClosing)
	}
}

// The store's own protocol with rueidis, without a server: requests in flight, their
// waiters, cancellation and closing.
func TestFlights(t *testing.T) {
	cache, err := New(Config{Capacity: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := cache.NewStore(rueidis.CacheStoreOption{CacheSizeEachConn: rueidis.DefaultCacheBytes}).(*store)
	ctx := context.Background()
	now := time.Now()
	xat := now.Add(time.Minute).UnixMilli()

	// A miss sends; the second caller waits on the first one's request; the reply reaches both.
	if v, f := s.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || f != nil {
		t.Fatal("the first Flight did not miss")
	}
	_, f := s.Flight("k", "GET", time.Minute, now)
	if f == nil {
		t.Fatal("the second Flight did not return the request in flight")
	}
	if got := cache.Stats().Pending; got != 1 {
		t.Fatalf("Pending %d, want 1", got)
	}
	waited := make(chan rueidis.RedisMessage, 1)
	go func() { m, _ := f.Wait(ctx); waited <- m }()
	if pxat := s.Update("k", "GET", reply("hello", 0)); pxat != xat {
		t.Fatalf("Update returned %d, want DoCache's expiry %d", pxat, xat)
	}
	m := <-waited
	if v, _ := m.ToString(); v != "hello" || m.CachePXAT() != xat || !m.IsCacheHit() {
		t.Fatalf("the waiter got %q expiring at %d (hit %v), want \"hello\" at %d", v, m.CachePXAT(), m.IsCacheHit(), xat)
	}
	if v, f := s.Flight("k", "GET", time.Minute, now); f != nil || !v.IsCacheHit() {
		t.Fatal("no hit after Update")
	}

	// A server expiry sooner than DoCache's wins; one already past is answered, not cached.
	s.Flight("soon", "GET", time.Minute, now)
	if pxat := s.Update("soon", "GET", reply("x", now.UnixMilli()+1000)); pxat != now.UnixMilli()+1000 {
		t.Fatalf("Update returned %d, want the server's %d", pxat, now.UnixMilli()+1000)
	}
	s.Flight("past", "GET", time.Minute, now)
	s.Update("past", "GET", reply("x", now.UnixMilli()-1))
	if s.mc.Has([]byte("past")) {
		t.Fatal("a reply expired on arrival was cached")
	}

	// Cancel ends the request with its error for every waiter; a late reply is not cached.
	boom := errors.New("boom")
	s.Flight("c", "GET", time.Minute, now)
	_, f = s.Flight("c", "GET", time.Minute, now)
	s.Cancel("c", "GET", boom)
	if _, err := f.Wait(ctx); err != boom {
		t.Fatalf("Wait after Cancel: %v, want %v", err, boom)
	}
	if pxat := s.Update("c", "GET", reply("late", 0)); pxat != 0 || s.mc.Has([]byte("c")) {
		t.Fatalf("a reply after Cancel: Update returned %d, cached %v; want 0, false", pxat, s.mc.Has([]byte("c")))
	}

	// A waiter's context ends its wait, not the request.
	s.Flight("w", "GET", time.Minute, now)
	_, f = s.Flight("w", "GET", time.Minute, now)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Wait(cctx); err != context.Canceled {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}

	// Close ends the requests in flight with its error and unmaps; what comes after is a no-op.
	gone := errors.New("gone")
	_, f = s.Flight("w", "GET", time.Minute, now)
	s.Close(gone)
	if _, err := f.Wait(ctx); err != gone {
		t.Fatalf("Wait after Close: %v, want %v", err, gone)
	}
	if v, f := s.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || f != nil {
		t.Fatal("Flight after Close returned a hit or a request")
	}
	if pxat := s.Update("w", "GET", reply("late", 0)); pxat != 0 {
		t.Fatalf("Update after Close returned %d", pxat)
	}
	s.Delete(nil)
	s.Cancel("k", "GET", boom)
	s.Close(gone)
	want := Stats{Hits: 1, Misses: 5, Waits: 4, Stored: 2}
	if got := cache.Stats(); got != want {
		t.Fatalf("Stats:\n got %+v\nwant %+v", got, want)
	}
}

func TestMappingFailureCachesNothing(t *testing.T) {
	// 8 MiB entries fit rueidis' default 128 MiB per connection, not a 2 MiB one.
	cache, err := New(Config{MaxEntrySize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := cache.NewStore(rueidis.CacheStoreOption{CacheSizeEachConn: 2 << 20})
	if !errors.Is(cache.Err(), mmcache.ErrInvalidConfig) {
		t.Fatalf("Err() = %v, want mmcache.ErrInvalidConfig", cache.Err())
	}
	now := time.Now()
	for range 2 {
		if v, f := s.Flight("k", "GET", time.Minute, now); v.IsCacheHit() || f != nil {
			t.Fatal("Flight did not send")
		}
		s.Update("k", "GET", reply("v", 0))
	}
	s.Close(nil)
	want := Stats{Misses: 2, MappingFailures: 1}
	if got := cache.Stats(); got != want {
		t.Fatalf("Stats:\n got %+v\nwant %+v", got, want)
	}
}

func TestNewRejectsWhatMmcacheCannotHonour(t *testing.T) {
	for _, cfg := range []Config{{Capacity: 1000}, {Capacity: 4 << 20, Shards: 3}, {MaxEntrySize: -1}} {
		if _, err := New(cfg); !errors.Is(err, mmcache.ErrInvalidConfig) {
			t.Errorf("New(%+v): %v, want mmcache.ErrInvalidConfig", cfg, err)
		}
	}
}

// The expiry sits in the first 7 bytes of rueidis' serialization, little-endian: the store
// reads and writes it there. This pins the assumption to the rueidis version in go.mod.
func TestPXATLayout(t *testing.T) {
	const pxat = int64(1)<<48 + 123456789
	m := reply("x", pxat)
	if got := m.CachePXAT(); got != pxat {
		t.Fatalf("CachePXAT %d, want %d", got, pxat)
	}
	b := m.CacheMarshal(nil)
	if got := msgPXAT(b); got != pxat {
		t.Fatalf("the serialization starts with %d, want %d", got, pxat)
	}
	if len(b) != m.CacheSize() {
		t.Fatalf("CacheMarshal wrote %d bytes, CacheSize says %d", len(b), m.CacheSize())
	}
}

func TestRecords(t *testing.T) {
	msg := func(s string, pxat int64) []byte { m := reply(s, pxat); return m.CacheMarshal(nil) }
	var rec []byte
	for _, r := range []struct {
		cmd  string
		msg  []byte
		pxat int64
	}{{"GET", msg("a", 100), 100}, {"STRLEN", msg("b", 50), 50}, {"HGETf", msg("c", 200), 200}} {
		rec = appendHeader(rec, r.cmd, len(r.msg))
		rec = append(rec, r.msg...)
	}
	if got := findReply(rec, "STRLEN"); !bytes.Equal(got, msg("b", 50)) {
		t.Fatalf("findReply STRLEN = %q", got)
	}
	if got := findReply(rec, "HGET"); got != nil {
		t.Fatalf("findReply of an absent command = %q", got)
	}
	// At 60 ms, STRLEN has expired; GET is the command being replaced.
	out, maxPXAT, had := appendOthers([]byte("x"), rec, "GET", 60)
	if !had || maxPXAT != 200 {
		t.Fatalf("appendOthers: had %v, max %d; want true, 200", had, maxPXAT)
	}
	want := appendHeader([]byte("x"), "HGETf", len(msg("c", 200)))
	want = append(want, msg("c", 200)...)
	if !bytes.Equal(out, want) {
		t.Fatalf("appendOthers = %q, want %q", out, want)
	}
	// Truncated bytes are the end of the record, never a reply.
	for i := range len(rec) {
		for c := rec[:i]; ; {
			cmd, m, rest, ok := nextReply(c)
			if !ok {
				break
			}
			if len(m) < pxatBytes || len(cmd) == 0 {
				t.Fatalf("prefix %d: a malformed reply parsed", i)
			}
			c = rest
		}
	}
}
