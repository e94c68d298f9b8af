package mmcache

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvictionFIFOWithoutReads: entries never read leave in the order they came, whole
// segments at a time, so the keys still present are exactly the newest ones.
func TestEvictionFIFOWithoutReads(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	const n = 20000 // about four times the capacity
	key := make([]byte, 8)
	for i := range n {
		binary.BigEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
	}
	first := -1
	for i := range n {
		binary.BigEndian.PutUint64(key, uint64(i))
		has := c.Has(key)
		if has && first < 0 {
			first = i
		}
		if first >= 0 && !has {
			t.Fatalf("key %d is gone but the older key %d is there", i, first)
		}
	}
	require.Positive(t, first)
	assert.Equal(t, n-first, c.Len())
	assert.Equal(t, uint64(first), c.Stats().Evictions)
	t.Logf("kept the newest %d of %d", n-first, n)
}

// TestEvictionSecondChance: a hot set read between writes survives a stream of one-off writes
// many times the capacity, which FIFO would flush; cold keys written with it do not.
func TestEvictionSecondChance(t *testing.T) {
	leakCheck(t)
	for _, view := range []bool{false, true} {
		c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
		hotKey := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("hot"), uint64(i)) }
		coldKey := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("cold"), uint64(i)) }
		const hot = 300
		for i := range hot {
			require.NoError(t, c.Set(hotKey(i), valueFor(hotKey(i), 0, 100)))
			require.NoError(t, c.Set(coldKey(i), valueFor(coldKey(i), 0, 100)))
		}
		read := func() {
			for i := range hot {
				var ok bool
				if view {
					ok = c.View(hotKey(i), func(v []byte) {
						if len(v) != 100 {
							t.Errorf("hot key %d: %d bytes", i, len(v))
						}
					})
				} else {
					var got []byte
					got, ok = c.Get(nil, hotKey(i))
					require.Equal(t, valueFor(hotKey(i), 0, 100), got)
				}
				require.True(t, ok, "hot key %d was evicted", i)
			}
		}
		key := make([]byte, 8)
		for i := range 40000 { // about eight times the capacity
			if i%1000 == 0 {
				read()
			}
			binary.BigEndian.PutUint64(key, uint64(i))
			require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
		}
		read()
		cold := 0
		for i := range hot {
			if c.Has(coldKey(i)) {
				cold++
			}
		}
		assert.Zero(t, cold, "cold keys outlived the stream")
		require.Greater(t, c.Stats().Evictions, uint64(30000))
		mustCheck(t, c, "end")
	}
}

// TestEvictionHasDoesNotCount: Has is not a use, so it gives no second chance.
func TestEvictionHasDoesNotCount(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	require.NoError(t, c.Set([]byte("probed"), []byte("v")))
	key := make([]byte, 8)
	for i := range 20000 {
		if i%500 == 0 && i < 4000 {
			require.True(t, c.Has([]byte("probed")))
		}
		binary.BigEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
	}
	assert.False(t, c.Has([]byte("probed")))
}

// TestEvictionSecondChanceIsOnce: a key read while it sits in the small queue is promoted to the
// main queue, where a key never read leaves after the small queue's turn; and the promotion
// buys a round of the main queue's clock, not a place forever.
func TestEvictionSecondChanceIsOnce(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	require.NoError(t, c.Set([]byte("once"), []byte("v")))
	require.NoError(t, c.Set([]byte("never"), []byte("v")))
	_, ok := c.Get(nil, []byte("once"))
	require.True(t, ok)
	key := make([]byte, 8)
	evicting := false
	for i := range 40000 { // about eight times the capacity
		binary.BigEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
		_, ok := c.Get(nil, key) // read in its turn: every key is promoted
		require.True(t, ok)
		if !evicting && c.Stats().Evictions > 0 {
			// The first eviction empties the oldest segment of the small queue.
			evicting = true
			assert.False(t, c.Has([]byte("never")), "never read: the first to go")
			assert.True(t, c.Has([]byte("once")), "read: promoted to the main queue")
		}
	}
	assert.True(t, evicting)
	assert.False(t, c.Has([]byte("once")), "the promotion bought a round of the main queue, not a place forever")
}

