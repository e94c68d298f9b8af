package mmcache

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of GetWithTTL and Touch (ttl.go), on a fake clock so that every time is exact.

// ttlReadPaths runs fn once with lock-free reads (where the platform has them) and once with
// every read under the read lock.
func ttlReadPaths(t *testing.T, fn func(t *testing.T, locked bool)) {
	for _, locked := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockedReads=%v", locked), func(t *testing.T) { fn(t, locked) })
	}
}

// ttlSlotLookups is the number of lookups counted in the reader slots, that is made without
// the lock.
func ttlSlotLookups(c *Cache) uint64 {
	hits, misses := c.e.readers.counts()
	return hits + misses
}

// TestGetWithTTLExact: GetWithTTL returns the value and the exact time left on a fake clock,
// 0 for an entry without a TTL, and a miss (dst unchanged) for an absent or expired key, on
// the lock-free path and on the locked one; the reader slots' counters show which path ran.
func TestGetWithTTLExact(t *testing.T) {
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 2, JanitorInterval: -1}, clock, nil)
		c.e.lockedReads = locked
		lockFree := lockFreeReads && !locked
		require.Equal(t, lockFree, c.e.lockFree())

		require.NoError(t, c.SetWithTTL([]byte("ttl"), []byte("v1"), 10*time.Second))
		require.NoError(t, c.Set([]byte("forever"), []byte("v2")))
		clock.advance(int64(3 * time.Second))

		slots := ttlSlotLookups(c)
		v, ttl, ok := c.GetWithTTL(nil, []byte("ttl"))
		require.True(t, ok)
		require.Equal(t, "v1", string(v))
		require.Equal(t, 7*time.Second, ttl)

		// The value is appended to dst.
		buf := append(make([]byte, 0, 64), "pre-"...)
		v, ttl, ok = c.GetWithTTL(buf, []byte("forever"))
		require.True(t, ok)
		require.Equal(t, "pre-v2", string(v))
		require.Equal(t, time.Duration(0), ttl)

		// A miss returns dst as it was.
		v, ttl, ok = c.GetWithTTL(buf, []byte("absent"))
		require.False(t, ok)
		require.Equal(t, "pre-", string(v))
		require.Equal(t, time.Duration(0), ttl)

		// One nanosecond before the expiry, then at it: an entry expires at its expiry.
		clock.advance(int64(7*time.Second) - 1)
		v, ttl, ok = c.GetWithTTL(v[:0], []byte("ttl"))
		require.True(t, ok)
		require.Equal(t, "v1", string(v))
		require.Equal(t, time.Nanosecond, ttl)
		clock.advance(1)
		v, ttl, ok = c.GetWithTTL(nil, []byte("ttl"))
		require.False(t, ok)
		require.Nil(t, v)
		require.Equal(t, time.Duration(0), ttl)
		_, ok = c.TTL([]byte("ttl"))
		require.False(t, ok)

		// The entry without a TTL is there whatever the time.
		clock.advance(int64(1000 * time.Hour))
		v, ttl, ok = c.GetWithTTL(nil, []byte("forever"))
		require.True(t, ok)
		require.Equal(t, "v2", string(v))
		require.Equal(t, time.Duration(0), ttl)

		// Six GetWithTTL calls: counted in the reader slots exactly when reads are lock-free.
		if lockFree {
			require.Equal(t, slots+6, ttlSlotLookups(c))
		} else {
			require.Equal(t, slots, ttlSlotLookups(c))
		}
		mustCheck(t, c, "end")
	})
}

