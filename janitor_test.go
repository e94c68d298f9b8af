package mmcache

import (
	"fmt"
	"testing"
	"time"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// valueLenFor returns the value length that makes an entry under a key of keyLen bytes (no
// TTL) take exactly size bytes.
func valueLenFor(t testing.TB, keyLen, size int) int {
	for v := size; v >= 0; v-- {
		if entrySize(keyLen, v, false) == size {
			return v
		}
	}
	t.Fatalf("no value length gives an entry of %d bytes", size)
	return 0
}

// janitorStep runs one janitor step on shard 0 and reports whether it did anything.
func janitorStep(c *Cache) bool {
	s := &c.e.shards[0]
	s.lock()
	defer s.unlock()
	return s.janitorStepLocked()
}

// queueOf returns shard 0's queued segments, oldest first.
func queueOf(c *Cache) []arena.ID {
	s := &c.e.shards[0]
	var q []arena.ID
	for id := s.sq.Head(); id != arena.None; id = s.ar.Next(id) {
		q = append(q, id)
	}
	return q
}

func segOfKey(t testing.TB, c *Cache, key []byte) arena.ID {
	s := &c.e.shards[0]
	_, pos, _, ok := s.lookup(c.e.hash(key), key)
	require.True(t, ok, "key %q", key)
	return s.segOf(pos)
}

func TestJanitorExpiryStep(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, nil)
	s := &c.e.shards[0]
	for i := range 60 {
		k := fmt.Appendf(nil, "k%02d", i)
		ttl := time.Duration(i%3) * time.Second // 0 (never), 1s, 2s
		require.NoError(t, c.SetWithTTL(k, []byte("value"), ttl))
	}
	tail := s.sq.Tail()
	require.Equal(t, int64(1+int64(time.Second)), s.ar.Seg(tail).MinExpire, "the segment's earliest expiry")
	assert.False(t, janitorStep(c), "nothing expired, nothing fragmented")

	used := entryBytes(c)
	clock.advance(int64(time.Second))
	assert.True(t, janitorStep(c))
	assert.Equal(t, 40, c.Len())
	assert.Equal(t, uint64(20), c.Stats().Expirations)
	assert.Equal(t, used, entryBytes(c), "expiry drops entries where they lie")
	assert.Equal(t, int64(1+2*int64(time.Second)), s.ar.Seg(tail).MinExpire, "recomputed")
	assert.False(t, janitorStep(c))

	clock.advance(int64(time.Second))
	assert.True(t, janitorStep(c))
	assert.Equal(t, 20, c.Len())
	assert.Equal(t, int64(0), s.ar.Seg(tail).MinExpire, "no TTL left in the segment")
	for i := range 60 {
		assert.Equal(t, i%3 == 0, c.Has(fmt.Appendf(nil, "k%02d", i)), "k%02d", i)
	}
	assert.Equal(t, 20*(3+5), c.Stats().LiveBytes)
	mustCheck(t, c, "after expiry")
}

// TestJanitorExpiryWhilePinned: expiry moves no bytes, so it runs on a segment a View reads.
func TestJanitorExpiryWhilePinned(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, nil)
	require.NoError(t, c.Set([]byte("viewed"), []byte("stays")))
	require.NoError(t, c.SetWithTTL([]byte("goes"), []byte("x"), time.Second))
	clock.advance(int64(time.Second))
	require.True(t, c.View([]byte("viewed"), func(v []byte) {
		assert.True(t, janitorStep(c))
		assert.Equal(t, 1, c.Len())
		assert.Equal(t, "stays", string(v))
	}))
	mustCheck(t, c, "end")
}

