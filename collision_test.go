package mmcache

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Forced hash collisions: a hash remap sends keys to chosen hashes. Colliding keys must all
// stay retrievable as long as their probe window has room, never return each other's values,
// and once the window is full, displace only each other.

func collisionKey(group, i int) []byte { return fmt.Appendf(nil, "g%d-key-%d", group, i) }

// collisionKeysPerGroup bounds the i of the collision keys that hashByGroup remaps; the tests
// also use i = 99999 for a key never stored.
const collisionKeysPerGroup = 1000

// hashByGroup makes collision keys of group g hash to hashes[g]. The remap sees only the real
// hash, under the seed 0 that a remap brings, so it looks that up among the keys' hashes.
func hashByGroup(hashes []uint64) func(uint64) uint64 {
	group := make(map[uint64]int)
	for g := range hashes {
		for i := range collisionKeysPerGroup {
			group[hashKey(collisionKey(g, i), 0)] = g
		}
		group[hashKey(collisionKey(g, 99999), 0)] = g
	}
	return func(h uint64) uint64 {
		if g, ok := group[h]; ok {
			return hashes[g]
		}
		panic("hashByGroup: not a collision key")
	}
}

func TestCollisionsOneHash(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash uint64
	}{
		// ^0: home is the last bucket, so the window wraps around; its high bits also make
		// int(h>>8) negative where int is 32 bits.
		{"home last bucket", ^uint64(0)},
		{"home first bucket", 0},
		{"home in the middle", 0x8000000012345678},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, hashByGroup([]uint64{tc.hash}))
			s := &c.e.shards[0]
			window := pageProbe * bucketSlots

			// A full window: every key is there with its own value.
			for i := range window {
				k := collisionKey(0, i)
				require.NoError(t, c.Set(k, valueFor(k, 0, 10+i)))
			}
			require.Equal(t, window, c.Len())
			require.Zero(t, c.Stats().Evictions)
			for i := range window {
				k := collisionKey(0, i)
				got, ok := c.Get(nil, k)
				require.True(t, ok, "key %d of %d", i, window)
				require.Equal(t, valueFor(k, 0, 10+i), got, "key %d", i)
			}
			mustCheck(t, c, "full window")
			// Every bucket of the window is full and the home bucket's overflow count says so.
			fp := fingerprint(tc.hash)
			pg, ok := s.idx.page(fp)
			require.True(t, ok)
			assert.Equal(t, uint32(window-bucketSlots), s.idx.overflow(home(pg, fp)))
			assert.Equal(t, uint32(1), s.idx.hdr.pages, "equal fingerprints split no page")

			// More keys: each evicts one entry of the home bucket, and is itself there.
			// Every key was read above, so the table's second chance finds no unread victim
			// at first: it must still pick one of the home bucket's slots.
			for i := window; i < 3*window; i++ {
				k := collisionKey(0, i)
				require.NoError(t, c.Set(k, valueFor(k, 0, 10+i)))
				got, ok := c.Get(nil, k)
				require.True(t, ok, "key %d, just written", i)
				require.Equal(t, valueFor(k, 0, 10+i), got)
				require.Equal(t, window, c.Len())
				require.Equal(t, uint64(i-window+1), c.Stats().Evictions)
				if i%16 == 0 {
					mustCheck(t, c, "after key %d", i)
				}
			}
			present := 0
			for i := range 3 * window {
				k := collisionKey(0, i)
				if got, ok := c.Get(nil, k); ok {
					present++
					require.Equal(t, valueFor(k, 0, 10+i), got, "key %d returned another key's value", i)
				}
			}
			assert.Equal(t, window, present)
			mustCheck(t, c, "end")

			// Deleting everything brings every overflow count back to zero.
			for i := range 3 * window {
				c.Delete(collisionKey(0, i))
			}
			require.Zero(t, c.Len())
			for b := pg; b < pg+indexPageSize; b += bucketBytes {
				require.Zero(t, s.idx.overflow(b), "bucket %d", (b-pg)/bucketBytes)
			}
			mustCheck(t, c, "after deleting all")
		})
	}
}

