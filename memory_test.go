package mmcache

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryBound writes ten times the capacity in entries of 1 byte to 256 KiB: UsedBytes
// never exceeds Capacity, and on Linux neither does what the process's RSS grows by (plus a
// small margin for the runtime).
func TestMemoryBound(t *testing.T) {
	leakCheck(t)
	const capacity = 128 << 20
	const margin = 8 << 20
	linux := runtime.GOOS == "linux"
	value := make([]byte, 256<<10)
	for i := range value {
		value[i] = byte(i * 7)
	}
	key := make([]byte, 16)
	rng := rand.New(rand.NewPCG(7, 7))
	runtime.GC()
	var rss0 int64
	if linux {
		rss0 = procRSS(t)
	}
	c := newCacheT(t, Config{Capacity: capacity, MaxEntrySize: 256<<10 + 16}, nil, nil)
	written, sets, maxUsed, maxRSS := 0, 0, 0, int64(0)
	for written < 10*capacity {
		// Sizes spread evenly over the powers of two from 1 B to 256 KiB.
		n := 1 + rng.IntN(1<<rng.IntN(19))
		binary.LittleEndian.PutUint64(key, uint64(sets))
		binary.LittleEndian.PutUint64(key[8:], rng.Uint64()%4096) // some overwrites
		require.NoError(t, c.Set(key, value[:n]))
		written += len(key) + n
		sets++
		if sets%64 == 0 {
			st := c.Stats()
			maxUsed = max(maxUsed, st.UsedBytes)
			require.LessOrEqual(t, st.UsedBytes, capacity, "after %d bytes", written)
			if linux && sets%1024 == 0 {
				grown := procRSS(t) - rss0
				maxRSS = max(maxRSS, grown)
				require.LessOrEqual(t, grown, int64(capacity+margin), "RSS growth after %d bytes", written)
			}
		}
	}
	st := c.Stats()
	if linux {
		grown := procRSS(t) - rss0
		maxRSS = max(maxRSS, grown)
		require.LessOrEqual(t, grown, int64(capacity+margin))
	}
	t.Logf("%d sets, %d MiB written; UsedBytes at most %d (%.1f%% of Capacity); RSS growth at most %d KiB (Capacity %d KiB); %d entries, %d evictions",
		sets, written>>20, maxUsed, 100*float64(maxUsed)/capacity, maxRSS>>10, capacity>>10, st.Entries, st.Evictions)
	require.LessOrEqual(t, st.UsedBytes, capacity)
	require.Greater(t, st.Evictions, uint64(0))
	mustCheck(t, c, "end")
}

