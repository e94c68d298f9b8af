//go:build !mmcache_debug

// The mmcache_debug build checks invariants after every write, which allocates; hence a file
// of its own, as alloc_test.go.

package mmcache

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZeroAllocsNewAPI: GetWithTTL into a dst with room, Touch of an entry with a TTL,
// SetIfAbsent storing (not storing: TestZeroAllocsSetIfAbsentPresent), GetOrSet into a dst with room (loading and storing) and
// CompareAndSwap (swapping and not) allocate nothing, with a key on the caller's stack
// ([16]byte, [32]byte) and with a key converted from a string in the call. Each case makes its
// key in the closure, so that escape analysis sees the key's origin at the call.
func TestZeroAllocsNewAPI(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	value := make([]byte, 64)
	other := make([]byte, 64)
	other[0] = 1
	buf := make([]byte, 0, 64)
	// Built at run time, so that the compiler cannot fold the conversions.
	s16, s32 := fmt.Sprintf("%016d", 16), fmt.Sprintf("%032d", 32)
	t16, t32 := fmt.Sprintf("t%015d", 16), fmt.Sprintf("t%031d", 32) // with a TTL
	a16, a32 := fmt.Sprintf("a%015d", 16), fmt.Sprintf("a%031d", 32) // absent between runs
	w16, w32 := fmt.Sprintf("w%015d", 16), fmt.Sprintf("w%031d", 32) // swapped
	x16, x32 := fmt.Sprintf("x%015d", 16), fmt.Sprintf("x%031d", 32) // swapped
	for _, k := range []string{s16, s32, w16, w32, x16, x32} {
		require.NoError(t, c.Set([]byte(k), value))
	}
	for _, k := range []string{t16, t32} {
		require.NoError(t, c.SetWithTTL([]byte(k), value, time.Hour))
	}
	// swap alternates the value of a swapped key between value and other: each run swaps.
	flip := map[string]bool{}
	// No key is passed to these checks: one that reached fmt would escape, and allocate.
	swap := func(ok bool, err error) {
		if err != nil || !ok {
			panic(fmt.Sprintf("CompareAndSwap: %v, %v", ok, err))
		}
	}
	oldNew := func(name string) ([]byte, []byte) {
		f := flip[name]
		flip[name] = !f
		if f {
			return other, value
		}
		return value, other
	}
	// Looked up before the runs, so that the map's own work is not counted.
	flip["cas16"], flip["cas32"], flip["casS16"], flip["casS32"] = false, false, false, false
	hit := func(ok bool) {
		if !ok {
			panic("miss")
		}
	}
	stored := func(want bool) func(bool, error) {
		return func(ok bool, err error) {
			if err != nil || ok != want {
				panic(fmt.Sprintf("stored %v, want %v: %v", ok, want, err))
			}
		}
	}
	storeAndDelete := func(k []byte, ok bool, err error) {
		stored(true)(ok, err)
		if !c.Delete(k) {
			panic("Delete found nothing")
		}
	}

	cases := map[string]func(){
		"GetWithTTL, [16]byte": func() {
			var k [16]byte
			copy(k[:], t16)
			var ok bool
			buf, _, ok = c.GetWithTTL(buf[:0], k[:])
			hit(ok)
		},
		"GetWithTTL, [32]byte": func() {
			var k [32]byte
			copy(k[:], t32)
			var ok bool
			buf, _, ok = c.GetWithTTL(buf[:0], k[:])
			hit(ok)
		},
		"GetWithTTL, string 16": func() { var ok bool; buf, _, ok = c.GetWithTTL(buf[:0], []byte(s16)); hit(ok) },
		"GetWithTTL, string 32": func() { var ok bool; buf, _, ok = c.GetWithTTL(buf[:0], []byte(t32)); hit(ok) },
		"GetWithTTL miss":       func() { buf, _, _ = c.GetWithTTL(buf[:0], []byte(a16)) },

		"Touch, [16]byte":  func() { var k [16]byte; copy(k[:], t16); stored(true)(c.Touch(k[:], time.Hour)) },
		"Touch, [32]byte":  func() { var k [32]byte; copy(k[:], t32); stored(true)(c.Touch(k[:], time.Hour)) },
		"Touch, string 16": func() { stored(true)(c.Touch([]byte(t16), time.Hour)) },
		"Touch, string 32": func() { stored(true)(c.Touch([]byte(t32), 2*time.Hour)) },
		"Touch absent":     func() { stored(false)(c.Touch([]byte(a16), time.Hour)) },

		"SetIfAbsent absent, [16]byte": func() {
			var k [16]byte
			copy(k[:], a16)
			ok, err := c.SetIfAbsent(k[:], value, 0)
			storeAndDelete(k[:], ok, err)
		},
		"SetIfAbsent absent, [32]byte": func() {
			var k [32]byte
			copy(k[:], a32)
			ok, err := c.SetIfAbsent(k[:], value, time.Hour)
			storeAndDelete(k[:], ok, err)
		},
		"SetIfAbsent absent, string 16": func() {
			ok, err := c.SetIfAbsent([]byte(a16), value, 0)
			storeAndDelete([]byte(a16), ok, err)
		},

		"GetOrSet loaded, [16]byte": func() {
			var k [16]byte
			copy(k[:], s16)
			var loaded bool
			var err error
			buf, loaded, err = c.GetOrSet(buf[:0], k[:], value, 0)
			stored(true)(loaded, err)
		},
		"GetOrSet loaded, [32]byte": func() {
			var k [32]byte
			copy(k[:], s32)
			var loaded bool
			var err error
			buf, loaded, err = c.GetOrSet(buf[:0], k[:], value, 0)
			stored(true)(loaded, err)
		},
		"GetOrSet loaded, string 16": func() {
			var loaded bool
			var err error
			buf, loaded, err = c.GetOrSet(buf[:0], []byte(s16), value, 0)
			stored(true)(loaded, err)
		},
		"GetOrSet stored, [16]byte": func() {
			var k [16]byte
			copy(k[:], a16)
			var loaded bool
			var err error
			buf, loaded, err = c.GetOrSet(buf[:0], k[:], value, 0)
			storeAndDelete(k[:], !loaded, err)
		},
		"GetOrSet stored, string 32": func() {
			var loaded bool
			var err error
			buf, loaded, err = c.GetOrSet(buf[:0], []byte(a32), value, time.Hour)
			storeAndDelete([]byte(a32), !loaded, err)
		},

		"CompareAndSwap, [16]byte": func() {
			var k [16]byte
			copy(k[:], w16)
			o, n := oldNew("cas16")
			ok, err := c.CompareAndSwap(k[:], o, n, 0)
			swap(ok, err)
		},
		"CompareAndSwap, [32]byte": func() {
			var k [32]byte
			copy(k[:], w32)
			o, n := oldNew("cas32")
			ok, err := c.CompareAndSwap(k[:], o, n, 0)
			swap(ok, err)
		},
		"CompareAndSwap, string 16": func() {
			o, n := oldNew("casS16")
			ok, err := c.CompareAndSwap([]byte(x16), o, n, 0)
			swap(ok, err)
		},
		"CompareAndSwap, string 32": func() {
			o, n := oldNew("casS32")
			ok, err := c.CompareAndSwap([]byte(x32), o, n, time.Hour)
			swap(ok, err)
		},
		"CompareAndSwap fails, string 16": func() {
			stored(false)(c.CompareAndSwap([]byte(s16), other, value, 0))
		},
		"CompareAndSwap absent, string 32": func() {
			stored(false)(c.CompareAndSwap([]byte(a32), value, other, 0))
		},
	}
	for name, f := range cases {
		assert.Zero(t, testing.AllocsPerRun(1000, f), name)
	}
	// The swapped keys ended on one of the two values, and the others are as they were.
	for _, k := range []string{w16, w32, x16, x32} {
		got, ok := c.Get(nil, []byte(k))
		require.True(t, ok)
		require.Contains(t, [][]byte{value, other}, got)
	}
	require.Equal(t, 8, c.Len())
	mustCheck(t, c, "end")
}

