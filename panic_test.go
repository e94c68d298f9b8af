//go:build mmcache_debug

package mmcache

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/require"
)

// TestInjectedPanics injects a panic at every panic point (panicpoints.go), each reached by the
// operation that passes it, and checks that the panic reaches the caller and leaves the cache
// whole: no lock held, no segment pinned, no reader slot owned, every invariant true, every
// entry either gone or holding its own value, and every method answering.
func TestInjectedPanics(t *testing.T) {
	type scenario struct {
		name  string
		point panicPoint
		cfg   Config
		remap func(uint64) uint64
		prep  func(t *testing.T, c *Cache, clock *fakeClock) // before the panic is armed
		act   func(t *testing.T, c *Cache, clock *fakeClock) // must pass the point
	}
	small := Config{Capacity: MinCapacity, Shards: 1, MaxEntrySize: 16 << 10, JanitorInterval: -1}
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
	fill := func(n, vlen int) func(*testing.T, *Cache, *fakeClock) {
		return func(t *testing.T, c *Cache, _ *fakeClock) {
			for i := range n {
				require.NoError(t, c.Set(key(i), valueFor(key(i), 0, vlen)))
			}
		}
	}
	read := func(op func(c *Cache)) func(*testing.T, *Cache, *fakeClock) {
		return func(_ *testing.T, c *Cache, _ *fakeClock) {
			c.e.lockedReads = true // the locked path; the lock-free one has its own point
			op(c)
		}
	}
	scenarios := []scenario{
		{"Get under the read lock", pointReadLocked, small, nil, fill(10, 50), read(func(c *Cache) { c.Get(nil, key(1)) })},
		{"View under the read lock", pointReadLocked, small, nil, fill(10, 50), read(func(c *Cache) { c.View(key(1), func([]byte) {}) })},
		{"Has under the read lock", pointReadLocked, small, nil, fill(10, 50), read(func(c *Cache) { c.Has(key(1)) })},
		{"TTL under the read lock", pointReadLocked, small, nil, fill(10, 50), read(func(c *Cache) { c.TTL(key(1)) })},
		{"Len under the read lock", pointReadLocked, small, nil, fill(10, 50), read(func(c *Cache) { c.Len() })},
		{"Stats under the read lock", pointReadLocked, small, nil, fill(10, 50), read(func(c *Cache) { c.Stats() })},
		{"Set under the write lock", pointWriteLocked, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) {
			_ = c.Set(key(100), []byte("v"))
		}},
		{"Delete under the write lock", pointWriteLocked, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) {
			c.Delete(key(1))
		}},
		{"Set overwriting in place", pointOverwrite, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) {
			_ = c.Set(key(1), valueFor(key(1), 1, 50))
		}},
		{"Set appending", pointAppend, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) {
			_ = c.Set(key(1), valueFor(key(1), 1, 70))
		}},
		{"Set into a full probe window", pointBucketFull, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1},
			func(uint64) uint64 { return 7 << 16 }, // every key collides
			func(t *testing.T, c *Cache, _ *fakeClock) {
				for i := range pageProbe * bucketSlots {
					require.NoError(t, c.Set(key(i), valueFor(key(i), 0, 20)))
				}
			},
			func(t *testing.T, c *Cache, _ *fakeClock) { _ = c.Set(key(100000), []byte("one too many")) }},
		{"Set splitting an index page", pointSplit, small, nil, nil, func(t *testing.T, c *Cache, _ *fakeClock) {
			fill(2000, 10)(t, c, nil)
		}},
		{"Set evicting", pointEvict, small, nil, nil, func(t *testing.T, c *Cache, _ *fakeClock) {
			fill(100_000, 200)(t, c, nil)
		}},
		{"compaction under eviction", pointCompact, small, nil, nil, func(t *testing.T, c *Cache, _ *fakeClock) {
			fill(100_000, 200)(t, c, nil)
		}},
		{"janitor moving a segment out", pointMoveOut, small, nil, fill(2000, 100), func(t *testing.T, c *Cache, _ *fakeClock) {
			for i := range 1990 {
				if i%10 != 0 {
					c.Delete(key(i)) // each segment but the tail keeps a tenth
				}
			}
			c.janitorPass()
		}},
		{"janitor expiring", pointExpire, small, nil, func(t *testing.T, c *Cache, _ *fakeClock) {
			for i := range 100 {
				require.NoError(t, c.SetWithTTL(key(i), valueFor(key(i), 0, 50), time.Second))
			}
		}, func(t *testing.T, c *Cache, clock *fakeClock) {
			clock.advance(int64(2 * time.Second))
			c.janitorPass()
		}},
		{"janitor step", pointJanitor, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) { c.janitorPass() }},
		{"Reset", pointReset, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) { c.Reset() }},
		{"end of a View whose segment Reset retired", pointEndView, small, nil, fill(10, 50), func(t *testing.T, c *Cache, _ *fakeClock) {
			c.View(key(1), func([]byte) { c.Reset() })
		}},
		{"Close", pointClose, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, nil, fill(100, 50), func(t *testing.T, c *Cache, _ *fakeClock) {
			_ = c.Close()
		}},
	}
	if lockFreeReads {
		scenarios = append(scenarios, scenario{"lock-free Get", pointLockFree, small, nil, fill(10, 50),
			func(t *testing.T, c *Cache, _ *fakeClock) { c.Get(nil, key(1)) }})
	}
	covered := map[panicPoint]bool{}
	for _, sc := range scenarios {
		covered[sc.point] = true
		t.Run(sc.name, func(t *testing.T) {
			leakCheck(t)
			clock := newFakeClock()
			c := newCacheT(t, sc.cfg, clock, sc.remap)
			if sc.prep != nil {
				sc.prep(t, c, clock)
			}
			injectPanic.Store(uint32(sc.point))
			got := func() (p any) {
				defer func() { p = recover() }()
				sc.act(t, c, clock)
				return nil
			}()
			injectPanic.Store(0)
			require.Equal(t, injectedPanic{sc.point}, got, "the panic reaches the caller")
			// A panic under a write lock empties that one shard; under a read lock, or with
			// none, nothing was being changed and nothing is emptied.
			salvaged := 0
			for i := range c.e.shards {
				salvaged += int(c.e.shards[i].salvages)
			}
			switch sc.point {
			case pointReadLocked, pointLockFree, pointClose:
				require.Zero(t, salvaged)
			default:
				require.Equal(t, 1, salvaged)
			}
			requireWhole(t, c, key)
		})
	}
	for p := panicPoint(1); p < numPanicPoints; p++ {
		if p == pointLockFree && !lockFreeReads {
			continue // no lock-free reads on this platform: the point is never passed
		}
		require.True(t, covered[p], "no scenario passes panic point %q", p)
	}
}

