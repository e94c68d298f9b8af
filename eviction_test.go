package mmcache

import (
	"encoding/binary"
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

// TestEvictionSecondChanceIsOnce: a read buys one more round, not a place forever.
func TestEvictionSecondChanceIsOnce(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	require.NoError(t, c.Set([]byte("once"), []byte("v")))
	_, ok := c.Get(nil, []byte("once"))
	require.True(t, ok)
	key := make([]byte, 8)
	survivedARound := false
	for i := range 40000 { // about eight times the capacity
		binary.BigEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, valueFor(key, 0, 200)))
		if i == 6000 { // past one full round of the clock
			survivedARound = c.Has([]byte("once"))
		}
	}
	assert.True(t, survivedARound, "the read gave it a second chance")
	assert.False(t, c.Has([]byte("once")), "but only one")
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
	n := perSeg * s.ar.Len()
	for i := range n {
		require.NoError(t, c.Set(key(i), valueFor(key(i), 0, vlen)))
	}
	require.Equal(t, n, c.Len(), "every segment full, nothing evicted")
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
}
