package bench_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/speed"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// The benchmarks of mmcache's GetWithTTL, SetIfAbsent, Config.OnRemoval and All: each beside
// the plain call on the same fixture, and against the closest call of freecache and otter
// (internal/caches/extras.go says which call). Unlike the speed benchmarks above, each
// fixture lives only as long as its cache's sub-benchmarks: it is built when the first of
// them runs (outside the timer) and released when the last is done, so that only one is in
// memory at a time.

// apiTTL is the time to live of every entry in the GetWithTTL fixtures: long enough that
// none expires during a run.
const apiTTL = time.Hour

// lazyFixture is one cache's fixture, built on first use.
type lazyFixture struct {
	name string
	n    int
	ttl  time.Duration
	f    *speed.Fixture
}

func (l *lazyFixture) get(b *testing.B) *speed.Fixture {
	if l.f == nil {
		f, err := speed.PrepareTTL(l.name, l.n, l.ttl)
		if err != nil {
			b.Fatal(err)
		}
		if got := f.Cache.Len(); got != l.n {
			f.Cache.Close()
			b.Fatalf("%s holds %d of the %d keys preloaded", l.name, got, l.n)
		}
		l.f = f
		runtime.GC() // the preload's garbage, not the benchmark's
	}
	return l.f
}

// release closes the fixture's cache and hands its memory back before the next one is built.
func (l *lazyFixture) release() {
	if l.f == nil {
		return
	}
	l.f.Cache.Close()
	l.f = nil
	runtime.GC()
	debug.FreeOSMemory()
}

// call is one sub-benchmark on a fixture.
type call struct {
	name string
	run  func(*testing.B, *speed.Fixture)
}

// runAPI runs, for each of speed.APIContenders, the calls as sub-benchmarks cache/call, all
// on one fixture of that cache with speed.Keys keys stored with a time to live of ttl (0:
// none). A call name may hold a slash ("present/Set").
func runAPI(b *testing.B, ttl time.Duration, calls []call) {
	for _, name := range speed.APIContenders {
		l := &lazyFixture{name: name, n: speed.Keys(testing.Short()), ttl: ttl}
		b.Run(name, func(b *testing.B) {
			for _, c := range calls {
				b.Run(c.name, func(b *testing.B) { c.run(b, l.get(b)) })
			}
		})
		l.release()
	}
}

// BenchmarkGetWithTTL is GetWithTTL beside Get, one goroutine, on the same preloaded cache
// and the same zipf key sequence as BenchmarkGet, every entry stored with a TTL of an hour.
// freecache's call is GetWithExpirationAndBuf, otter's GetEntry.
func BenchmarkGetWithTTL(b *testing.B) {
	runAPI(b, apiTTL, []call{{"Get", speed.Get}, {"GetWithTTL", speed.GetWithTTL}})
}

// BenchmarkGetWithTTLParallel is BenchmarkGetWithTTL on GOMAXPROCS goroutines.
func BenchmarkGetWithTTLParallel(b *testing.B) {
	runAPI(b, apiTTL, []call{{"Get", speed.GetParallel}, {"GetWithTTL", speed.GetWithTTLParallel}})
}

// BenchmarkSetIfAbsent is SetIfAbsent beside Set, one goroutine, on keys that are present
// (the preloaded ones, zipf as BenchmarkSet: Set replaces, SetIfAbsent stores nothing) and on
// keys that are absent (Set and SetIfAbsent both insert; the keys are deleted again, untimed,
// every speed.AbsentBatch operations). freecache's call is GetOrSet, otter's SetIfAbsent.
func BenchmarkSetIfAbsent(b *testing.B) {
	runAPI(b, 0, []call{
		{"present/Set", speed.Set},
		{"present/SetIfAbsent", speed.SetIfAbsentPresent},
		{"absent/Set", speed.SetAbsent},
		{"absent/SetIfAbsent", speed.SetIfAbsentAbsent},
	})
}

// onRemovals are the OnRemoval settings BenchmarkOnRemoval compares.
var onRemovals = []struct {
	name string
	fn   func(key, value []byte, cause mmcache.RemovalCause)
}{
	{"nil", nil},
	{"noop", func([]byte, []byte, mmcache.RemovalCause) {}},
}

// evicting is a full mmcache that evicts on every Set of a new key.
type evicting struct {
	c     *mmcache.Cache
	value []byte
	next  uint64        // the single-goroutine benchmark's next new id
	bases atomic.Uint64 // hands each parallel goroutine its own range of new ids
}