// TestGetWithTTLDefaultTTL: Set with Config.DefaultTTL reports that TTL, counted down.
func TestGetWithTTLDefaultTTL(t *testing.T) {
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1, DefaultTTL: time.Minute}, clock, nil)
		c.e.lockedReads = locked
		require.NoError(t, c.Set([]byte("k"), []byte("v")))
		clock.advance(int64(20 * time.Second))
		v, ttl, ok := c.GetWithTTL(nil, []byte("k"))
		require.True(t, ok)
		require.Equal(t, "v", string(v))
		require.Equal(t, 40*time.Second, ttl)
		clock.advance(int64(40 * time.Second))
		_, _, ok = c.GetWithTTL(nil, []byte("k"))
		require.False(t, ok)
	})
}

// TestGetWithTTLManyKeys: across shards, many keys each with its own TTL: each reports exactly
// its own time left.
func TestGetWithTTLManyKeys(t *testing.T) {
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, clock, nil)
		c.e.lockedReads = locked
		const n = 2000
		key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
		for i := range n {
			require.NoError(t, c.SetWithTTL(key(i), valueFor(key(i), 0, 10+i%40), time.Duration(i+1)*time.Millisecond))
		}
		clock.advance(int64(n/2) * int64(time.Millisecond))
		buf := make([]byte, 0, 64)
		for i := range n {
			v, ttl, ok := c.GetWithTTL(buf[:0], key(i))
			if i+1 <= n/2 {
				require.False(t, ok, "key %d expired", i)
				continue
			}
			require.True(t, ok, "key %d", i)
			require.Equal(t, valueFor(key(i), 0, 10+i%40), v)
			require.Equal(t, time.Duration(i+1-n/2)*time.Millisecond, ttl, "key %d", i)
		}
	})
}

