package mmcache

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNextBucketWraps(t *testing.T) {
	const pg = 3 * indexPageSize
	assert.Equal(t, pg+bucketBytes, nextBucket(pg))
	assert.Equal(t, pg, nextBucket(pg+(pageBuckets-1)*bucketBytes), "the last bucket wraps to the first of its page")
	assert.Equal(t, pg+5*bucketBytes, home(pg, 0xabcd_0005))
	assert.Equal(t, pg+63*bucketBytes, home(pg, 0xffff_ffff))
}

func TestDirIndex(t *testing.T) {
	assert.Equal(t, uint32(0), dirIndex(0xffff_ffff, 0), "depth 0: one entry")
	assert.Equal(t, uint32(1), dirIndex(0x8000_0000, 1))
	assert.Equal(t, uint32(0b101), dirIndex(0xb000_0000, 3))
	assert.Equal(t, uint32(1<<maxDirDepth-1), dirIndex(0xffff_ffff, maxDirDepth))
}

// TestIndexGrows fills one shard with small entries: the index starts with no page, splits
// and doubles its directory as entries come, holds every key (nothing is evicted while the pool
// has room), and gives its pages back to the pool on Reset.
func TestIndexGrows(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 64 << 20, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	require.Zero(t, s.idx.hdr.pages, "a new index has no page")
	const n = 200_000
	key := make([]byte, 8)
	for i := range n {
		binary.LittleEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, key))
		if i == 0 {
			require.Equal(t, uint32(1), s.idx.hdr.pages, "the first entry brings the first page")
		}
	}
	st := c.Stats()
	require.Equal(t, n, st.Entries)
	require.Zero(t, st.Evictions)
	pages := int(s.idx.hdr.pages)
	// 448 slots a page; pages split when a probe window is full, so they are between a
	// quarter and all full.
	require.GreaterOrEqual(t, pages, n/(pageBuckets*bucketSlots))
	require.LessOrEqual(t, pages, 4*n/(pageBuckets*bucketSlots))
	require.GreaterOrEqual(t, 1<<s.idx.hdr.depth, pages)
	for i := range n {
		binary.LittleEndian.PutUint64(key, uint64(i))
		got, ok := c.Get(nil, key)
		require.True(t, ok, "key %d", i)
		require.Equal(t, key, got)
	}
	mustCheck(t, c, "after growth")
	require.Equal(t, n*20+pages*indexPageSize, st.UsedBytes, "entries of 1+2+1+8+8 = 20 bytes (no padding), and the pages")

	c.Reset()
	require.Zero(t, s.idx.hdr.pages)
	require.Zero(t, s.idx.hdr.depth)
	s.g.mu.Lock()
	held := s.g.ar.Held()
	s.g.mu.Unlock()
	require.Zero(t, held, "once no index holds a page, the segments they were cut from go back to the pool")
	require.NoError(t, c.Set([]byte("again"), []byte("v")))
	mustCheck(t, c, "after Reset")
}

// TestIndexGrowsUnderLockFreeReaders: readers without the lock look up keys stored before,
// while a writer adds enough keys to split pages and double the directory many times. A reader
// must never miss a key that is there, nor see another key's value.
func TestIndexGrowsUnderLockFreeReaders(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 64 << 20, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	const old, added = 1000, 100_000
	for i := range old {
		k := fmt.Appendf(nil, "old-%d", i)
		require.NoError(t, c.Set(k, valueFor(k, 0, 24)))
	}
	depthBefore := s.idx.hdr.depth
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64)
			for i := r; !stop.Load(); i += 7 {
				k := fmt.Appendf(nil, "old-%d", i%old)
				got, ok := c.Get(buf[:0], k)
				if !ok || string(got) != string(valueFor(k, 0, 24)) {
					errs <- fmt.Errorf("reader %d: key %q: found %v, value %q", r, k, ok, got)
					return
				}
			}
		}()
	}
	key := make([]byte, 12)
	for i := range added {
		binary.LittleEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, key))
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Greater(t, s.idx.hdr.depth, depthBefore+3, "the directory doubled while the readers read")
	require.Zero(t, c.Stats().Evictions)
	mustCheck(t, c, "after growth under readers")
}

// TestIndexSharesThePool: a shard whose index needs a page when the pool is empty gives up one
// of its segments of entries for it, so an index can grow in a full cache: small entries that
// replace large ones are all indexed.
func TestIndexSharesThePool(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	big := make([]byte, 4000)
	for i := range 2000 { // far more than fits: the pool runs dry, the clock evicts
		require.NoError(t, c.Set(fmt.Appendf(nil, "big-%d", i), big))
	}
	require.NotZero(t, c.Stats().Evictions)
	pagesBefore := s.idx.hdr.pages
	const small = 20_000
	for i := range small {
		require.NoError(t, c.Set(fmt.Appendf(nil, "s%d", i), nil))
	}
	require.Greater(t, s.idx.hdr.pages, pagesBefore+10, "the index grew in a full cache")
	present := 0
	for i := range small {
		if c.Has(fmt.Appendf(nil, "s%d", i)) {
			present++
		}
	}
	require.Equal(t, small, present, "every small entry is indexed")
	mustCheck(t, c, "after the index took segments")
	require.NoError(t, checkPools(c))
}

// TestIndexFrequency: a slot's frequency counts reads up to maxFreq, the clock takes one off
// at a time, and neither touches the other slots of the bucket.
func TestIndexFrequency(t *testing.T) {
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	s := &c.e.shards[0]
	s.lock()
	defer s.unlock()
	sl, _, _, ok := s.lookup(c.e.hash([]byte("k")), []byte("k"))
	require.True(t, ok)
	other := slot{sl.bkt, (sl.i + 1) % bucketSlots}
	s.idx.setFreq(other, 1)
	var got []int
	for _, op := range []func(slot){s.idx.markAccessed, s.idx.markAccessed, s.idx.markAccessed, s.idx.decFreq, s.idx.decFreq, s.idx.decFreq, s.idx.markAccessed, s.idx.clearAccessed} {
		op(sl)
		got = append(got, s.idx.freq(sl))
	}
	require.Equal(t, []int{1, 2, 2, 1, 0, 0, 1, 0}, got)
	require.Equal(t, 1, s.idx.freq(other))
	s.idx.setFreq(sl, 2)
	require.Equal(t, 2, s.idx.freq(sl))
	require.Equal(t, 1, s.idx.freq(other))
	s.idx.clearAccessed(other)
	s.idx.clearAccessed(sl)
}
