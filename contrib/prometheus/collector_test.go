package mmcacheprom_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache"
	mmcacheprom "github.com/mmcache/mmcache/contrib/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
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

// expected is the exposition text a scrape must match exactly, with the sizes that depend on
// the page size and the index's layout (used and reserved bytes) taken from Stats.
func expected(labels string, hits, misses, sets, deletes, entries, live, used, reserved int) string {
	var b strings.Builder
	for _, m := range []struct {
		name, help, typ string
		v               int
	}{
		{"mmcache_capacity_bytes", "Size of the cache's memory mapping, the bound on everything it keeps.", "gauge", capacity},
		{"mmcache_decode_errors_total", "Stored values that a Typed view's codec could not decode.", "counter", 0},
		{"mmcache_deletes_total", "Deletes that removed a live entry.", "counter", deletes},
		{"mmcache_entries", "Entries in the cache, expired ones not yet dropped included.", "gauge", entries},
		{"mmcache_evictions_total", "Live entries dropped to make room.", "counter", 0},
		{"mmcache_expirations_total", "Expired entries dropped.", "counter", 0},
		{"mmcache_hits_total", "Lookups that found a live entry.", "counter", hits},
		{"mmcache_live_bytes", "Bytes of the keys and values of the entries in the cache.", "gauge", live},
		{"mmcache_misses_total", "Lookups that found no live entry.", "counter", misses},
		{"mmcache_reserved_bytes", "Bytes of the mapping set aside for bookkeeping, written or not.", "gauge", reserved},
		{"mmcache_sets_total", "Writes that stored an entry.", "counter", sets},
		{"mmcache_used_bytes", "Bytes of the mapping that hold data now: written segments and index pages.", "gauge", used},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s%s %d\n", m.name, m.help, m.name, m.typ, m.name, labels, m.v)
	}
	return b.String()
}

func TestScrapeAfterOperations(t *testing.T) {
	c := newCache(t)
	operate(t, c)
	st := c.Stats()
	if st.UsedBytes <= 0 || st.UsedBytes > capacity || st.ReservedBytes <= 0 {
		t.Fatalf("implausible sizes in %+v", st)
	}

	col := mmcacheprom.New(c, mmcacheprom.WithConstLabels(prometheus.Labels{"cache": "test"}))
	reg := prometheus.NewPedanticRegistry() // checks that Collect sends what Describe announced
	if err := reg.Register(col); err != nil {
		t.Fatal(err)
	}
	want := expected(`{cache="test"}`, 2, 1, 3, 1, 2, 6, st.UsedBytes, st.ReservedBytes)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// Scraping reads the cache and changes nothing in it: a second scrape is the same.
	if err := testutil.CollectAndCompare(col, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(col); n != 12 {
		t.Fatalf("CollectAndCount = %d, want 12", n)
	}
}

func TestLint(t *testing.T) {
	c := newCache(t)
	for _, col := range []*mmcacheprom.Collector{
		mmcacheprom.New(c),
		mmcacheprom.New(c, mmcacheprom.WithNamespace("myapp"), mmcacheprom.WithSubsystem("sessions"),
			mmcacheprom.WithConstLabels(prometheus.Labels{"cache": "sessions"})),
	} {
		problems, err := testutil.CollectAndLint(col)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestNamespaceAndSubsystem(t *testing.T) {
	c := newCache(t)
	operate(t, c)
	col := mmcacheprom.New(c, mmcacheprom.WithNamespace("myapp"), mmcacheprom.WithSubsystem("sessions"))
	want := `# HELP myapp_sessions_hits_total Lookups that found a live entry.
# TYPE myapp_sessions_hits_total counter
myapp_sessions_hits_total 2
# HELP myapp_sessions_live_bytes Bytes of the keys and values of the entries in the cache.
# TYPE myapp_sessions_live_bytes gauge
myapp_sessions_live_bytes 6
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "myapp_sessions_hits_total", "myapp_sessions_live_bytes"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(col, "mmcache_hits_total"); n != 0 {
		t.Fatalf("%d series still named mmcache_hits_total", n)
	}
}

// Two caches share a registry when a const label tells them apart; the registry refuses a
// second collector with the same labels, before any scrape.
func TestSeveralCaches(t *testing.T) {
	a, b := newCache(t), newCache(t)
	operate(t, a)
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	for name, c := range map[string]*mmcache.Cache{"a": a, "b": b} {
		if err := reg.Register(mmcacheprom.New(c, mmcacheprom.WithConstLabels(prometheus.Labels{"cache": name}))); err != nil {
			t.Fatal(err)
		}
	}
	err := reg.Register(mmcacheprom.New(b, mmcacheprom.WithConstLabels(prometheus.Labels{"cache": "b"})))
	var dup prometheus.AlreadyRegisteredError
	if !errors.As(err, &dup) {
		t.Fatalf("registering a second collector labelled b: %v, want AlreadyRegisteredError", err)
	}

	want := `# HELP mmcache_sets_total Writes that stored an entry.
# TYPE mmcache_sets_total counter
mmcache_sets_total{cache="a"} 3
mmcache_sets_total{cache="b"} 1
# HELP mmcache_entries Entries in the cache, expired ones not yet dropped included.
# TYPE mmcache_entries gauge
mmcache_entries{cache="a"} 2
mmcache_entries{cache="b"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mmcache_sets_total", "mmcache_entries"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 24 {
		t.Fatalf("GatherAndCount = %d, %v; want 24 series", n, err)
	}
}

// A closed cache still scrapes: the counters keep their values, the entries and the bytes
// they held read 0, and the mapping's reserved part and capacity stay, as Stats reports them.
func TestClosedCache(t *testing.T) {
	c := newCache(t)
	operate(t, c)
	reserved := c.Stats().ReservedBytes
	col := mmcacheprom.New(c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Get(nil, []byte("a")) // not counted: the cache is closed
	want := expected("", 2, 1, 3, 1, 0, 0, 0, reserved)
	if err := testutil.CollectAndCompare(col, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// Under concurrent misses, Stats can report a Hits above the next one (see Collector.mu): the
// scraped counters must never go down, or Prometheus would take the drop for a reset. This
// catches the drop only when a scrape meets it, which takes luck; TestCountersHeldAtTheir-
// HighWaterMark checks the remedy deterministically.
func TestCountersNeverDecrease(t *testing.T) {
	c := newCache(t)
	col := mmcacheprom.New(c)
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

	last := map[string]float64{}
	ch := make(chan prometheus.Metric, 12)
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		col.Collect(ch)
		for range 12 {
			m := <-ch
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				t.Fatal(err)
			}
			if pb.Counter == nil {
				continue
			}
			name, v := m.Desc().String(), pb.Counter.GetValue()
			if v < last[name] {
				t.Fatalf("%s went down from %v to %v", name, last[name], v)
			}
			last[name] = v
		}
	}
}