// TestTouchInPlace: Touch of an entry that has a TTL rewrites its expiry in place: nothing is
// appended, the value stays, and the new TTL counts from the Touch.
func TestTouchInPlace(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	k := []byte("key")
	require.NoError(t, c.SetWithTTL(k, []byte("value"), 5*time.Second))
	require.NoError(t, c.Set([]byte("other"), []byte("x")))
	before := c.Stats()
	clock.advance(int64(2 * time.Second))

	ok, err := c.Touch(k, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	ttl, ok := c.TTL(k)
	require.True(t, ok)
	require.Equal(t, 10*time.Second, ttl)
	after := c.Stats()
	require.Equal(t, before, after, "an in-place Touch changes no counter or size")
	mustCheck(t, c, "after Touch")

	// Past the old expiry, before the new one.
	clock.advance(int64(10*time.Second) - 1)
	v, ttl, ok := c.GetWithTTL(nil, k)
	require.True(t, ok)
	require.Equal(t, "value", string(v))
	require.Equal(t, time.Nanosecond, ttl)
	clock.advance(1)
	require.False(t, c.Has(k))

	// Shorter than before: the expiry can come earlier too.
	require.NoError(t, c.SetWithTTL(k, []byte("value"), time.Hour))
	ok, err = c.Touch(k, time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	clock.advance(int64(time.Second))
	require.False(t, c.Has(k))
	// The janitor drops it at its new expiry.
	entries := c.Len()
	c.janitorPass()
	require.Equal(t, entries-1, c.Len())
	mustCheck(t, c, "end")
}

// TestTouchMovesEntryWithoutTTL: an entry written without a TTL has no room for an expiry, so a
// Touch with a TTL moves it once: the value, the entry count and the live bytes stay, the
// entry is appended once (UsedBytes grows by one entry with an expiry), and from then on
// Touch is in place.
func TestTouchMovesEntryWithoutTTL(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	for i := range 100 {
		k := fmt.Appendf(nil, "other-%d", i)
		require.NoError(t, c.Set(k, valueFor(k, 0, 30)))
	}
	k, val := []byte("moved"), valueFor([]byte("moved"), 1, 100)
	require.NoError(t, c.Set(k, val))
	before := c.Stats()

	ok, err := c.Touch(k, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	after := c.Stats()
	require.Equal(t, before.Entries, after.Entries)
	require.Equal(t, before.LiveBytes, after.LiveBytes)
	require.Equal(t, before.Sets, after.Sets, "Touch is not a Set")
	require.Equal(t, before.UsedBytes+entrySize(len(k), len(val), true), after.UsedBytes)
	mustCheck(t, c, "after the move")

	got, ttl, ok := c.GetWithTTL(nil, k)
	require.True(t, ok)
	require.Equal(t, val, got)
	require.Equal(t, 10*time.Second, ttl)

	// Now it has room for an expiry: a second Touch is in place.
	clock.advance(int64(4 * time.Second))
	ok, err = c.Touch(k, 20*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	want := after
	want.Hits++ // the GetWithTTL above
	require.Equal(t, want, c.Stats())
	ttl, ok = c.TTL(k)
	require.True(t, ok)
	require.Equal(t, 20*time.Second, ttl)

	// It expires with its new TTL, and the others, without one, stay.
	clock.advance(int64(20 * time.Second))
	require.False(t, c.Has(k))
	for i := range 100 {
		ok := c.Has(fmt.Appendf(nil, "other-%d", i))
		require.True(t, ok, "other-%d", i)
	}
	c.janitorPass()
	require.Equal(t, before.Entries-1, c.Len())
	require.Equal(t, uint64(1), c.Stats().Expirations)
	mustCheck(t, c, "end")
}

// TestTouchZeroNeverExpires: Touch with 0 makes an entry that had a TTL never expire: TTL and
// GetWithTTL report 0, it survives any advance of the clock and the janitor, on both read
// paths; a later Touch with a TTL gives it one again. Touch with 0 of an entry without a TTL
// changes nothing.
func TestTouchZeroNeverExpires(t *testing.T) {
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
		c.e.lockedReads = locked
		k := []byte("k")
		require.NoError(t, c.SetWithTTL(k, []byte("value"), time.Second))
		before := c.Stats()
		ok, err := c.Touch(k, 0)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, before, c.Stats(), "in place")

		check := func(what string) {
			t.Helper()
			ttl, ok := c.TTL(k)
			require.True(t, ok, what)
			require.Equal(t, time.Duration(0), ttl, what)
			v, ttl, ok := c.GetWithTTL(nil, k)
			require.True(t, ok, what)
			require.Equal(t, "value", string(v), what)
			require.Equal(t, time.Duration(0), ttl, what)
			require.True(t, c.Has(k), what)
		}
		check("just touched")
		clock.advance(int64(1000 * time.Hour))
		check("after 1000 hours")
		c.janitorPass()
		check("after a janitor pass")
		n := 0
		for key, v := range c.All() {
			require.Equal(t, "k", string(key))
			require.Equal(t, "value", string(v))
			n++
		}
		require.Equal(t, 1, n, "iteration yields it")
		require.Zero(t, c.Stats().Expirations)
		mustCheck(t, c, "never expires")

		// A TTL again, in place.
		ok, err = c.Touch(k, 2*time.Second)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, before.UsedBytes, c.Stats().UsedBytes)
		ttl, ok := c.TTL(k)
		require.True(t, ok)
		require.Equal(t, 2*time.Second, ttl)
		clock.advance(int64(2 * time.Second))
		require.False(t, c.Has(k))

		// Touch with 0 of an entry without a TTL: true, and nothing moves.
		require.NoError(t, c.Set([]byte("plain"), []byte("p")))
		st := c.Stats()
		ok, err = c.Touch([]byte("plain"), 0)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, st, c.Stats())
		ttl, ok = c.TTL([]byte("plain"))
		require.True(t, ok)
		require.Zero(t, ttl)
		mustCheck(t, c, "end")
	})
}

