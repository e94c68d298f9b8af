package mmrueidis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/rueidis"
)

// env is one test's world: a redis-server, a Cache, a caching client wired to it on a single
// connection (so that a command on that connection is a barrier for the invalidations sent
// before its reply), and an admin client without client-side caching that plays "another
// client" and reads the server's command counts.
type env struct {
	t     *testing.T
	ctx   context.Context
	cache *Cache
	c     rueidis.Client // through the Cache
	admin rueidis.Client // no client-side cache
	inv   chan []string  // the keys of each invalidation the caching client receives
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	srv := redistest.Start(t)
	cache, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), cache: cache, inv: make(chan []string, 1024)}
	e.c = e.client(srv.Addr, func(o *rueidis.ClientOption) {
		o.NewCacheStoreFn = cache.NewStore
		o.PipelineMultiplex = -1 // one connection
		o.OnInvalidations = func(keys []rueidis.RedisMessage) {
			if keys == nil {
				return // a flush, or the connection's end; the tests that care count Flushes
			}
			names := make([]string, len(keys))
			for i := range keys {
				names[i], _ = keys[i].ToString()
			}
			select {
			case e.inv <- names:
			default:
				t.Error("invalidation channel full")
			}
		}
	})
	e.admin = e.client(srv.Addr, func(o *rueidis.ClientOption) { o.DisableCache = true })
	e.do(e.admin.B().ConfigResetstat().Build())
	return e
}

// client opens a client to addr, closed at the test's end.
func (e *env) client(addr string, set func(*rueidis.ClientOption)) rueidis.Client {
	e.t.Helper()
	opt := rueidis.ClientOption{InitAddress: []string{addr}, DisableRetry: true}
	set(&opt)
	c, err := rueidis.NewClient(opt)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// do runs cmd through the admin client.
func (e *env) do(cmd rueidis.Completed) rueidis.RedisMessage {
	e.t.Helper()
	m, err := e.admin.Do(e.ctx, cmd).ToMessage()
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) set(key, value string) {
	e.t.Helper()
	e.do(e.admin.B().Set().Key(key).Value(value).Build())
}

// get is DoCache(GET key) on the caching client: its value and whether it came from the
// client-side cache.
func (e *env) get(key string, ttl time.Duration) (value string, hit bool) {
	e.t.Helper()
	m, err := e.c.DoCache(e.ctx, e.c.B().Get().Key(key).Cache(), ttl).ToMessage()
	if rueidis.IsRedisNil(err) {
		return "(nil)", m.IsCacheHit()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := m.ToString()
	if err != nil {
		e.t.Fatal(err)
	}
	return v, m.IsCacheHit()
}

// calls returns how many times the server ran cmd (lower case) since the test began: INFO
// commandstats, reset by newEnv.
func (e *env) calls(cmd string) int {
	e.t.Helper()
	info, err := e.admin.Do(e.ctx, e.admin.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		e.t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		if err != nil {
			e.t.Fatal(err)
		}
		return n
	}
	return 0
}

// waitInvalidation waits until the caching client has been told that key changed; rueidis
// calls OnInvalidations after the store's Delete, so the store has dropped key by then.
func (e *env) waitInvalidation(key string) {
	e.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case keys := <-e.inv:
			for _, k := range keys {
				if k == key {
					return
				}
			}
		case <-deadline:
			e.t.Fatalf("no invalidation of %q within 10 s", key)
		}
	}
}

// barrier makes a round trip on the caching client's connection: when it returns, every
// invalidation Redis sent that connection before it has been applied.
func (e *env) barrier() {
	e.t.Helper()
	if err := e.c.Do(e.ctx, e.c.B().Ping().Build()).Error(); err != nil {
		e.t.Fatal(err)
	}
}

// only returns the Cache's only open store.
func (e *env) only() *store {
	e.t.Helper()
	stores := e.cache.openStores()
	if len(stores) != 1 {
		e.t.Fatalf("%d open stores, want 1", len(stores))
	}
	return stores[0]
}

func (e *env) wantStats(got, want Stats) {
	e.t.Helper()
	if got != want {
		e.t.Fatalf("Stats:\n got %+v\nwant %+v", got, want)
	}
}

// recordTTL returns the TTL mmcache holds for key's record and the expiry of its reply to cmd.
func recordTTL(t *testing.T, s *store, key, cmd string) (ttl time.Duration, pxat int64) {
	t.Helper()
	rec, ttl, ok := s.mc.GetWithTTL(nil, []byte(key))
	if !ok {
		t.Fatalf("%q is not cached", key)
	}
	msg := findReply(rec, cmd)
	if msg == nil {
		t.Fatalf("%q has no reply to %s cached", key, cmd)
	}
	return ttl, msgPXAT(msg)
}

// mappingAddr returns an address inside s's mapping: that of a cached reply.
func mappingAddr(t *testing.T, s *store) uintptr {
	t.Helper()
	for k := range s.mc.Keys() {
		var addr uintptr
		if s.mc.View(k, func(v []byte) { addr = uintptr(unsafe.Pointer(unsafe.SliceData(v))) }) {
			return addr
		}
	}
	t.Fatal("the store caches nothing")
	return 0
}

// mapped reports whether addr is in one of the process's mappings, from /proc/self/maps.
func mapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return true
		}
	}
	return false
}

// reply returns a RedisMessage of a simple string, expiring at pxat (0: not set), built from
// rueidis' serialization since rueidis has no constructor for one.
func reply(s string, pxat int64) rueidis.RedisMessage {
	b := make([]byte, pxatBytes, pxatBytes+9+len(s))
	setMsgPXAT(b, pxat)
	b = append(b, '+', 0, 0, 0, 0, 0, 0, 0, byte(len(s)))
	b = append(b, s...)
	var m rueidis.RedisMessage
	if err := m.CacheUnmarshalView(b); err != nil {
		panic(err)
	}
	return m
}