// TestEvictionFreesAQuarter: when every entry of the oldest segment was read, eviction still
// frees a quarter of it, so the next Sets do not each walk a whole segment.
func TestEvictionFreesAQuarter(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	const E = 1024
	perSeg := s.segSize / E
	require.Equal(t, s.segSize, perSeg*E, "the test needs segments of whole entries")
	vlen := valueLenFor(t, 8, E)
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	// The entries get every segment of the pool but the one the index's pages are cut from,
	// which the first Set takes.
	require.NoError(t, c.Set(key(0), valueFor(key(0), 0, vlen)))
	require.Equal(t, 1, heldSegments(s))
	nsegs := entrySegments(s)
	n := perSeg * nsegs
	for i := 1; i < n; i++ {
		require.NoError(t, c.Set(key(i), valueFor(key(i), 0, vlen)))
	}
	require.Equal(t, n, c.Len(), "every segment full, nothing evicted")
	require.Equal(t, nsegs, s.sq.Queued())
	require.Equal(t, nsegs, entrySegments(s), "the index took no second segment")
	require.Zero(t, freeSegments(s), "the pool is empty: the next Set must evict")
	for i := range n {
		_, ok := c.Get(nil, key(i))
		require.True(t, ok)
	}
	require.NoError(t, c.Set(key(n), valueFor(key(n), 0, vlen)))
	kept := s.segSize * 3 / 4 / E
	assert.Equal(t, uint64(perSeg-kept), c.Stats().Evictions)
	for i := range n + 1 {
		// The oldest entries beyond three quarters of the first segment went.
		assert.Equal(t, i < kept || i >= perSeg, c.Has(key(i)), "key %d", i)
	}
	mustCheck(t, c, "end")
	require.NoError(t, checkPools(c))
}