// TestTouchZeroSurvivesCompaction: an entry made never to expire by Touch(k, 0) keeps that
// when the janitor moves it to another segment.
func TestTouchZeroSurvivesCompaction(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	s := &c.e.shards[0]
	filler := func(i int) []byte { return fmt.Appendf(nil, "filler-%d", i) }
	n := 0
	const vlen = 1000
	for ; n < 10; n++ { // before the entry, so that compacting its segment moves it down
		require.NoError(t, c.Set(filler(n), valueFor(filler(n), 0, vlen)))
	}
	k := []byte("forever")
	require.NoError(t, c.SetWithTTL(k, []byte("value"), time.Second))
	ok, err := c.Touch(k, 0)
	require.NoError(t, err)
	require.True(t, ok)
	posOf := func() int {
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, pos, _, found := s.lookup(c.e.hash(k), k)
		require.True(t, found)
		return pos
	}
	pos := posOf()
	// Fillers over three segments, then deleted: the first segment is mostly dead, and the
	// janitor moves the entry out of it.
	for used := 0; used < 3*s.segSize; used += entrySize(len(filler(n)), vlen, false) {
		require.NoError(t, c.Set(filler(n), valueFor(filler(n), 0, vlen)))
		n++
	}
	for i := range n {
		require.True(t, c.Delete(filler(i)))
	}
	for range 4 {
		c.janitorPass()
	}
	require.NotEqual(t, pos, posOf(), "the janitor moved the entry")
	clock.advance(int64(1000 * time.Hour))
	c.janitorPass()
	ttl, ok := c.TTL(k)
	require.True(t, ok)
	require.Zero(t, ttl)
	v, ok := c.Get(nil, k)
	require.True(t, ok)
	require.Equal(t, "value", string(v))
	require.Equal(t, 1, c.Len())
	require.Zero(t, c.Stats().Expirations)
	mustCheck(t, c, "end")
}

// TestTouchAbsentExpiredNegativeClosed: Touch of an absent or expired key reports false and
// revives nothing; a negative ttl is ErrInvalidTTL and changes nothing; on a closed cache (and
// on the zero Cache) Touch is ErrClosed whatever the ttl.
func TestTouchAbsentExpiredNegativeClosed(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	k := []byte("k")

	ok, err := c.Touch([]byte("absent"), time.Second)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, c.Has([]byte("absent")))

	require.NoError(t, c.SetWithTTL(k, []byte("v"), 5*time.Second))
	before := c.Stats()
	for _, ttl := range []time.Duration{-1, -time.Hour} {
		ok, err = c.Touch(k, ttl)
		require.ErrorIs(t, err, ErrInvalidTTL)
		require.False(t, ok)
	}
	require.Equal(t, before, c.Stats())
	ttl, ok := c.TTL(k)
	require.True(t, ok)
	require.Equal(t, 5*time.Second, ttl)

	clock.advance(int64(5 * time.Second))
	for _, ttl := range []time.Duration{0, time.Hour} {
		ok, err = c.Touch(k, ttl)
		require.NoError(t, err)
		require.False(t, ok, "an expired entry is absent")
	}
	require.False(t, c.Has(k))
	_, ok = c.TTL(k)
	require.False(t, ok)
	c.janitorPass()
	require.Equal(t, uint64(1), c.Stats().Expirations)
	require.Zero(t, c.Len())
	mustCheck(t, c, "before Close")

	require.NoError(t, c.SetWithTTL(k, []byte("v"), time.Hour))
	require.NoError(t, c.Close())
	for _, ttl := range []time.Duration{-1, 0, time.Second} {
		ok, err = c.Touch(k, ttl)
		require.ErrorIs(t, err, ErrClosed, "ttl %v", ttl)
		require.False(t, ok)
	}
	v, ttl, ok := c.GetWithTTL([]byte("dst"), k)
	require.False(t, ok)
	require.Equal(t, "dst", string(v))
	require.Zero(t, ttl)

	var zero Cache
	for _, ttl := range []time.Duration{-1, 0, time.Second} {
		ok, err = zero.Touch(k, ttl)
		require.ErrorIs(t, err, ErrClosed)
		require.False(t, ok)
	}
	v, ttl, ok = zero.GetWithTTL(nil, k)
	require.False(t, ok)
	require.Nil(t, v)
	require.Zero(t, ttl)
}

