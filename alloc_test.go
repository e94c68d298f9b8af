//go:build !mmcache_debug

// The mmcache_debug build checks invariants after every write, which allocates.

package mmcache

import (
	"encoding/binary"
	"fmt"
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

// TestZeroAllocsKeyOrigins: a key that lives on the caller's stack, or comes from converting a
// string, stays there; every key-taking method allocates nothing for it. A key that escaped
// (through a test hook or an interface call, say) would cost one allocation per call here,
// which tests with heap-allocated keys cannot see. CI also checks the compiler's escape
// analysis for "leaking param: key". Each case calls the method directly on a key made in the
// closure, so that escape analysis sees the key's origin at the call.
func TestZeroAllocsKeyOrigins(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	value := make([]byte, 64)
	buf := make([]byte, 0, 64)
	view := func(v []byte) { allocSink += len(v) }
	// Built at run time, so that the compiler cannot fold the conversions.
	s16, s32 := fmt.Sprintf("%016d", 16), fmt.Sprintf("%032d", 32)
	require.NoError(t, c.Set([]byte(s16), value))
	require.NoError(t, c.Set([]byte(s32), value))

	cases := map[string]func(){
		"Get, [16]byte":  func() { var k [16]byte; copy(k[:], s16); buf, _ = c.Get(buf[:0], k[:]) },
		"Get, [32]byte":  func() { var k [32]byte; copy(k[:], s32); buf, _ = c.Get(buf[:0], k[:]) },
		"Get, string 16": func() { buf, _ = c.Get(buf[:0], []byte(s16)) },
		"Get, string 32": func() { buf, _ = c.Get(buf[:0], []byte(s32)) },

		"Has, [16]byte":  func() { var k [16]byte; copy(k[:], s16); c.Has(k[:]) },
		"Has, [32]byte":  func() { var k [32]byte; copy(k[:], s32); c.Has(k[:]) },
		"Has, string 16": func() { c.Has([]byte(s16)) },
		"Has, string 32": func() { c.Has([]byte(s32)) },

		"View, [16]byte":  func() { var k [16]byte; copy(k[:], s16); c.View(k[:], view) },
		"View, [32]byte":  func() { var k [32]byte; copy(k[:], s32); c.View(k[:], view) },
		"View, string 16": func() { c.View([]byte(s16), view) },
		"View, string 32": func() { c.View([]byte(s32), view) },

		"Set, [16]byte":  func() { var k [16]byte; copy(k[:], s16); _ = c.Set(k[:], value) },
		"Set, [32]byte":  func() { var k [32]byte; copy(k[:], s32); _ = c.Set(k[:], value) },
		"Set, string 16": func() { _ = c.Set([]byte(s16), value) },
		"Set, string 32": func() { _ = c.Set([]byte(s32), value) },

		// Deletes of keys set by the Set cases; after the first run they find nothing, which
		// takes the same path up to the lookup.
		"Delete, [16]byte":  func() { var k [16]byte; copy(k[:], s16); c.Delete(k[:]) },
		"Delete, [32]byte":  func() { var k [32]byte; copy(k[:], s32); c.Delete(k[:]) },
		"Delete, string 16": func() { c.Delete([]byte(s16)) },
		"Delete, string 32": func() { c.Delete([]byte(s32)) },
	}
	for name, f := range cases {
		assert.Zero(t, testing.AllocsPerRun(1000, f), name)
	}
}
