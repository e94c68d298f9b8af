package mmcacheprom

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmcache/mmcache"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A counter lower than one reported before (two overlapping scrapes) is reported at its
// previous value until the cache's count passes it; gauges are reported as they are.
func TestCountersHeldAtTheirHighWaterMark(t *testing.T) {
	seq := []mmcache.Stats{
		{Hits: 10, Misses: 5, Entries: 7, Capacity: 1 << 20},
		{Hits: 8, Misses: 6, Entries: 3, Capacity: 1 << 20}, // hits went back by 2
		{Hits: 12, Misses: 6, Entries: 4, Capacity: 1 << 20},
	}
	col := New(nil)
	col.stats = func() mmcache.Stats { st := seq[0]; seq = seq[1:]; return st }
	for _, want := range [][3]int{{7, 10, 5}, {3, 10, 6}, {4, 12, 6}} {
		text := fmt.Sprintf(`# HELP mmcache_entries Entries in the cache, expired ones not yet dropped included.
# TYPE mmcache_entries gauge
mmcache_entries %d
# HELP mmcache_hits_total Lookups that found a live entry.
# TYPE mmcache_hits_total counter
mmcache_hits_total %d
# HELP mmcache_misses_total Lookups that found no live entry.
# TYPE mmcache_misses_total counter
mmcache_misses_total %d
`, want[0], want[1], want[2])
		if err := testutil.CollectAndCompare(col, strings.NewReader(text), "mmcache_entries", "mmcache_hits_total", "mmcache_misses_total"); err != nil {
			t.Fatal(err)
		}
	}
}
