package mmcache

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestViewReentrant calls every method from inside a View callback: none deadlocks, and the
// viewed bytes stay intact whatever the callback does to the cache.
func TestViewReentrant(t *testing.T) {
	leakCheck(t)
	c, err := New(Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1})
	require.NoError(t, err)
	defer c.Close()
	key, old := []byte("key"), bytes.Repeat([]byte("o"), 100)
	require.NoError(t, c.Set(key, old))
	require.NoError(t, c.Set([]byte("other"), []byte("x")))

	ok := c.View(key, func(v []byte) {
		// A same-sized overwrite would normally go in place; with the segment pinned it appends.
		require.NoError(t, c.Set(key, bytes.Repeat([]byte("n"), 100)))
		require.Equal(t, old, v)
		got, hit := c.Get(nil, key)
		require.True(t, hit)
		require.Equal(t, bytes.Repeat([]byte("n"), 100), got)
		require.True(t, c.View([]byte("other"), func(w []byte) { require.Equal(t, "x", string(w)) }))
		require.True(t, c.Has(key))
		_, hit = c.TTL(key)
		require.True(t, hit)
		require.True(t, c.Delete(key))
		c.Reset()
		require.Equal(t, 0, c.Len())
		require.Zero(t, c.Stats().Entries)
		// Fill the cache many times over: eviction must skip the pinned segment.
		for i := range 20000 {
			require.NoError(t, c.Set(fmt.Appendf(nil, "fill-%d", i), bytes.Repeat([]byte{byte(i)}, 200)))
		}
		require.Equal(t, old, v, "viewed bytes changed under the callback")
		require.NoError(t, c.check())
	})
	require.True(t, ok)
	require.NoError(t, c.check())
	require.Equal(t, 0, c.e.shards[0].q.Retired(), "the retired segment is freed when the view ends")
}

// TestAllSegmentsPinned holds a View on every segment of a shard, then asks for room: the Set
// fails with ErrBusy instead of waiting for callbacks that wait for it. The shard is the
// group's only one, so it may queue every segment of the pool but the one its index's pages
// are cut from.
func TestAllSegmentsPinned(t *testing.T) {
	leakCheck(t)
	c, err := New(Config{Capacity: MinCapacity, Shards: 1, MaxEntrySize: 100 << 10, JanitorInterval: -1})
	require.NoError(t, err)
	defer c.Close()
	s := &c.e.shards[0]
	// One 60 KiB entry per segment, enough to fill it past half so the next goes elsewhere.
	big := make([]byte, s.segSize/2+1)
	// The first Set takes the index its first page, and with it a segment held for pages.
	require.NoError(t, c.Set([]byte{0}, big))
	require.Equal(t, 1, heldSegments(s))
	nsegs := entrySegments(s)
	for i := 1; i < nsegs; i++ {
		require.NoError(t, c.Set([]byte{byte(i)}, big))
	}
	require.Equal(t, nsegs, c.Len())
	require.Equal(t, nsegs, s.queued(), "one entry per segment")
	require.Zero(t, freeSegments(s), "the shard holds every segment not held for pages")
	require.Equal(t, nsegs, entrySegments(s), "the index took no more pages' segment")
	var nest func(i int)
	nest = func(i int) {
		if i == nsegs {
			err := c.Set([]byte("one more"), big)
			require.ErrorIs(t, err, ErrBusy)
			return
		}
		require.True(t, c.View([]byte{byte(i)}, func([]byte) { nest(i + 1) }))
	}
	nest(0)
	require.NoError(t, c.Set([]byte("one more"), big), "room again once the views end")
	require.NoError(t, c.check())
	require.NoError(t, checkPools(c))
}

// TestLifecycleRaces runs Close, Reset and the janitor against every operation at once, many
// rounds, under -race: afterwards every call returns ErrClosed or a miss.
func TestLifecycleRaces(t *testing.T) {
	leakCheck(t)
	for round := range 20 {
		c, err := New(Config{Capacity: 4 << 20, JanitorInterval: 1}) // janitor as busy as it gets
		require.NoError(t, err)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				k := []byte{byte(g), 0}
				for i := range 3000 {
					k[1] = byte(i)
					switch i % 7 {
					case 0:
						_ = c.SetWithTTL(k, k, 1)
					case 1:
						_ = c.Set(k, bytes.Repeat(k, i%300))
					case 2:
						c.Get(nil, k)
					case 3:
						c.View(k, func(v []byte) { _ = bytes.Clone(v) })
					case 4:
						c.Delete(k)
					case 5:
						c.Has(k)
						c.TTL(k)
						c.Len()
						c.Stats()
					case 6:
						if g == 0 && i%500 == 6 {
							c.Reset()
						}
					}
				}
			}()
		}
		close(start)
		if round%2 == 0 {
			require.NoError(t, c.Close()) // while they run
		}
		wg.Wait()
		require.NoError(t, c.Close())
		require.ErrorIs(t, c.Set([]byte("k"), []byte("v")), ErrClosed)
		require.ErrorIs(t, c.SetWithTTL([]byte("k"), []byte("v"), 0), ErrClosed)
		_, ok := c.Get(nil, []byte("k"))
		require.False(t, ok)
		require.False(t, c.View([]byte("k"), func([]byte) { t.Fatal("called after Close") }))
		require.False(t, c.Has([]byte("k")))
		require.False(t, c.Delete([]byte("k")))
		_, ok = c.TTL([]byte("k"))
		require.False(t, ok)
		require.Equal(t, 0, c.Len())
		c.Reset()
		require.Zero(t, c.Stats().UsedBytes)
		require.True(t, c.e.released.Load())
	}
}