// TestPageForAnEntryInTheOpenHead: a small entry goes to an open segment (shard.alloc) that is
// the shard's oldest, and its insert must split a page when the pool is empty and the segment
// of pages is cut to its end. takePage may give up the shard's oldest segment to the pool for
// pages, but not that one: it holds the entry being indexed, which has no slot yet, so giving
// it up dropped the entry and then indexed it inside a segment held for pages (a Set that
// reported success, a key lost, a slot pointing into index pages). The insert evicts from its
// home bucket instead, as a full window does when no page can be had.
func TestPageForAnEntryInTheOpenHead(t *testing.T) {
	leakCheck(t)
	remapped := map[uint64]uint64{}
	remap := func(h uint64) uint64 {
		if r, ok := remapped[h]; ok {
			return r
		}
		return h
	}
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, MaxEntrySize: 32 << 10, JanitorInterval: -1}, newFakeClock(), remap)
	s := &c.e.shards[0]
	g := s.g
	require.Equal(t, 1<<16, s.segSize, "the sizes below assume 64 KiB segments")
	rnd := uint32(12345)
	next := func() uint32 { rnd ^= rnd << 13; rnd ^= rnd >> 17; rnd ^= rnd << 5; return rnd }
	// set stores an entry of size bytes under k with fingerprint fp.
	set := func(k []byte, fp uint32, size int) error {
		remapped[hashKey(k, 0)] = uint64(fp)<<32 | 0x1234_5678
		return c.Set(k, valueFor(k, 0, valueLenFor(t, len(k), size)))
	}
	windowFull := func(fp uint32) bool {
		pg, ok := s.idx.page(fp)
		require.True(t, ok)
		b := home(pg, fp)
		for range pageProbe {
			if s.idx.empty(b) != 0 {
				return false
			}
			b = nextBucket(b)
		}
		return true
	}
	// 24-byte entries homed in bucket 5, in the first segment, until the index holds every
	// page of the segment held for pages.
	i, fp := 0, uint32(0)
	for s.idx.hdr.pages < g.pages {
		fp = next()&^63 | 5
		require.NoError(t, set(fmt.Appendf(nil, "t%05d", i), fp, 24))
		i++
	}
	require.Equal(t, 1, heldSegments(s))
	require.Equal(t, g.hdr.carveEnd, g.hdr.carveNext, "every page of the held segment cut")
	// More in the page of the last one, until its window is full.
	depth := s.idx.hdr.depth
	inPage := func() uint32 { return fp>>(32-depth)<<(32-depth) | next()>>depth&^63 | 5 }
	for !windowFull(fp) {
		require.NoError(t, set(fmt.Appendf(nil, "t%05d", i), inPage(), 24))
		i++
	}
	require.Equal(t, g.pages, s.idx.hdr.pages)
	require.Equal(t, 1, s.sq.Queued())
	head := s.sq.Head()
	// Pad the first segment to 304 bytes short of its end, in buckets 40 and 41.
	pad := s.segSize - 304 - int(s.ar.Seg(head).Used)
	require.NoError(t, set([]byte("pad1"), next()&^63|40, pad/2&^7))
	require.NoError(t, set([]byte("pad2"), next()&^63|41, pad-pad/2&^7))
	require.Equal(t, uint32(s.segSize-304), s.ar.Seg(head).Used)
	// 512-byte entries, too large for its room, in buckets 21 to 47, until the pool is empty:
	// the first segment is sealed and kept open, and the others fill exactly.
	for j := 0; freeSegments(s) > 0; j++ {
		require.NoError(t, set(fmt.Appendf(nil, "f%05d", j), next()&^63|uint32(21+j%27), 512))
	}
	require.Equal(t, g.pages, s.idx.hdr.pages, "no page split")
	require.Equal(t, head, s.sq.Head())
	require.Contains(t, s.open, head, "the oldest segment is open to smaller entries")
	require.Zero(t, c.Stats().Evictions)
	mustCheck(t, c, "full")
	// A 24-byte entry goes to the open head; its window is full and the page can split.
	fp = inPage()
	require.True(t, windowFull(fp))
	require.True(t, s.idx.canSplit(fp))
	final := []byte("final")
	require.NoError(t, set(final, fp, 24))
	_, pos, _, ok := s.lookup(c.e.hash(final), final)
	require.True(t, ok)
	require.Equal(t, head, s.segOf(pos), "the entry went to the open head")
	require.True(t, s.ar.IsQueued(head), "and the head stays the shard's")
	got, ok := c.Get(nil, final)
	require.True(t, ok)
	require.Equal(t, valueFor(final, 0, valueLenFor(t, len(final), 24)), got)
	require.Equal(t, uint64(1), c.Stats().Evictions, "one entry of the home bucket made room")
	mustCheck(t, c, "end")
	require.NoError(t, checkPools(c))
}

// TestEvictionReadTwiceLastsTwoRounds: the main queue's clock counts up to two reads per
// entry and takes one off each time it passes, so an entry read twice in the main queue
// outlives one read once by a round, and neither stays forever without more reads.
func TestEvictionReadTwiceLastsTwoRounds(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	once, twice := []byte("once"), []byte("twice")
	read := func(k []byte) {
		_, ok := c.Get(nil, k)
		require.True(t, ok, "%s", k)
	}
	for _, k := range [][]byte{once, twice} {
		require.NoError(t, c.Set(k, []byte("v")))
		read(k) // promoted when the small queue evicts it, with its count cleared
	}
	s := &c.e.shards[0]
	key := make([]byte, 8)
	i := 0
	stream := func() { // a key read once, promoted in its turn: it turns the main queue's clock
		binary.BigEndian.PutUint64(key, uint64(i))
		i++
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
		read(key)
	}
	for queueOfKey(t, c, once) != s.q || queueOfKey(t, c, twice) != s.q {
		stream()
	}
	read(once)
	read(twice)
	read(twice)
	for c.Has(once) {
		stream()
	}
	require.True(t, c.Has(twice), "read twice: kept a round longer than read once")
	for c.Has(twice) && i < 100000 {
		stream()
	}
	require.False(t, c.Has(twice), "two reads bought two rounds, not a place forever")
	mustCheck(t, c, "end")
}
