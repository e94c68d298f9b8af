package mmcacheotel_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache"
	mmcacheotel "github.com/mmcache/mmcache/contrib/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
)

const capacity = 4 << 20 // a multiple of every page size, so Stats reports it unchanged

// newCache returns a cache whose sizes move only when the test acts: no janitor goroutine
// compacts segments behind its back (a negative JanitorInterval works inline, every few
// hundred writes, and the tests write far fewer).
func newCache(t *testing.T) *mmcache.Cache {
	t.Helper()
	c, err := mmcache.New(mmcache.Config{Capacity: capacity, Shards: 4, JanitorInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// operate runs the known sequence: 3 sets, 2 hits, 1 miss, 1 delete. Two entries stay, "a"
// and "bb" with values "1" and "22": 1+1+2+2 = 6 live bytes.
func operate(t *testing.T, c *mmcache.Cache) {
	t.Helper()
	for _, kv := range [][2]string{{"a", "1"}, {"bb", "22"}, {"ccc", "333"}} {
		if err := c.Set([]byte(kv[0]), []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "bb", "zzz"} {
		c.Get(nil, []byte(k))
	}
	if !c.Delete([]byte("ccc")) {
		t.Fatal("Delete(ccc) = false")
	}
}

func newProvider(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, reader
}

func collect(t *testing.T, reader *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// values is what one cache reports: a value for each metric.
type values struct {
	hits, misses, sets, deletes, entries, live, used, reserved int64
}

// point is one cache's observation of one metric: its attributes and value.
type point struct {
	attrs attribute.Set
	v     values
}

// expected is the ScopeMetrics a collection must equal, timestamps aside, with one data
// point per cache in each metric.
func expected(points ...point) metricdata.ScopeMetrics {
	counter := func(name, unit, desc string, get func(values) int64) metricdata.Metrics {
		sum := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
		for _, p := range points {
			sum.DataPoints = append(sum.DataPoints, metricdata.DataPoint[int64]{Attributes: p.attrs, Value: get(p.v)})
		}
		return metricdata.Metrics{Name: name, Description: desc, Unit: unit, Data: sum}
	}
	size := func(name, unit, desc string, get func(values) int64) metricdata.Metrics {
		m := counter(name, unit, desc, get)
		sum := m.Data.(metricdata.Sum[int64])
		sum.IsMonotonic = false
		m.Data = sum
		return m
	}
	zero := func(values) int64 { return 0 }
	return metricdata.ScopeMetrics{
		Scope: instrumentation.Scope{Name: mmcacheotel.ScopeName},
		Metrics: []metricdata.Metrics{
			counter("mmcache.hits", "{hit}", "Lookups that found a live entry.", func(v values) int64 { return v.hits }),
			counter("mmcache.misses", "{miss}", "Lookups that found no live entry.", func(v values) int64 { return v.misses }),
			counter("mmcache.sets", "{set}", "Writes that stored an entry.", func(v values) int64 { return v.sets }),
			counter("mmcache.deletes", "{delete}", "Deletes that removed a live entry.", func(v values) int64 { return v.deletes }),
			counter("mmcache.evictions", "{eviction}", "Live entries dropped to make room.", zero),
			counter("mmcache.expirations", "{expiration}", "Expired entries dropped.", zero),
			counter("mmcache.decode_errors", "{error}", "Stored values that a Typed view's codec could not decode.", zero),
			size("mmcache.entries", "{entry}", "Entries in the cache, expired ones not yet dropped included.", func(v values) int64 { return v.entries }),
			size("mmcache.memory.live", "By", "Bytes of the keys and values of the entries in the cache.", func(v values) int64 { return v.live }),
			size("mmcache.memory.used", "By", "Bytes of the mapping that hold data now: written segments and index pages.", func(v values) int64 { return v.used }),
			size("mmcache.memory.reserved", "By", "Bytes of the mapping set aside for bookkeeping, written or not.", func(v values) int64 { return v.reserved }),
			size("mmcache.memory.limit", "By", "Size of the cache's memory mapping (Config.Capacity), the bound on everything it keeps.", func(values) int64 { return capacity }),
		},
	}
}

func onlyScope(t *testing.T, rm metricdata.ResourceMetrics) metricdata.ScopeMetrics {
	t.Helper()
	if len(rm.ScopeMetrics) != 1 {
		t.Fatalf("%d scopes collected, want 1: %+v", len(rm.ScopeMetrics), rm.ScopeMetrics)
	}
	return rm.ScopeMetrics[0]
}

func TestCollectAfterOperations(t *testing.T) {
	c := newCache(t)
	operate(t, c)
	st := c.Stats()
	if st.UsedBytes <= 0 || st.UsedBytes > capacity || st.ReservedBytes <= 0 {
		t.Fatalf("implausible sizes in %+v", st)
	}
	mp, reader := newProvider(t)
	reg, err := mmcacheotel.Register(c, mmcacheotel.WithMeterProvider(mp), mmcacheotel.WithCacheName("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()

	want := expected(point{
		attribute.NewSet(mmcacheotel.CacheNameKey.String("test")),
		values{hits: 2, misses: 1, sets: 3, deletes: 1, entries: 2, live: 6, used: int64(st.UsedBytes), reserved: int64(st.ReservedBytes)},
	})
	// Two collections: collecting reads the cache and changes nothing in it, and the
	// cumulative counters do not restart between collections.
	for range 2 {
		metricdatatest.AssertEqual(t, want, onlyScope(t, collect(t, reader)), metricdatatest.IgnoreTimestamp())
	}

	// The values follow the cache from one collection to the next.
	c.Get(nil, []byte("a"))
	want = expected(point{
		attribute.NewSet(mmcacheotel.CacheNameKey.String("test")),
		values{hits: 3, misses: 1, sets: 3, deletes: 1, entries: 2, live: 6, used: int64(st.UsedBytes), reserved: int64(st.ReservedBytes)},
	})
	metricdatatest.AssertEqual(t, want, onlyScope(t, collect(t, reader)), metricdatatest.IgnoreTimestamp())
}

// Two caches observe the same instruments, each under its own attributes; extra attributes
// join the cache name, and a later one with the same key wins.
func TestSeveralCaches(t *testing.T) {
	a, b := newCache(t), newCache(t)
	operate(t, a)
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	stA, stB := a.Stats(), b.Stats()
	mp, reader := newProvider(t)
	regA, err := mmcacheotel.Register(a, mmcacheotel.WithMeterProvider(mp), mmcacheotel.WithCacheName("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = regA.Unregister() }()
	regB, err := mmcacheotel.Register(b, mmcacheotel.WithMeterProvider(mp),
		mmcacheotel.WithAttributes(attribute.String("tenant", "x"), mmcacheotel.CacheNameKey.String("tmp")),
		mmcacheotel.WithCacheName("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = regB.Unregister() }()

	want := expected(
		point{
			attribute.NewSet(mmcacheotel.CacheNameKey.String("a")),
			values{hits: 2, misses: 1, sets: 3, deletes: 1, entries: 2, live: 6, used: int64(stA.UsedBytes), reserved: int64(stA.ReservedBytes)},
		},
		point{
			attribute.NewSet(mmcacheotel.CacheNameKey.String("b"), attribute.String("tenant", "x")),
			values{sets: 1, entries: 1, live: 2, used: int64(stB.UsedBytes), reserved: int64(stB.ReservedBytes)},
		},
	)
	metricdatatest.AssertEqual(t, want, onlyScope(t, collect(t, reader)), metricdatatest.IgnoreTimestamp())
}

// A closed cache still reports: the counters keep their values, the entries and the bytes
// they held read 0, and the mapping's reserved part and capacity stay, as Stats reports them.
func TestClosedCache(t *testing.T) {
	c := newCache(t)
	operate(t, c)
	reserved := c.Stats().ReservedBytes
	mp, reader := newProvider(t)
	reg, err := mmcacheotel.Register(c, mmcacheotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Get(nil, []byte("a")) // not counted: the cache is closed
	want := expected(point{*attribute.EmptySet(), values{hits: 2, misses: 1, sets: 3, deletes: 1, reserved: int64(reserved)}})
	metricdatatest.AssertEqual(t, want, onlyScope(t, collect(t, reader)), metricdatatest.IgnoreTimestamp())
}

// Unregister stops the observations: the next collection has no data point for the cache.
func TestUnregister(t *testing.T) {
	c := newCache(t)
	operate(t, c)
	mp, reader := newProvider(t)
	reg, err := mmcacheotel.Register(c, mmcacheotel.WithMeterProvider(mp), mmcacheotel.WithCacheName("gone"))
	if err != nil {
		t.Fatal(err)
	}
	if n := countPoints(collect(t, reader)); n != 12 {
		t.Fatalf("%d data points before Unregister, want 12", n)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if n := countPoints(collect(t, reader)); n != 0 {
		t.Fatalf("%d data points after Unregister, want 0", n)
	}
}

func countPoints(rm metricdata.ResourceMetrics) int {
	n := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			n += len(m.Data.(metricdata.Sum[int64]).DataPoints)
		}
	}
	return n
}

// Under concurrent misses, Stats can report a Hits above the next one (see observer.mu): the
// collected counters must never go down, or a backend would take the drop for a reset. This
// catches the drop only when a collection meets it, which takes luck;
// TestCountersHeldAtTheirHighWaterMark checks the remedy deterministically.
func TestCountersNeverDecrease(t *testing.T) {
	c := newCache(t)
	mp, reader := newProvider(t)
	reg, err := mmcacheotel.Register(c, mmcacheotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 16)
			for !stop.Load() {
				c.Get(buf[:0], []byte("absent"))
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()

	last := map[string]int64{}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		for _, m := range onlyScope(t, collect(t, reader)).Metrics {
			sum := m.Data.(metricdata.Sum[int64])
			if !sum.IsMonotonic {
				continue
			}
			v := sum.DataPoints[0].Value
			if v < last[m.Name] {
				t.Fatalf("%s went down from %d to %d", m.Name, last[m.Name], v)
			}
			last[m.Name] = v
		}
	}
}