// TestResetWithEverySegmentPinned: View callbacks pin every segment of a one-shard cache, a
// Reset inside the innermost retires them all, and a Set then finds neither a free nor a queued
// segment. It must return ErrBusy; it used to index the arena's records with None and panic
// with the write lock held, wedging the shard for good.
//
// Every segment of the shard is every segment of the pool but the one held for the index's
// pages. Reset gives that one back to the pool with the index's last page; the Set that takes
// it for its entry then finds no segment left to cut an index page from, and is refused with
// ErrBusy all the same.
func TestResetWithEverySegmentPinned(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, MaxEntrySize: 100 << 10, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	big := make([]byte, s.segSize/2+1)
	require.NoError(t, c.Set([]byte{0}, big))
	require.Equal(t, 1, heldSegments(s), "a segment held for the index's first page")
	nsegs := entrySegments(s)
	for i := 1; i < nsegs; i++ {
		require.NoError(t, c.Set([]byte{byte(i)}, big))
	}
	require.Equal(t, nsegs, s.queued())
	require.Zero(t, freeSegments(s))
	var nest func(i int)
	nest = func(i int) {
		if i == nsegs {
			c.Reset()
			require.Equal(t, nsegs, s.q.Retired())
			require.Zero(t, heldSegments(s), "the index's segment went back with its pages")
			require.Equal(t, 1, freeSegments(s))
			require.ErrorIs(t, c.Set([]byte("after reset"), big), ErrBusy)
			require.ErrorIs(t, c.Set([]byte("small"), []byte("v")), ErrBusy)
			_, ok := c.Get(nil, []byte{0})
			require.False(t, ok, "Reset dropped every entry")
			require.NoError(t, checkPools(c))
			return
		}
		require.True(t, c.View([]byte{byte(i)}, func([]byte) { nest(i + 1) }))
	}
	nest(0)
	require.Zero(t, s.q.Retired(), "the last view out frees each retired segment")
	require.NoError(t, checkPools(c))
	require.NoError(t, c.Set([]byte("after the views"), big))
	v, ok := c.Get(nil, []byte("after the views"))
	require.True(t, ok)
	require.Len(t, v, len(big))
	require.NoError(t, checkPools(c))
}

// TestResetUnderConcurrentViews: the same with one goroutine per View on a default 64 MiB
// cache: each goroutine holds a View of an entry in its own segment until told to end it. The
// shards share one pool: between them they queue every segment of it but those held for their
// indexes' pages, which Reset gives back; a Set that takes one for its entry finds no page.
func TestResetUnderConcurrentViews(t *testing.T) {
	leakCheck(t)
	// MaxEntrySize set, so that a segment holds one entry of just over half its size.
	c := newCacheT(t, Config{Capacity: 64 << 20, MaxEntrySize: 256 << 10, JanitorInterval: -1}, nil, nil)
	require.Len(t, c.e.groups, 1)
	require.Greater(t, len(c.e.shards), 1)
	s0 := &c.e.shards[0]
	// Fill every segment of the pool with one entry each: large entries, one per segment,
	// every shard getting some.
	var keys [][]byte
	big := make([]byte, s0.segSize/2+1)
	for si := range c.e.shards {
		s := &c.e.shards[si]
		for i := 0; s.queued() == 0; i++ {
			k := fmt.Appendf(nil, "s%d-%d", si, i)
			if c.e.shardFor(c.e.hash(k)) != s {
				continue
			}
			require.NoError(t, c.Set(k, big))
			keys = append(keys, k)
		}
	}
	for i := 0; freeSegments(s0) > 0; i++ {
		k := fmt.Appendf(nil, "k%d", i)
		require.NoError(t, c.Set(k, big))
		keys = append(keys, k)
	}
	require.Equal(t, entrySegments(s0), queuedSegments(s0), "the shards hold every segment not held for pages")
	require.Equal(t, len(keys), queuedSegments(s0), "every segment holds an entry")
	require.Equal(t, len(keys), c.Len(), "nothing evicted")
	require.Zero(t, c.Stats().Evictions)
	end := holdViews(c, keys, nil)
	c.Reset()
	for i := range 100 {
		k := fmt.Appendf(nil, "new-%d", i)
		require.ErrorIs(t, c.Set(k, []byte("v")), ErrBusy, "every segment is retired and still read")
	}
	_, ok := c.Get(nil, keys[0])
	require.False(t, ok)
	require.NoError(t, checkPools(c))
	require.Empty(t, end())
	for si := range c.e.shards {
		require.Zero(t, c.e.shards[si].q.Retired(), "shard %d: the last view out frees each retired segment", si)
	}
	for i := range 100 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "new-%d", i), []byte("v")))
	}
	require.Equal(t, 100, c.Len())
	require.NoError(t, checkPools(c))
}