// TestTouchMovingInAFullCache: Touch of entries without a TTL in a full cache moves each, which
// evicts others; a Touch reports true unless its own entry was evicted to make room, the
// invariants hold, and every entry left has its value.
func TestTouchMovingInAFullCache(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, nil)
	key, n, vlen := fillPastCapacity(t, c)
	touched := 0
	for i := range n {
		had := c.Has(key(i))
		ok, err := c.Touch(key(i), time.Hour)
		require.NoError(t, err)
		if !had {
			require.False(t, ok, "key %d was absent", i)
			continue
		}
		if ok {
			touched++
			ttl, live := c.TTL(key(i))
			require.True(t, live, "key %d just touched", i)
			require.Equal(t, time.Hour, ttl)
		} else {
			require.False(t, c.Has(key(i)), "Touch of key %d reported false but the key is there", i)
		}
		if i%500 == 0 {
			mustCheck(t, c, "after touching key %d", i)
		}
	}
	require.Positive(t, touched)
	present := 0
	for i := range n {
		if v, ok := c.Get(nil, key(i)); ok {
			present++
			require.Equal(t, valueFor(key(i), 0, vlen), v)
			ttl, ok := c.TTL(key(i))
			require.True(t, ok)
			require.Equal(t, time.Hour, ttl, "key %d: every entry left was touched", i)
		}
	}
	require.Equal(t, c.Len(), present)
	mustCheck(t, c, "end")
}

// TestTouchShorterTTLReachesTheJanitor: a Touch that brings an entry's expiry forward is seen
// by the janitor, which drops the entry at its new expiry rather than at the old one.
func TestTouchShorterTTLReachesTheJanitor(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	k := []byte("k")
	require.NoError(t, c.SetWithTTL(k, []byte("v"), time.Hour))
	for i := range 50 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "plain-%d", i), []byte("p")))
	}
	c.janitorPass() // nothing to do
	require.Equal(t, 51, c.Len())
	ok, err := c.Touch(k, time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	clock.advance(int64(time.Second))
	require.False(t, c.Has(k))
	c.janitorPass()
	require.Equal(t, 50, c.Len(), "the janitor dropped the entry at its new expiry")
	require.Equal(t, uint64(1), c.Stats().Expirations)
	mustCheck(t, c, "end")
}

// TestGetWithTTLAtomicUnderWrites: a writer overwrites one entry in place, alternately with
// (value 1, TTL 1h) and (value 2, TTL 2h), while readers call GetWithTTL: every read returns a
// whole value with the TTL written with it, never one from each write, on both read paths.
func TestGetWithTTLAtomicUnderWrites(t *testing.T) {
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock() // never moves: a TTL read is exactly the one written
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
		c.e.lockedReads = locked
		k := []byte("k")
		v1, v2 := valueFor(k, 1, 4096), valueFor(k, 2, 4096)
		require.NoError(t, c.SetWithTTL(k, v1, time.Hour))
		writes := 20_000
		switch {
		case debug:
			writes = 1000 // every write checks the shard's invariants
		case testing.Short() || testsUnderRace():
			writes = 4000
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var problems []string
		var reads atomic.Int64
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 0, 4096)
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					if i%64 == 63 {
						runtime.Gosched() // leave the writer a core: the debug build's writes are slow
					}
					v, ttl, ok := c.GetWithTTL(buf[:0], k)
					reads.Add(1)
					var bad string
					switch {
					case !ok:
						bad = "miss"
					case ttl == time.Hour && bytes.Equal(v, v1), ttl == 2*time.Hour && bytes.Equal(v, v2):
					default:
						bad = fmt.Sprintf("ttl %v with a value of %d bytes, first byte %#x", ttl, len(v), v[0])
					}
					if bad != "" {
						mu.Lock()
						problems = append(problems, bad)
						mu.Unlock()
						return
					}
				}
			}()
		}
		for i := range writes {
			if i%2 == 0 {
				require.NoError(t, c.SetWithTTL(k, v2, 2*time.Hour))
			} else {
				require.NoError(t, c.SetWithTTL(k, v1, time.Hour))
			}
		}
		close(done)
		wg.Wait()
		require.Empty(t, problems)
		require.Equal(t, 1, c.Len())
		st := c.Stats()
		require.Equal(t, uint64(reads.Load()), st.Hits, "every GetWithTTL counted as a hit")
		require.Zero(t, st.Misses)
		mustCheck(t, c, "end")
	})
}

