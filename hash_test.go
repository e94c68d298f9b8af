package mmcache

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
)

const floodKeys = 100_000

// floodKeySet returns 16-byte keys that an attacker who knows the algorithm but not the seed
// would craft: under seed 0 they all hash to the same shard and into the first 1/4096 of the
// buckets. Found by brute force once per test binary.
var floodKeySet = sync.OnceValue(craftFloodKeys)

// craftFloodKeys tries about 4e8 candidates; under the race detector that would take minutes.
//
//go:norace
func craftFloodKeys() [][]byte {
	keys := make([][]byte, 0, floodKeys)
	buf := make([]byte, 16*floodKeys)
	var k [16]byte
	for i := uint64(0); len(keys) < floodKeys; i++ {
		binary.LittleEndian.PutUint64(k[:8], i)
		binary.LittleEndian.PutUint64(k[8:], 0x6d6d6361636865) // "mmcache"
		if hashKey(k[:], 0)>>52 != 0 {
			continue
		}
		key := buf[len(keys)*16 : len(keys)*16+16 : len(keys)*16+16]
		copy(key, k[:])
		keys = append(keys, key)
	}
	return keys
}

func randomKeySet(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(i)*0x9e3779b97f4a7c15), uint64(i))
	}
	return keys
}

// maxProbeDistance returns the longest distance, in buckets, from a slot's home bucket to the
// bucket holding it, over the whole cache.
func maxProbeDistance(c *Cache) int {
	worst := 0
	for si := range c.e.shards {
		s := &c.e.shards[si]
		s.lock()
		s.idx.eachPage(func(p uint32) {
			pg := int(p) * indexPageSize
			for b := pg; b < pg+indexPageSize; b += bucketBytes {
				for i := range bucketSlots {
					if sl := (slot{b, i}); s.idx.off(sl) != 0 {
						h := (home(pg, s.idx.fp(sl)) - pg) / bucketBytes
						worst = max(worst, ((b-pg)/bucketBytes-h+pageBuckets)%pageBuckets)
					}
				}
			}
		})
		s.unlock()
	}
	return worst
}

// TestHashFlood shows that keys crafted to pile into one probe sequence under a known seed
// spread like random keys under the cache's own random seed, and that even under the known
// seed the damage stays bounded: probes never exceed the window, the cache stays consistent.
func TestHashFlood(t *testing.T) {
	leakCheck(t)
	crafted := floodKeySet()
	cfg := Config{Capacity: 64 << 20, Shards: 1, JanitorInterval: -1}
	fill := func(c *Cache, keys [][]byte) {
		for _, k := range keys {
			require.NoError(t, c.Set(k, k))
		}
	}

	// The attack works against a cache whose seed the attacker knows...
	known, err := newTestCache(cfg, nil, func(h uint64) uint64 { return h }) // seed 0
	require.NoError(t, err)
	defer known.Close()
	fill(known, crafted)
	require.Less(t, known.Len(), floodKeys/10, "crafted keys should crowd each other out under seed 0")
	require.LessOrEqual(t, maxProbeDistance(known), pageProbe-1)
	require.NoError(t, known.check())

	// ...and not against a cache with its own random seed: every key stays, and the probe
	// distances look like those of random keys.
	seeded, err := New(cfg)
	require.NoError(t, err)
	defer seeded.Close()
	fill(seeded, crafted)
	require.Equal(t, floodKeys, seeded.Len())
	for _, k := range crafted {
		v, ok := seeded.Get(nil, k)
		require.True(t, ok)
		require.Equal(t, k, v)
	}
	random, err := New(cfg)
	require.NoError(t, err)
	defer random.Close()
	fill(random, randomKeySet(floodKeys))
	require.Equal(t, floodKeys, random.Len())
	require.LessOrEqual(t, maxProbeDistance(seeded), maxProbeDistance(random)+2)
	require.NoError(t, seeded.check())
}

// BenchmarkHashFlood compares Set and Get of crafted keys with random keys on a seeded cache;
// docs/guarantees.md quotes the ratio.
func BenchmarkHashFlood(b *testing.B) {
	for _, set := range []struct {
		name string
		keys func() [][]byte
	}{{"crafted", floodKeySet}, {"random", func() [][]byte { return randomKeySet(floodKeys) }}} {
		keys := set.keys()
		c, err := New(Config{Capacity: 64 << 20, Shards: 1})
		require.NoError(b, err)
		for _, k := range keys {
			require.NoError(b, c.Set(k, k))
		}
		b.Run(fmt.Sprintf("keys=%s/op=set", set.name), func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				_ = c.Set(keys[i%len(keys)], keys[i%len(keys)])
			}
		})
		b.Run(fmt.Sprintf("keys=%s/op=get", set.name), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64)
			for i := range b.N {
				buf, _ = c.Get(buf[:0], keys[i%len(keys)])
			}
		})
		c.Close()
	}
}

// BenchmarkHash measures what the per-cache seed costs: the keyed hash against plain xxhash.
func BenchmarkHash(b *testing.B) {
	key := []byte("0123456789abcdef")
	b.Run("xxhash", func(b *testing.B) {
		var h uint64
		for range b.N {
			h += xxhash.Sum64(key)
		}
		sinkHash = h
	})
	b.Run("keyed", func(b *testing.B) {
		var h uint64
		for range b.N {
			h += hashKey(key, 0x1234)
		}
		sinkHash = h
	})
}

var sinkHash uint64
