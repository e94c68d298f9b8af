package mmcache

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"testing"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queueOfKey returns the queue of shard 0 whose segments hold key's entry.
func queueOfKey(t testing.TB, c *Cache, key []byte) *arena.Queue {
	t.Helper()
	s := &c.e.shards[0]
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, pos, _, ok := s.lookup(c.e.hash(key), key)
	require.True(t, ok, "key %q", key)
	for _, q := range s.queues() {
		for x := q.Head(); x != arena.None; x = s.ar.Next(x) {
			if x == s.segOf(pos) {
				return q
			}
		}
	}
	t.Fatalf("key %q: its segment is in neither queue", key)
	return nil
}

// TestPolicyScanLeavesTheMainQueue: keys read before a long scan of keys never read stay,
// though they are read again only once in two cache turnovers: the scan passes through the
// small queue and never reaches them. A clock over one queue would evict each of them in
// every turnover it went unread. (Each hot key is written among three cold ones: a segment of
// the small queue keeps at most three quarters of itself, read or not.)
func TestPolicyScanLeavesTheMainQueue(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	hot := func(i int) []byte { return fmt.Appendf(nil, "hot %d", i) }
	const nhot = 300
	for i := range nhot {
		require.NoError(t, c.Set(hot(i), valueFor(hot(i), 0, 200)))
		_, ok := c.Get(nil, hot(i))
		require.True(t, ok)
		for j := range 3 {
			cold := fmt.Appendf(nil, "cold %d %d", i, j)
			require.NoError(t, c.Set(cold, valueFor(cold, 0, 200)))
		}
	}
	key := make([]byte, 8)
	capacity := 0
	for i := range 60000 {
		binary.BigEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
		if capacity == 0 && c.Stats().Evictions > 0 {
			capacity = c.Len()
		}
		if capacity != 0 && i%(2*capacity) == 0 {
			for j := range nhot {
				_, ok := c.Get(nil, hot(j))
				require.True(t, ok, "scan key %d: hot key %d is gone", i, j)
			}
		}
	}
	require.NotZero(t, capacity)
	require.Greater(t, 60000, 10*capacity, "the scan turns the cache over many times")
	for j := range nhot {
		assert.Same(t, s.q, queueOfKey(t, c, hot(j)), "hot key %d is in the main queue", j)
	}
	mustCheck(t, c, "end")
}

// TestPolicyGhostReadmits: a key the small queue evicted unread leaves a ghost in the index;
// written again while the ghost lasts, it goes straight to the main queue, and the ghost is
// gone. A key never seen goes to the small queue.
func TestPolicyGhostReadmits(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	first := []byte("first")
	require.NoError(t, c.Set(first, []byte("v")))
	key := make([]byte, 8)
	for i := 0; c.Has(first); i++ {
		binary.BigEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
	}
	h := c.e.hash(first)
	// ghostOf reports whether the page that fp leads to holds a ghost of fp.
	ghostOf := func(fp uint32) bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		pg, _ := s.idx.page(fp)
		for b := pg; b < pg+indexPageSize; b += bucketBytes {
			for m := s.idx.ghosts(b); m != 0; m &= m - 1 {
				if s.idx.fp(slot{b, bits.TrailingZeros32(m)}) == fp {
					return true
				}
			}
		}
		return false
	}
	require.True(t, ghostOf(fingerprint(h)), "the evicted key left a ghost")
	s.mu.RLock()
	_, _, _, ok := s.lookup(h, first)
	s.mu.RUnlock()
	require.False(t, ok, "a ghost is no entry")
	mustCheck(t, c, "with ghosts")

	require.NoError(t, c.Set(first, []byte("again")))
	assert.Same(t, s.q, queueOfKey(t, c, first), "readmitted to the main queue")
	assert.False(t, ghostOf(fingerprint(h)), "its ghost is gone")

	fresh := []byte("never seen")
	require.NoError(t, c.Set(fresh, []byte("v")))
	assert.Same(t, s.sq, queueOfKey(t, c, fresh), "a new key starts in the small queue")
	mustCheck(t, c, "end")
}

// TestPolicyCheckerSeesGhosts: the invariant checker refuses a ghost bit on a slot that names
// an entry, and counts no ghost in the overflow counts: a displaced slot turned into a ghost
// gives its count back, and a count left for it fails the check.
func TestPolicyCheckerSeesGhosts(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	key := []byte("k")
	require.NoError(t, c.Set(key, []byte("v")))
	s.lock()
	defer s.unlock()
	sl, pos, en, ok := s.lookup(c.e.hash(key), key)
	require.True(t, ok)
	meta := s.idx.meta(sl.bkt)
	*meta |= 1 << (ghostShift + sl.i)
	require.ErrorContains(t, s.checkLocked(), "names an entry and is a ghost")
	*meta &^= 1 << (ghostShift + sl.i)
	require.NoError(t, s.checkLocked())

	// A slot away from its home bucket, so that the bucket before it counts it as overflow.
	fp := s.idx.fp(sl)
	pg := sl.bkt &^ (indexPageSize - 1)
	moved := slot{nextBucket(home(pg, fp)), 0}
	require.Equal(t, uint32(0), s.idx.off(moved))
	s.idx.remove(sl)
	s.idx.setSlot(moved, fp, 1) // the offset does not matter: the slot becomes a ghost below
	s.idx.addOverflow(home(pg, fp), +1)
	s.idx.removeToGhost(moved)
	s.killEntry(pos, &en)
	s.entries--
	s.liveBytes -= len(key) + 1
	require.Equal(t, uint32(0), s.idx.overflow(home(pg, fp)), "the ghost gave its count back")
	require.NoError(t, s.checkLocked())
	s.idx.addOverflow(home(pg, fp), +1)
	require.ErrorContains(t, s.checkLocked(), "overflow count")
	s.idx.addOverflow(home(pg, fp), -1)
	s.idx.clearGhost(moved)
	require.NoError(t, s.checkLocked())
}