// TestTouchKeepsItsOwnEntry: Touch of a live entry reports true and keeps the entry, with its
// value and its new TTL, even when moving it (an entry written without a TTL) makes room by
// evicting: as documented, such a Touch "may evict other entries as a Set would", and "if
// room cannot be had, Touch returns an error wrapping ErrBusy and the entry stays as it was".
// Here every key present in a full cache of entries never read is touched in turn; an
// eviction that a Touch causes must never take the touched entry itself.
func TestTouchKeepsItsOwnEntry(t *testing.T) {
	leakCheck(t)
	rec := &rmRecorder{}
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1, OnRemoval: rec.record}, newFakeClock(), nil)
	key, n, vlen := fillPastCapacity(t, c)
	rec.take()
	var lost []string
	touched := 0
	for i := range n {
		k := key(i)
		if !c.Has(k) { // Has is not a use: every entry stays unread
			continue
		}
		ok, err := c.Touch(k, time.Hour)
		events := rec.take()
		if errors.Is(err, ErrBusy) {
			v, found := c.Get(nil, k)
			require.True(t, found, "key %d: Touch returned ErrBusy and lost the entry", i)
			require.Equal(t, valueFor(k, 0, vlen), v)
			continue
		}
		require.NoError(t, err)
		for _, ev := range events {
			if ev.key == string(k) {
				lost = append(lost, fmt.Sprintf("Touch(%s) = %v, %v, and that Touch reported the entry %v (%d removals in all)", k, ok, err, ev.cause, len(events)))
			}
		}
		if !ok {
			if len(lost) == 0 || !strings.HasPrefix(lost[len(lost)-1], fmt.Sprintf("Touch(%s)", k)) {
				lost = append(lost, fmt.Sprintf("Touch(%s) = false, nil for a live entry", k))
			}
			continue
		}
		touched++
		v, ttl, found := c.GetWithTTL(nil, k)
		require.True(t, found, "key %d", i)
		require.Equal(t, valueFor(k, 0, vlen), v)
		require.Equal(t, time.Hour, ttl)
	}
	require.Positive(t, touched)
	if len(lost) > 0 {
		t.Errorf("%d of the live entries touched were evicted by their own Touch (%d touched and kept); the first ones:\n%s",
			len(lost), touched, strings.Join(lost[:min(len(lost), 5)], "\n"))
	}
	mustCheck(t, c, "end")
}

// fillPastCapacity writes about twice what c, a one-shard MinCapacity cache, holds, with keys
// key(0) to key(n-1), values of vlen bytes and no TTL, so that it has evicted and is full. Fewer, larger entries in
// the debug build, where every write walks its shard, and under the race detector.
func fillPastCapacity(t *testing.T, c *Cache) (key func(int) []byte, n, vlen int) {
	t.Helper()
	key = func(i int) []byte { return fmt.Appendf(nil, "key-%05d", i) }
	n, vlen = 8000, 200
	switch {
	case debug:
		n, vlen = 800, 2000
	case testsUnderRace():
		n, vlen = 4000, 400
	}
	for i := range n {
		require.NoError(t, c.Set(key(i), valueFor(key(i), 0, vlen)))
	}
	require.NotZero(t, c.Stats().Evictions)
	return key, n, vlen
}