// TestJanitorCompaction drives the compaction steps one by one on segments of exactly eight
// entries each: a dead segment is freed, a mostly dead one is moved into the tail, and with the
// tail nearly full a half-dead one is compacted in place and becomes the tail.
func TestJanitorCompaction(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	E := s.segSize / 8 &^ 7
	require.Equal(t, s.segSize, 8*E, "the test needs segments of eight such entries")
	vlen := valueLenFor(t, 3, E)
	key := func(i int) []byte { return fmt.Appendf(nil, "k%02d", i) }
	set := func(i int) { require.NoError(t, c.Set(key(i), valueFor(key(i), 0, vlen))) }
	readable := func(i int) {
		t.Helper()
		got, ok := c.Get(nil, key(i))
		require.True(t, ok, "key %d", i)
		require.Equal(t, valueFor(key(i), 0, vlen), got, "key %d", i)
	}
	for i := range 33 {
		set(i)
	}
	// The entries fill five segments in order. The first Set grabbed segment 0 for its entry,
	// then the index's first page took segment 1 out of the pool, held for pages: seg names
	// the entries' segments by rank.
	seg := queueOf(c)
	require.Equal(t, []arena.ID{0, 2, 3, 4, 5}, seg)
	require.Equal(t, 1, heldSegments(s))
	require.True(t, s.ar.IsHeld(1), "the index's pages are cut from segment 1")
	require.Equal(t, uint32(1), s.idx.hdr.pages)
	for i := range 33 {
		require.Equal(t, seg[i/8], segOfKey(t, c, key(i)))
	}
	used := entryBytes(c)
	assert.False(t, janitorStep(c), "nothing to do")

	// A dead segment is released.
	for i := range 8 {
		require.True(t, c.Delete(key(i)))
	}
	assert.Equal(t, uint32(0), s.ar.Seg(seg[0]).Live)
	assert.True(t, janitorStep(c))
	assert.Equal(t, seg[1:], queueOf(c))
	assert.Equal(t, used-8*E, entryBytes(c))
	mustCheck(t, c, "after releasing")

	// A segment with three live entries of eight moves into the tail, which has room for seven.
	for i := 8; i < 13; i++ {
		require.True(t, c.Delete(key(i)))
	}
	assert.True(t, janitorStep(c))
	assert.Equal(t, seg[2:], queueOf(c))
	assert.Equal(t, uint32(4*E), s.ar.Seg(seg[4]).Used)
	for i := 13; i < 16; i++ {
		readable(i)
		require.Equal(t, seg[4], segOfKey(t, c, key(i)))
	}
	assert.Equal(t, used-16*E+3*E, entryBytes(c))
	mustCheck(t, c, "after moving out")

	// Fill the tail to one free entry; a half-dead segment then cannot move there, so it is
	// compacted where it lies and becomes the tail.
	for i := 33; i < 36; i++ {
		set(i)
	}
	require.Equal(t, uint32(7*E), s.ar.Seg(seg[4]).Used)
	for i := 16; i < 20; i++ {
		require.True(t, c.Delete(key(i)))
	}
	assert.True(t, janitorStep(c))
	assert.Equal(t, []arena.ID{seg[3], seg[4], seg[2]}, queueOf(c))
	assert.Equal(t, uint32(4*E), s.ar.Seg(seg[2]).Used)
	assert.Equal(t, uint32(4*E), s.ar.Seg(seg[2]).Live)
	for i := 20; i < 24; i++ {
		readable(i)
		require.Equal(t, seg[2], segOfKey(t, c, key(i)))
	}
	mustCheck(t, c, "after compacting in place")

	// Half dead, but the tail has room for two while four live: the janitor waits for the tail.
	set(36)
	set(37)
	for i := 24; i < 28; i++ {
		require.True(t, c.Delete(key(i)))
	}
	assert.False(t, janitorStep(c))
	assert.Equal(t, []arena.ID{seg[3], seg[4], seg[2]}, queueOf(c))

	// Two live of eight fit the tail, but not while a View reads the segment.
	require.True(t, c.Delete(key(24+4)))
	require.True(t, c.Delete(key(24+5)))
	require.True(t, c.View(key(30), func(v []byte) {
		assert.False(t, janitorStep(c), "a pinned segment is not compacted")
		assert.Equal(t, valueFor(key(30), 0, vlen), v)
	}))
	assert.True(t, janitorStep(c))
	assert.Equal(t, []arena.ID{seg[4], seg[2]}, queueOf(c))
	readable(30)
	readable(31)
	mustCheck(t, c, "end")
	require.NoError(t, checkPools(c), "the segments the janitor freed are back in the pool")
	for i := range 38 {
		want := i >= 13 && i < 16 || i >= 20 && i < 24 || i >= 30
		require.Equal(t, want, c.Has(key(i)), "key %d", i)
		if want {
			readable(i)
		}
	}
	// k13-15, k20-23, k30-31, k32-35, k36-37.
	assert.Equal(t, 3+4+2+4+2, c.Len())
}

// TestOverwriteForever overwrites the same keys with values of changing size, so every write
// leaves garbage: the janitor's compaction must keep every key in the cache, round after round,
// without any eviction.
func TestOverwriteForever(t *testing.T) {
	leakCheck(t)
	for _, live := range []float64{0.25, 0.5, 0.8} {
		t.Run(fmt.Sprint(live), func(t *testing.T) {
			c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
			s := &c.e.shards[0]
			// The index's pages are cut from segments of the same pool; the entries have the
			// rest. The first Set (its value as in round 0) takes the index its first page.
			k0 := []byte("key-0000")
			require.NoError(t, c.Set(k0, valueFor(k0, 0, 300)))
			require.Equal(t, 1, heldSegments(s))
			arenaBytes := entrySegments(s) * s.segSize
			n := int(live * float64(arenaBytes) / 320)
			rounds := 100
			if testing.Short() {
				rounds = 20
			}
			for round := range rounds {
				for i := range n {
					k := fmt.Appendf(nil, "key-%04d", i)
					// 300 or 310 bytes: a different footprint each round, never in place.
					require.NoError(t, c.Set(k, valueFor(k, round, 300+10*((round+i)%2))))
				}
				if st := c.Stats(); st.Evictions != 0 || st.Entries != n {
					t.Fatalf("round %d: %d of %d keys, %d evictions, %d of %d bytes used", round, st.Entries, n, st.Evictions, st.UsedBytes, st.Capacity)
				}
				// The entries' share stays what n was measured against: one segment of pages
				// holds the index of n keys.
				require.Equal(t, 1, heldSegments(s), "round %d", round)
			}
			for i := range n {
				k := fmt.Appendf(nil, "key-%04d", i)
				got, ok := c.Get(nil, k)
				require.True(t, ok)
				require.Equal(t, valueFor(k, rounds-1, 300+10*((rounds-1+i)%2)), got)
			}
			mustCheck(t, c, "end")
			require.NoError(t, checkPools(c))
		})
	}
}
