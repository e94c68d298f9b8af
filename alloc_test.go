//go:build !mmcache_debug

// The mmcache_debug build checks invariants after every write, which allocates.

package mmcache

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allocSink int

// TestZeroAllocs: Get into a buffer with room, View, Set (in place, appended, and evicting),
// SetWithTTL, Delete, Has and TTL allocate nothing.
func TestZeroAllocs(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	key, value := make([]byte, 16), make([]byte, 64)
	for i := range 1000 {
		binary.LittleEndian.PutUint64(key, uint64(i))
		require.NoError(t, c.Set(key, value))
	}
	binary.LittleEndian.PutUint64(key, 7)
	buf := make([]byte, 0, 64)
	absent := []byte("absent")
	view := func(v []byte) { allocSink += len(v) }

	cases := map[string]func(){
		"Get": func() {
			if _, ok := c.Get(buf[:0], key); !ok {
				panic("miss")
			}
		},
		"Get miss": func() { c.Get(buf[:0], absent) },
		"View": func() {
			if !c.View(key, view) {
				panic("miss")
			}
		},
		"Has":          func() { c.Has(key) },
		"TTL":          func() { c.TTL(key) },
		"Set in place": func() { _ = c.Set(key, value) },
		"Set resized": func() {
			_ = c.Set(key, value[:len(value)-8])
			_ = c.Set(key, value)
		},
	}
	for name, f := range cases {
		assert.Zero(t, testing.AllocsPerRun(1000, f), name)
	}
	// New keys, many times the capacity: appends, segment changes and eviction.
	i := uint64(1 << 32)
	assert.Zero(t, testing.AllocsPerRun(200_000, func() {
		i++
		binary.LittleEndian.PutUint64(key, i)
		_ = c.SetWithTTL(key, value, time.Hour)
	}), "Set of new keys, evicting")
	require.NotZero(t, c.Stats().Evictions)
	// Delete: each run deletes a key set before.
	j := uint64(1 << 32)
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		j++
		binary.LittleEndian.PutUint64(key, j+190_000)
		_ = c.Set(key, value)
		if !c.Delete(key) {
			panic("Delete found nothing")
		}
	}), "Delete")
	mustCheck(t, c, "end")
}
