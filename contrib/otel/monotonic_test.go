package mmcacheotel

import (
	"math"
	"testing"

	"github.com/mmcache/mmcache"
)

// A counter lower than one observed before (two overlapping collections) is reported at its
// previous value until the cache's count passes it; sizes are reported as they are.
func TestCountersHeldAtTheirHighWaterMark(t *testing.T) {
	seq := []mmcache.Stats{
		{Hits: 10, Misses: 5, Entries: 7},
		{Hits: 8, Misses: 6, Entries: 3}, // hits went back by 2
		{Hits: 12, Misses: 6, Entries: 4},
	}
	o := &observer{stats: func() mmcache.Stats { st := seq[0]; seq = seq[1:]; return st }}
	for i, want := range [][3]int{{10, 5, 7}, {10, 6, 3}, {12, 6, 4}} {
		st := o.snapshot()
		if got := [3]int{int(st.Hits), int(st.Misses), st.Entries}; got != want {
			t.Errorf("snapshot %d: hits, misses, entries = %v, want %v", i, got, want)
		}
	}
}

func TestClampInt64(t *testing.T) {
	for _, c := range []struct {
		in   uint64
		want int64
	}{{0, 0}, {42, 42}, {math.MaxInt64, math.MaxInt64}, {math.MaxInt64 + 1, math.MaxInt64}, {math.MaxUint64, math.MaxInt64}} {
		if got := clampInt64(c.in); got != c.want {
			t.Errorf("clampInt64(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
