package mmcache

import (
	"bytes"
	"errors"
	"testing"
	"time"

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
		{Capacity: 64 << 20, AvgEntrySize: -1},
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
