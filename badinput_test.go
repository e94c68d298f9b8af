package mmcache

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestBadInput gives every kind of odd or bad input a defined result, and checks after each that
// an unrelated entry is still there, unchanged.
func TestBadInput(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c, err := newTestCache(Config{Capacity: 8 << 20, MaxEntrySize: 1 << 17, JanitorInterval: -1}, clock.now, nil)
	require.NoError(t, err)
	defer c.Close()
	sentinel := []byte("sentinel")
	require.NoError(t, c.Set(sentinel, []byte("kept")))
	maxEntry := c.e.lay.maxEntry
	require.Equal(t, 1<<17, maxEntry)

	cases := []struct {
		name    string
		key     []byte
		value   []byte
		ttl     time.Duration
		wantErr error // nil: stored
	}{
		{"nil key and value", nil, nil, 0, nil},
		{"empty key, empty value", []byte{}, []byte{}, 0, nil},
		{"empty key with value", []byte{}, []byte("v"), 0, nil},
		{"key of 65535 bytes", bytes.Repeat([]byte("k"), 65535), []byte("v"), 0, nil},
		{"key of 65536 bytes", bytes.Repeat([]byte("k"), 65536), []byte("v"), 0, ErrEntryTooLarge},
		{"entry of exactly MaxEntrySize", []byte("k1"), make([]byte, maxEntry-2), 0, nil},
		{"entry one byte over MaxEntrySize", []byte("k2"), make([]byte, maxEntry-1), 0, ErrEntryTooLarge},
		{"ttl of 1ns", []byte("short"), []byte("v"), time.Nanosecond, nil},
		{"ttl of 100 years", []byte("long"), []byte("v"), 100 * 365 * 24 * time.Hour, nil},
		{"longest ttl", []byte("longest"), []byte("v"), time.Duration(1<<63 - 1), nil},
		{"negative ttl", []byte("neg"), []byte("v"), -time.Second, ErrInvalidTTL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.SetWithTTL(tc.key, tc.value, tc.ttl)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.False(t, c.Has(tc.key), "a refused Set stores nothing")
			} else {
				require.NoError(t, err)
				got, ok := c.Get(nil, tc.key)
				require.True(t, ok)
				require.True(t, bytes.Equal(tc.value, got), "value comes back whole")
			}
			v, ok := c.Get(nil, sentinel)
			require.True(t, ok)
			require.Equal(t, "kept", string(v))
			require.NoError(t, c.check())
		})
	}

	// A refused Set leaves the entry already under its key.
	require.NoError(t, c.Set([]byte("k1"), []byte("old")))
	require.ErrorIs(t, c.Set([]byte("k1"), make([]byte, maxEntry)), ErrEntryTooLarge)
	require.ErrorIs(t, c.SetWithTTL([]byte("k1"), []byte("new"), -1), ErrInvalidTTL)
	v, ok := c.Get(nil, []byte("k1"))
	require.True(t, ok)
	require.Equal(t, "old", string(v))

	// The 1 ns entry is gone as soon as the clock moves; the long ones report their TTL.
	clock.advance(1)
	require.False(t, c.Has([]byte("short")))
	left, ok := c.TTL([]byte("long"))
	require.True(t, ok)
	require.Equal(t, 100*365*24*time.Hour-time.Nanosecond, left)
	left, ok = c.TTL([]byte("longest"))
	require.True(t, ok)
	require.Greater(t, left, 200*365*24*time.Hour)
	_, ok = c.TTL([]byte("neg"))
	require.False(t, ok)
}

// TestBadConfig checks that New refuses what it cannot honour, with ErrInvalidConfig, and leaves
// nothing mapped.
func TestBadConfig(t *testing.T) {
	leakCheck(t)
	before := liveMappings.Load()
	for _, cfg := range []Config{
		{},
		{Capacity: MinCapacity - 1},
		{Capacity: -1},
		{Capacity: 64 << 20, Shards: 3},
		{Capacity: 64 << 20, Shards: -1},
		{Capacity: 64 << 20, Shards: maxShards * 2},
		{Capacity: 64 << 20, DefaultTTL: -time.Second},
		{Capacity: 64 << 20, MaxEntrySize: -1},
		{Capacity: 64 << 20, MaxEntrySize: 32 << 20},              // four segments of 32 MiB do not fit
		{Capacity: MinCapacity, MaxEntrySize: MinCapacity},        // nor does one
		{Capacity: 64 << 20, Shards: 1024, MaxEntrySize: 1 << 20}, // shards too small for their segments
	} {
		c, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
		require.Nil(t, c)
	}
	require.Equal(t, before, liveMappings.Load())

	c, err := New(Config{Capacity: MinCapacity})
	require.NoError(t, err, "the minimum capacity works")
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	require.NoError(t, c.Close())

	// AvgEntrySize is deprecated and ignored: any value, even a negative one, is accepted and
	// changes nothing in the layout.
	want, err := Config{Capacity: 64 << 20}.layout()
	require.NoError(t, err)
	for _, avg := range []int{-1, math.MinInt, 1, math.MaxInt} {
		l, err := Config{Capacity: 64 << 20, AvgEntrySize: avg}.layout()
		require.NoError(t, err, "AvgEntrySize %d", avg)
		require.Equal(t, want, l, "AvgEntrySize %d", avg)
	}
	c, err = New(Config{Capacity: 64 << 20, AvgEntrySize: -1})
	require.NoError(t, err)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	require.NoError(t, c.Close())
}