// fill16x64 writes n entries with distinct 16-byte keys and 64-byte values, from as many
// goroutines as there are Ps.
func fill16x64(t testing.TB, c *Cache, from, n int) {
	workers := runtime.GOMAXPROCS(0)
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			key, value := make([]byte, 16), make([]byte, 64)
			lo, hi := from+n*w/workers, from+n*(w+1)/workers
			for i := lo; i < hi; i++ {
				binary.LittleEndian.PutUint64(key, uint64(i)*0x9e3779b97f4a7c15)
				binary.LittleEndian.PutUint64(key[8:], uint64(i))
				binary.LittleEndian.PutUint64(value, uint64(i))
				if err := c.Set(key, value); err != nil {
					errs <- fmt.Errorf("Set %d: %w", i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// newLargeCacheT is newCacheT for caches of hundreds of MiB, where the invariant check at the
// end would take longer than the test: it only closes the cache.
func newLargeCacheT(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	return c
}

// TestMemoryTargetSmallEntries: a 256 MiB cache of 16-byte keys with 64-byte values keeps at
// least 2.6 million of them (with -short, a 64 MiB cache 650,000: the same 103 bytes of
// Capacity per entry at most).
func TestMemoryTargetSmallEntries(t *testing.T) {
	leakCheck(t)
	capacity, target := 256<<20, 2_600_000
	if testing.Short() {
		capacity, target = 64<<20, 650_000
	}
	c := newLargeCacheT(t, Config{Capacity: capacity})
	// Write until it evicts, then half as much again: enough to fill the arenas and turn them
	// over, so what it keeps is what a full cache keeps.
	n := 0
	for c.Stats().Evictions == 0 {
		fill16x64(t, c, n, 100_000)
		n += 100_000
	}
	atFirst := c.Len()
	fill16x64(t, c, n, n/2)
	n += n / 2
	st := c.Stats()
	t.Logf("%d MiB, 16+64-byte entries: first eviction at %d entries; %d live after %d writes (%.1f bytes of Capacity each); LiveBytes %.1f%% of Capacity",
		capacity>>20, atFirst, st.Entries, n, float64(st.Capacity)/float64(st.Entries), 100*float64(st.LiveBytes)/float64(st.Capacity))
	// The first evictions come from full probe windows, before the arena is full; the target is
	// what the cache keeps once full.
	assert.GreaterOrEqual(t, st.Entries, target)
	assert.Equal(t, 80*st.Entries, st.LiveBytes)
	// A sample of the keys: those present have their own value.
	key, buf := make([]byte, 16), make([]byte, 0, 64)
	found := 0
	for i := 0; i < n; i += 97 {
		binary.LittleEndian.PutUint64(key, uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(key[8:], uint64(i))
		if v, ok := c.Get(buf[:0], key); ok {
			found++
			if binary.LittleEndian.Uint64(v) != uint64(i) || len(v) != 64 {
				t.Fatalf("key %d: wrong value", i)
			}
		}
	}
	// About the kept fraction of the sample is there.
	assert.InDelta(t, float64(st.Entries)/float64(n), float64(found)/float64(n/97), 0.05)
}

// TestMemoryTargetKiBValues: with 1 KiB values, at least 90% of the capacity holds live keys
// and values.
func TestMemoryTargetKiBValues(t *testing.T) {
	leakCheck(t)
	c := newLargeCacheT(t, Config{Capacity: 256 << 20})
	key, value := make([]byte, 16), make([]byte, 1024)
	for i := range 400_000 { // about 1.6 times the capacity
		binary.LittleEndian.PutUint64(key, uint64(i))
		binary.LittleEndian.PutUint64(value, uint64(i))
		require.NoError(t, c.Set(key, value))
	}
	st := c.Stats()
	frac := float64(st.LiveBytes) / float64(st.Capacity)
	t.Logf("256 MiB, 16+1024-byte entries: %d live, LiveBytes %d = %.2f%% of Capacity, UsedBytes %.2f%%",
		st.Entries, st.LiveBytes, 100*frac, 100*float64(st.UsedBytes)/float64(st.Capacity))
	assert.GreaterOrEqual(t, frac, 0.90)
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/objects:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// gcTime returns the fastest and the median wall time of a few forced collections. On a
// shared machine the median moves with the load; the fastest is the cost of the collection.
func gcTime() (fastest, median time.Duration) {
	var d []time.Duration
	runtime.GC()
	for range 9 {
		start := time.Now()
		runtime.GC()
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	return d[0], d[len(d)/2]
}

// TestGCInvisible: five million entries (one million with -short) add fewer than 1,000
// objects to the Go heap. The forced-GC times with an empty and a full cache are logged, not
// asserted (no timing assertions in unit tests); the gcdemo example compares them.
func TestGCInvisible(t *testing.T) {
	leakCheck(t)
	n, capacity := 5_000_000, 768<<20
	if testing.Short() {
		n, capacity = 1_000_000, 160<<20
	}
	runtime.GC()
	objects0 := heapObjects()
	c := newLargeCacheT(t, Config{Capacity: capacity})
	runtime.GC()
	emptyMin, emptyMed := gcTime()
	objectsEmpty := heapObjects()
	fill16x64(t, c, 0, n)
	runtime.GC()
	fullMin, fullMed := gcTime()
	objectsFull := heapObjects()
	st := c.Stats()
	t.Logf("heap objects: %d before New, %d with the empty cache, %d with %d entries (+%d)",
		objects0, objectsEmpty, objectsFull, st.Entries, int64(objectsFull)-int64(objects0))
	t.Logf("forced GC, fastest of 9: %v empty, %v full (%.2fx); median: %v empty, %v full (%.2fx)",
		emptyMin, fullMin, float64(fullMin)/float64(emptyMin), emptyMed, fullMed, float64(fullMed)/float64(emptyMed))
	require.Equal(t, n, st.Entries, "no entry evicted")
	assert.Less(t, int64(objectsFull)-int64(objects0), int64(1000))
}