// requireWhole checks a cache after an injected panic: see TestInjectedPanics.
func requireWhole(t *testing.T, c *Cache, key func(int) []byte) {
	t.Helper()
	e := c.e
	require.True(t, shardsUnlocked(c, 5*time.Second), "a shard lock is still held")
	for i := range e.readers.slots {
		require.Zero(t, e.readers.slots[i].state&1, "reader slot %d is still owned", i)
	}
	require.Zero(t, e.views.Load(), "a view is still counted")
	if e.closed.Load() {
		require.True(t, e.released.Load(), "closed, but the mapping was not released")
		assertClosed(t, c)
		return
	}
	for si := range e.shards {
		s := &e.shards[si]
		for id := range s.ar.Len() {
			require.Zero(t, s.ar.Pins(arena.ID(id)), "shard %d segment %d is still pinned", si, id)
		}
	}
	require.NoError(t, c.check())
	// Every entry left holds its own value (any version); salvaged shards hold none.
	for i := range 100_000 {
		k := key(i)
		if v, ok := c.Get(nil, k); ok {
			require.True(t, ownValue(k, v), "key %q holds another value", k)
		}
	}
	// And the cache answers.
	require.NoError(t, c.Set([]byte("after"), []byte("the panic")))
	v, ok := c.Get(nil, []byte("after"))
	require.True(t, ok)
	require.Equal(t, "the panic", string(v))
	require.True(t, c.View([]byte("after"), func(v []byte) { require.Equal(t, "the panic", string(v)) }))
	require.True(t, c.Delete([]byte("after")))
	c.Reset()
	require.Zero(t, c.Len())
	require.NoError(t, c.check())
}

// ownValue reports whether v is valueFor(k, version, len(v)) for a small version.
func ownValue(k, v []byte) bool {
	for version := range 4 {
		if bytes.Equal(v, valueFor(k, version, len(v))) {
			return true
		}
	}
	return false
}