// TestMapFailure injects a failing mapping call: New says what failed and leaves nothing mapped.
func TestMapFailure(t *testing.T) {
	leakCheck(t)
	defer func(f func(int) ([]byte, error)) { mapFunc = f }(mapFunc)
	boom := errors.New("injected: cannot allocate memory")
	mapFunc = func(int) ([]byte, error) { return nil, boom }
	before := liveMappings.Load()
	c, err := New(Config{Capacity: 8 << 20})
	require.Nil(t, c)
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "mapping 8388608 bytes")
	require.Equal(t, before, liveMappings.Load())
}

// TestReleaseFailure injects a failing release of physical memory: Reset still empties the
// cache, and the cache works on.
func TestReleaseFailure(t *testing.T) {
	leakCheck(t)
	defer func(f func([]byte) (bool, error)) { releaseFunc = f }(releaseFunc)
	calls := 0
	releaseFunc = func([]byte) (bool, error) { calls++; return false, errors.New("injected: madvise failed") }
	c, err := New(Config{Capacity: 8 << 20})
	require.NoError(t, err)
	defer c.Close()
	for i := range 10000 {
		require.NoError(t, c.Set([]byte{byte(i), byte(i >> 8)}, bytes.Repeat([]byte{byte(i)}, 100)))
	}
	c.Reset()
	require.Positive(t, calls)
	require.Equal(t, 0, c.Len())
	require.NoError(t, c.check())
	require.False(t, c.Has([]byte{1, 0}))
	require.NoError(t, c.Set([]byte("after"), []byte("reset")))
	v, ok := c.Get(nil, []byte("after"))
	require.True(t, ok)
	require.Equal(t, "reset", string(v))
	require.NoError(t, c.check())
}