// TestZeroAllocsSetIfAbsentPresent: SetIfAbsent that finds a live entry, and so stores nothing,
// allocates nothing either, with a key on the stack or converted from a string.
func TestZeroAllocsSetIfAbsentPresent(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	value := make([]byte, 64)
	s16, s32 := fmt.Sprintf("%016d", 16), fmt.Sprintf("%032d", 32)
	require.NoError(t, c.Set([]byte(s16), value))
	require.NoError(t, c.Set([]byte(s32), value))
	notStored := func(ok bool, err error) {
		if err != nil || ok {
			panic(fmt.Sprintf("stored %v: %v", ok, err))
		}
	}
	cases := map[string]func(){
		"[16]byte":  func() { var k [16]byte; copy(k[:], s16); notStored(c.SetIfAbsent(k[:], value, 0)) },
		"[32]byte":  func() { var k [32]byte; copy(k[:], s32); notStored(c.SetIfAbsent(k[:], value, 0)) },
		"string 16": func() { notStored(c.SetIfAbsent([]byte(s16), value, 0)) },
		"string 32": func() { notStored(c.SetIfAbsent([]byte(s32), value, time.Hour)) },
	}
	for name, f := range cases {
		assert.Zero(t, testing.AllocsPerRun(1000, f), "SetIfAbsent of a present key, %s", name)
	}
	require.Equal(t, 2, c.Len())
}