// newEvicting opens mmcache on its defaults, sized as the speed fixtures, with onRemoval,
// and stores new keys until it has evicted as many entries as it holds.
func newEvicting(b *testing.B, onRemoval func([]byte, []byte, mmcache.RemovalCause)) *evicting {
	n := speed.Keys(testing.Short())
	p, _ := caches.ByName("mmcache")
	c, err := mmcache.New(mmcache.Config{
		Capacity:  int(caches.FitBudget(p, n, workload.KeySize+speed.ValueSize)),
		OnRemoval: onRemoval,
	})
	if err != nil {
		b.Fatal(err)
	}
	e := &evicting{c: c, value: workload.Value(speed.ValueSize)}
	var kb [workload.KeySize]byte
	for {
		for range 4096 {
			if err := c.Set(workload.Key(kb[:], e.next), e.value); err != nil {
				b.Fatal(err)
			}
			e.next++
		}
		if s := c.Stats(); s.Evictions >= uint64(s.Entries) {
			break
		}
	}
	e.bases.Store(1)
	runtime.GC()
	return e
}

// evictionsPerOp reports the entries evicted per op since before.
func (e *evicting) evictionsPerOp(b *testing.B, before mmcache.Stats) {
	b.ReportMetric(float64(e.c.Stats().Evictions-before.Evictions)/float64(b.N), "evictions/op")
}

// runOnRemoval runs body as the sub-benchmarks mmcache/nil and mmcache/noop, each on a cache
// of its own, built when it first runs and closed when it is done.
func runOnRemoval(b *testing.B, body func(*testing.B, *evicting)) {
	b.Run("mmcache", func(b *testing.B) {
		for _, r := range onRemovals {
			var e *evicting
			b.Run(r.name, func(b *testing.B) {
				if e == nil {
					e = newEvicting(b, r.fn)
				}
				body(b, e)
			})
			if e != nil {
				_ = e.c.Close()
			}
		}
	})
}

// BenchmarkOnRemoval is Set of new keys into a full mmcache, which evicts for each, with
// Config.OnRemoval nil and with a callback that does nothing, one goroutine. It reports the
// evictions per Set.
func BenchmarkOnRemoval(b *testing.B) {
	runOnRemoval(b, func(b *testing.B, e *evicting) {
		var kb [workload.KeySize]byte
		before := e.c.Stats()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			_ = e.c.Set(workload.Key(kb[:], e.next), e.value)
			e.next++
		}
		b.StopTimer()
		e.evictionsPerOp(b, before)
	})
}

// BenchmarkOnRemovalParallel is BenchmarkOnRemoval on GOMAXPROCS goroutines, each storing
// new keys of its own.
func BenchmarkOnRemovalParallel(b *testing.B) {
	runOnRemoval(b, func(b *testing.B, e *evicting) {
		before := e.c.Stats()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var kb [workload.KeySize]byte
			id := e.bases.Add(1) << 40
			for pb.Next() {
				_ = e.c.Set(workload.Key(kb[:], id), e.value)
				id++
			}
		})
		b.StopTimer()
		e.evictionsPerOp(b, before)
	})
}

// iterateSizes are the numbers of entries BenchmarkIterate walks: 1 M and 10 M, or under
// -short 100 K and 1 M.
func iterateSizes() []int {
	if testing.Short() {
		return []int{100_000, 1_000_000}
	}
	return []int{1_000_000, 10_000_000}
}

func countName(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n%1_000 == 0:
		return fmt.Sprintf("%dK", n/1_000)
	}
	return fmt.Sprint(n)
}

// BenchmarkIterate walks every entry of a cache holding 1 M and 10 M entries (16-byte keys,
// 64-byte values, each cache sized so that it evicts none): mmcache's All, freecache's
// NewIterator and Next, otter's All. An op is one whole pass; ns/entry and allocs/entry are
// per entry. One cache is in memory at a time (about 2 GiB at 10 M; otter's heap, the
// largest, about 4 GiB).
func BenchmarkIterate(b *testing.B) {
	for _, n := range iterateSizes() {
		b.Run(countName(n), func(b *testing.B) {
			for _, name := range speed.APIContenders {
				l := &lazyFixture{name: name, n: n}
				b.Run(name, func(b *testing.B) { speed.Walk(b, l.get(b)) })
				l.release()
			}
		})
	}
}