// TestBadConfigMessages: every refusal names the field to change and the limit, in plain
// English ("1 segment", never "1 segments").
func TestBadConfigMessages(t *testing.T) {
	leakCheck(t)
	exact := []struct {
		cfg  Config
		want string
	}{
		{Config{Capacity: 1000}, "mmcache: invalid config: Capacity 1000 is below the minimum of 1048576 bytes"},
		{Config{Capacity: 64 << 20, Shards: 3}, "mmcache: invalid config: Shards 3 is not 0 or a power of two up to 65536"},
		{Config{Capacity: 64 << 20, DefaultTTL: -time.Second}, "mmcache: invalid config: DefaultTTL -1s is negative"},
		{Config{Capacity: 64 << 20, MaxEntrySize: -1}, "mmcache: invalid config: MaxEntrySize -1 is negative"},
		{Config{Capacity: 64 << 20, MaxEntrySize: 1 << 30}, "mmcache: invalid config: MaxEntrySize 1073741824 is above the limit of 1073741808 bytes"},
	}
	if strconv.IntSize == 64 {
		// A group's pool is at most (2^32-1) × 4 bytes (32-bit offsets in units of 4 bytes),
		// rounded down to a MiB: 17178820608, a MiB short of 16 GiB; and there are at most
		// 65536 groups, one per shard: 1125831187365888 bytes in all.
		huge := uint64(1)<<51 + 1<<30 // a group would exceed what 32-bit offsets address
		exact = append(exact, struct {
			cfg  Config
			want string
		}{Config{Capacity: int(huge)}, "mmcache: invalid config: Capacity 2251800887427072 is above the limit of 1125831187365888 bytes (65536 groups of shards of at most 17178820608 bytes)"},
			struct {
				cfg  Config
				want string
			}{Config{Capacity: int(huge >> 11 &^ (1 << 19)) /* 2^40 */, Shards: 8}, "mmcache: invalid config: Shards 8 is too few for Capacity 1099511627776: shards share pools of at most 17178820608 bytes; use 128 or more, or 0"})
		// (2^40 / 64 is 16 GiB, a MiB over a pool's limit: 128 groups, so 128 shards at least.)
	}
	for _, tc := range exact {
		_, err := New(tc.cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Equal(t, tc.want, err.Error())
	}
	// AvgEntrySize is deprecated and ignored: a negative one is no longer an error to explain.
	c, err := New(Config{Capacity: 64 << 20, AvgEntrySize: -5})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	// Layouts that do not fit: the message names the fields to change and the count needed.
	for _, tc := range []struct {
		cfg    Config
		fields []string
	}{
		{Config{Capacity: MinCapacity, MaxEntrySize: MinCapacity / 2}, []string{"Capacity 1048576 leaves room for 1 segment of 528384 bytes", "needs 4", "MaxEntrySize", "raise Capacity"}},
		{Config{Capacity: MinCapacity, MaxEntrySize: MinCapacity}, []string{"room for 0 segments", "MaxEntrySize", "Capacity"}},
		{Config{Capacity: 64 << 20, Shards: 1024, MaxEntrySize: 1 << 20}, []string{"in 1024 shards", "Shards", "MaxEntrySize", "Capacity"}},
		{Config{Capacity: 8 << 20, Shards: 1, MaxEntrySize: 3 << 20}, []string{"in 1 shard leaves room for 2 segments", "Shards", "MaxEntrySize", "Capacity"}},
	} {
		_, err := New(tc.cfg)
		require.ErrorIs(t, err, ErrInvalidConfig)
		for _, f := range tc.fields {
			require.Contains(t, err.Error(), f, "%+v", tc.cfg)
		}
		require.NotContains(t, err.Error(), " 1 segments")
		require.NotContains(t, err.Error(), " 1 shards")
	}
}

// wantDefaultShards is the documented shard count for Shards 0 (below 16 GiB, where one group
// holds every shard): 16 × GOMAXPROCS rounded up to a power of two, at most 256, halved while a
// shard would have less than 4 MiB of Capacity.
func wantDefaultShards(capacity int) int {
	shards := 1
	for shards < 16*runtime.GOMAXPROCS(0) {
		shards *= 2
	}
	shards = min(shards, 256)
	for shards > 1 && capacity/shards < 4<<20 {
		shards /= 2
	}
	return shards
}

// wantDefaultMaxEntry is the documented MaxEntrySize for MaxEntrySize 0 where that layout fits:
// the largest power of two up to Capacity/(32 × shards), at least 4 KiB, and at most
// DefaultMaxEntrySize. (DefaultMaxEntrySize is not a power of two: it is the pick only from
// Capacity/(32 × shards) = 2 MiB up.)
func wantDefaultMaxEntry(capacity, shards int) int {
	budget := capacity / (32 * shards)
	if budget >= 2*(DefaultMaxEntrySize+maxHeaderSize) {
		return DefaultMaxEntrySize
	}
	m := 4 << 10
	for 4*m <= budget {
		m *= 2
	}
	return m
}

// TestDefaultMaxEntrySize: on defaults, the largest entry is the largest power of two up to
// Capacity/(32 × shards), at least 4 KiB and at most DefaultMaxEntrySize, so that the shards'
// half-written segments leave little of Capacity unused, or DefaultMaxEntrySize once Capacity
// has room for 32 segments of that size per shard, where a 1 MiB value fits under any valid
// key; and an entry one byte over the limit is refused.
func TestDefaultMaxEntrySize(t *testing.T) {
	leakCheck(t)
	require.Equal(t, 1_114_111, DefaultMaxEntrySize)
	value := make([]byte, 1<<20)
	longKey := bytes.Repeat([]byte("k"), MaxKeySize)
	// A Capacity at which the default shard count gets the 1 MiB default: 128 MiB per shard
	// (at most 256 shards: 32 GiB in two groups, mapped with no reserve), where the address space has room
	// for it.
	capacities := []int{MinCapacity, 2 << 20, 6 << 20, 16 << 20, 64 << 20, 256 << 20}
	oneMiB := -1
	if n := uint64(128<<20) * uint64(wantDefaultShards(math.MaxInt)); n <= math.MaxInt/2 {
		oneMiB = int(n)
		capacities = append(capacities, oneMiB)
	}
	for _, capacity := range capacities {
		c, err := New(Config{Capacity: capacity, JanitorInterval: -1})
		require.NoError(t, err)
		shards := wantDefaultShards(capacity)
		maxEntry := wantDefaultMaxEntry(capacity, shards)
		require.Equal(t, shards, c.e.lay.shards, "Capacity %d", capacity)
		require.Equal(t, maxEntry, c.e.lay.maxEntry, "Capacity %d", capacity)
		if capacity == oneMiB {
			require.Equal(t, DefaultMaxEntrySize, maxEntry, "Capacity %d", capacity)
			require.NoError(t, c.Set(longKey, value), "Capacity %d", capacity)
			require.NoError(t, c.Set([]byte("short"), value), "Capacity %d", capacity)
			require.ErrorIs(t, c.Set(longKey, append(value, 0)), ErrEntryTooLarge)
			v, ok := c.Get(nil, longKey)
			require.True(t, ok)
			require.Len(t, v, 1<<20)
		} else {
			require.Less(t, maxEntry, DefaultMaxEntrySize, "Capacity %d", capacity)
			require.ErrorIs(t, c.Set([]byte("short"), value), ErrEntryTooLarge, "Capacity %d", capacity)
			require.NoError(t, c.Set([]byte("k"), make([]byte, maxEntry-1)), "Capacity %d", capacity)
			require.ErrorIs(t, c.Set([]byte("k"), make([]byte, maxEntry)), ErrEntryTooLarge, "Capacity %d", capacity)
			v, ok := c.Get(nil, []byte("k"))
			require.True(t, ok)
			require.Len(t, v, maxEntry-1)
		}
		require.NoError(t, c.Close())
	}
	// Whatever GOMAXPROCS, a Capacity under 8 MiB has one shard: at 4 MiB, of entries up to
	// 4 MiB/64 = 64 KiB in segments of 132 KiB; at 2 MiB, up to 32 KiB; at MinCapacity, up to
	// 16 KiB, in segments of the smallest size, 64 KiB.
	for _, tc := range []struct{ capacity, maxEntry, segSize int }{
		{4 << 20, 64 << 10, 132 << 10},
		{2 << 20, 32 << 10, 68 << 10},
		{MinCapacity, 16 << 10, 64 << 10},
	} {
		c, err := New(Config{Capacity: tc.capacity, JanitorInterval: -1})
		require.NoError(t, err)
		require.Equal(t, 1, c.e.lay.shards)
		require.Equal(t, tc.maxEntry, c.e.lay.maxEntry, "Capacity %d is too small for the default", tc.capacity)
		// What is left over short of a whole segment is spread over the segments.
		require.GreaterOrEqual(t, c.e.lay.segSize, tc.segSize, "Capacity %d", tc.capacity)
		require.Less(t, c.e.lay.segSize, tc.segSize*9/8, "Capacity %d", tc.capacity)
		require.NoError(t, c.Close())
	}
}

// TestHugeLengthsRefused: a value whose length plus the key's would overflow an int (on 32-bit
// platforms: a value near 2 GiB) is refused before anything reads it. The value is a slice
// header over one byte, never read. The sum used to wrap negative, pass the size check and
// panic under the shard lock.
func TestHugeLengthsRefused(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, nil, nil)
	require.NoError(t, c.Set([]byte("kept"), []byte("v")))
	one := make([]byte, 1)
	n := math.MaxInt - 10 // fits a slice header on 32-bit platforms
	if strconv.IntSize == 64 {
		n = 1 << (strconv.IntSize - 24) // 2^40: the largest a 64-bit platform allows is far below MaxInt
	}
	value := hugeSlice(&one[0], n)
	key := make([]byte, 100)
	err := c.Set(key, value)
	require.ErrorIs(t, err, ErrEntryTooLarge)
	require.ErrorIs(t, c.SetWithTTL(key, value, time.Second), ErrEntryTooLarge)
	require.False(t, c.Has(key))
	v, ok := c.Get(nil, []byte("kept"))
	require.True(t, ok)
	require.Equal(t, "v", string(v))
}

// TestAvgEntrySizeExtremes: any AvgEntrySize, up to the largest int, gives a working cache: the
// field is ignored. (When it sized a table, values near 2^62 wrapped to 0 and divided by zero.)
func TestAvgEntrySizeExtremes(t *testing.T) {
	leakCheck(t)
	for _, avg := range []int{1, 1<<30 - 8, math.MaxInt32, math.MaxInt - 8, math.MaxInt} {
		c, err := New(Config{Capacity: 8 << 20, AvgEntrySize: avg, JanitorInterval: -1})
		require.NoError(t, err, "AvgEntrySize %d", avg)
		for i := range 1000 {
			require.NoError(t, c.Set(fmt.Appendf(nil, "k%d", i), []byte("v")))
		}
		require.Positive(t, c.Len())
		require.NoError(t, c.check())
		require.NoError(t, c.Close())
	}
}

// hugeSlice returns a slice header of n bytes over p, which points at far fewer: the checks
// under test reject it on its length alone, before reading a byte. The race detector's pointer
// checks (checkptr) would refuse to make such a slice, rightly; this one function opts out.
//
//go:nocheckptr
func hugeSlice(p *byte, n int) []byte { return unsafe.Slice(p, n) }