func TestCollisionsFourHashes(t *testing.T) {
	leakCheck(t)
	// Four fingerprints with the same home bucket that differ in their top two bits: they
	// start in one page and share one window, until splits give each a page of its own.
	hashes := []uint64{0x0000000000010000, 0x4000000000020000, 0x8000000000030000, 0xc000000000040000}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, hashByGroup(hashes))
	s := &c.e.shards[0]
	window := pageProbe * bucketSlots
	for i := range 2 * window {
		for g := range 4 {
			k := collisionKey(g, i)
			require.NoError(t, c.Set(k, valueFor(k, 1, 8+i%50)))
		}
	}
	require.Equal(t, 4*window, c.Len(), "each group keeps a full window")
	for g := range 4 {
		present := 0
		for i := range 2 * window {
			k := collisionKey(g, i)
			if got, ok := c.Get(nil, k); ok {
				present++
				require.Equal(t, valueFor(k, 1, 8+i%50), got)
			}
		}
		assert.Equal(t, window, present, "group %d", g)
	}
	assert.Equal(t, uint32(2), s.idx.hdr.depth)
	assert.Equal(t, uint32(4), s.idx.hdr.pages)
	mustCheck(t, c, "four groups")
}

func TestCollisionsSameTagAndHome(t *testing.T) {
	leakCheck(t)
	// Different hashes that share the fingerprint, and so the page and home bucket: only the
	// key comparison tells their entries apart. Together they share one window.
	hashes := []uint64{0x1234567800ab0000, 0x1234567800ab0001&^1 | 0x100, 0x1234567800ab1000, 0x1234567801ab0000}
	for _, h := range hashes[1:] {
		require.Equal(t, fingerprint(hashes[0]), fingerprint(h))
	}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, hashByGroup(hashes))
	window := pageProbe * bucketSlots
	// Same key text in every group apart from the group digit, and values that name the key.
	for i := range window / 4 {
		for g := range 4 {
			k := collisionKey(g, i)
			require.NoError(t, c.Set(k, k))
		}
	}
	require.Equal(t, window/4*4, c.Len())
	for i := range window / 4 {
		for g := range 4 {
			k := collisionKey(g, i)
			got, ok := c.Get(nil, k)
			require.True(t, ok)
			require.Equal(t, string(k), string(got))
		}
	}
	// A key that is absent but collides with all of them misses.
	_, ok := c.Get(nil, collisionKey(0, 99999))
	assert.False(t, ok)
	assert.False(t, c.Delete(collisionKey(1, 99999)))
	// Delete one group: the others stay.
	for i := range window / 4 {
		require.True(t, c.Delete(collisionKey(2, i)))
	}
	for i := range window / 4 {
		for g := range 4 {
			require.Equal(t, g != 2, c.Has(collisionKey(g, i)), "group %d key %d", g, i)
		}
	}
	mustCheck(t, c, "same tag and home")
}

// TestCollisionsEmptyAndPrefixKeys: keys that are prefixes of each other, with the same hash.
func TestCollisionsPrefixKeys(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, func(uint64) uint64 { return 42 << 16 })
	keys := [][]byte{nil, []byte("a"), []byte("aa"), []byte("aaa"), []byte("a\x00"), bytes.Repeat([]byte("a"), 1000)}
	for i, k := range keys {
		require.NoError(t, c.Set(k, []byte{byte(i)}))
	}
	for i, k := range keys {
		got, ok := c.Get(nil, k)
		require.True(t, ok)
		require.Equal(t, []byte{byte(i)}, got, "key %q", k)
	}
	require.True(t, c.Delete([]byte("aa")))
	assert.True(t, c.Has([]byte("a")))
	assert.True(t, c.Has([]byte("aaa")))
	assert.False(t, c.Has([]byte("aa")))
	mustCheck(t, c, "prefix keys")
}

// TestFullBucketPrefersExpired: when a full probe window needs room, an expired entry of the
// home bucket goes first, and counts as an expiration, not an eviction. Before, the first
// unread slot went, a live entry, counted as an eviction.
func TestFullBucketPrefersExpired(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, hashByGroup([]uint64{0x1234_5678_0042_0000}))
	window := pageProbe * bucketSlots
	for i := range window {
		k := collisionKey(0, i)
		ttl := time.Duration(0)
		if i == 5 { // the sixth slot of the home bucket
			ttl = time.Second
		}
		require.NoError(t, c.SetWithTTL(k, k, ttl))
	}
	clock.advance(int64(2 * time.Second))
	require.NoError(t, c.Set(collisionKey(0, window), []byte("new")))
	st := c.Stats()
	assert.Equal(t, uint64(1), st.Expirations)
	assert.Zero(t, st.Evictions)
	for i := range window + 1 {
		assert.Equal(t, i != 5, c.Has(collisionKey(0, i)), "key %d", i)
	}
}
