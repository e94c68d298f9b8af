package mmcache

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBasicAPI(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, clock, nil)

	// Empty: nothing used; the headers, directories and the arena's records reserved.
	lay := c.e.lay
	require.Equal(t, 4, lay.shards)
	reserved := lay.headBytes + arena.Overhead(lay.segments)
	assert.Equal(t, Stats{ReservedBytes: reserved, Capacity: 8 << 20}, c.Stats(), "a new cache")
	assert.Zero(t, c.Len())

	// Miss: dst comes back as it was.
	dst, ok := c.Get([]byte("prefix-"), []byte("k"))
	assert.False(t, ok)
	assert.Equal(t, "prefix-", string(dst))
	assert.False(t, c.Has([]byte("k")))
	called := false
	assert.False(t, c.View([]byte("k"), func([]byte) { called = true }))
	assert.False(t, called, "View does not call fn on a miss")
	ttl, ok := c.TTL([]byte("k"))
	assert.False(t, ok)
	assert.Zero(t, ttl)
	assert.False(t, c.Delete([]byte("k")))

	// Set and read back every way.
	require.NoError(t, c.Set([]byte("k"), []byte("value-1")))
	dst, ok = c.Get(nil, []byte("k"))
	assert.True(t, ok)
	assert.Equal(t, "value-1", string(dst))
	dst, ok = c.Get([]byte("prefix-"), []byte("k"))
	assert.True(t, ok)
	assert.Equal(t, "prefix-value-1", string(dst), "Get appends")
	buf := make([]byte, 0, 64)
	dst, ok = c.Get(buf, []byte("k"))
	assert.True(t, ok)
	assert.Same(t, &buf[:1][0], &dst[0], "Get uses dst's room")
	assert.True(t, c.Has([]byte("k")))
	var seen []string
	assert.True(t, c.View([]byte("k"), func(v []byte) { seen = append(seen, string(v)) }))
	assert.Equal(t, []string{"value-1"}, seen)
	ttl, ok = c.TTL([]byte("k"))
	assert.True(t, ok)
	assert.Equal(t, time.Duration(0), ttl, "no TTL: 0, true")
	assert.Equal(t, 1, c.Len())

	// Overwrite with the same size (in place: no new bytes) and with another size.
	used := c.Stats().UsedBytes
	require.NoError(t, c.Set([]byte("k"), []byte("value-2")))
	dst, _ = c.Get(nil, []byte("k"))
	assert.Equal(t, "value-2", string(dst))
	assert.Equal(t, used, c.Stats().UsedBytes, "a same-size overwrite goes in place")
	require.NoError(t, c.Set([]byte("k"), []byte("a much longer value, number 3")))
	assert.Equal(t, used+entrySize(1, len("a much longer value, number 3"), false), c.Stats().UsedBytes)
	dst, _ = c.Get(nil, []byte("k"))
	assert.Equal(t, "a much longer value, number 3", string(dst))
	require.NoError(t, c.Set([]byte("k"), []byte("4")))
	dst, _ = c.Get(nil, []byte("k"))
	assert.Equal(t, "4", string(dst))
	assert.Equal(t, 1, c.Len())

	// Empty value: a valid entry.
	require.NoError(t, c.Set([]byte("empty"), nil))
	dst, ok = c.Get([]byte("x"), []byte("empty"))
	assert.True(t, ok)
	assert.Equal(t, "x", string(dst))
	assert.True(t, c.Has([]byte("empty")))
	n := -1
	assert.True(t, c.View([]byte("empty"), func(v []byte) { n = len(v) }))
	assert.Equal(t, 0, n)

	// Empty key: valid, and nil and empty are the same key.
	require.NoError(t, c.Set(nil, []byte("under the empty key")))
	dst, ok = c.Get(nil, []byte{})
	assert.True(t, ok)
	assert.Equal(t, "under the empty key", string(dst))
	assert.Equal(t, 3, c.Len())

	// Keys that differ only in length or a late byte are different keys.
	require.NoError(t, c.Set([]byte("k\x00"), []byte("other")))
	dst, _ = c.Get(nil, []byte("k"))
	assert.Equal(t, "4", string(dst))
	dst, _ = c.Get(nil, []byte("k\x00"))
	assert.Equal(t, "other", string(dst))
	assert.Equal(t, 4, c.Len())

	st := c.Stats()
	assert.Equal(t, uint64(12), st.Hits)  // Gets and Views that hit
	assert.Equal(t, uint64(2), st.Misses) // the Get and the View of the absent key
	assert.Equal(t, uint64(7), st.Sets)
	assert.Equal(t, uint64(0), st.Deletes)
	assert.Equal(t, 4, st.Entries)
	assert.Equal(t, len("k")+1+len("empty")+len("under the empty key")+len("k\x00")+len("other"), st.LiveBytes)
	assert.Equal(t, 8<<20, st.Capacity)
	assert.Equal(t, reserved, st.ReservedBytes)
	assert.LessOrEqual(t, st.UsedBytes+st.ReservedBytes, st.Capacity)
	assert.Positive(t, entryBytes(c))
	assert.Zero(t, entryBytes(c)%entryAlign, "entries are 4-byte aligned")

	// Delete.
	assert.True(t, c.Delete([]byte("k")))
	assert.False(t, c.Delete([]byte("k")), "a second Delete finds nothing")
	_, ok = c.Get(nil, []byte("k"))
	assert.False(t, ok)
	assert.False(t, c.Has([]byte("k")))
	dst, ok = c.Get(nil, []byte("k\x00"))
	assert.True(t, ok, "Delete removes only its key")
	assert.Equal(t, "other", string(dst))
	assert.Equal(t, 3, c.Len())
	st = c.Stats()
	assert.Equal(t, uint64(1), st.Deletes)
	assert.Equal(t, 3, st.Entries)
	assert.Equal(t, len("empty")+len("under the empty key")+len("k\x00")+len("other"), st.LiveBytes)
	mustCheck(t, c, "after the basic calls")
}

func TestTTL(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, clock, nil)
	k := []byte("ttl")

	require.NoError(t, c.SetWithTTL(k, []byte("v"), 10*time.Second))
	left, ok := c.TTL(k)
	require.True(t, ok)
	assert.Equal(t, 10*time.Second, left)

	clock.advance(int64(4 * time.Second))
	left, ok = c.TTL(k)
	require.True(t, ok)
	assert.Equal(t, 6*time.Second, left)
	dst, ok := c.Get(nil, k)
	assert.True(t, ok)
	assert.Equal(t, "v", string(dst))

	clock.advance(int64(6*time.Second) - 1) // 1ns left
	left, ok = c.TTL(k)
	require.True(t, ok)
	assert.Equal(t, time.Nanosecond, left)
	assert.True(t, c.Has(k))

	clock.advance(1) // the expiry itself: expired
	left, ok = c.TTL(k)
	assert.False(t, ok)
	assert.Zero(t, left)
	_, ok = c.Get(nil, k)
	assert.False(t, ok)
	assert.False(t, c.Has(k))
	assert.False(t, c.View(k, func([]byte) { t.Error("View called fn on an expired entry") }))
	assert.Equal(t, 1, c.Len(), "Len counts an expired entry until the janitor drops it")
	assert.False(t, c.Delete(k), "Delete of an expired entry reports false")
	assert.Equal(t, 0, c.Len(), "but removes it")
	st := c.Stats()
	assert.Equal(t, uint64(0), st.Deletes)
	assert.Equal(t, uint64(1), st.Expirations)
	assert.Equal(t, 0, st.LiveBytes)

	// A Set over an expired entry stores the new one, and counts the old one as expired.
	require.NoError(t, c.SetWithTTL(k, []byte("v"), time.Second))
	clock.advance(int64(time.Second))
	require.False(t, c.Has(k))
	require.NoError(t, c.Set(k, []byte("w")))
	require.Equal(t, uint64(2), c.Stats().Expirations)
	dst, ok = c.Get(nil, k)
	assert.True(t, ok)
	assert.Equal(t, "w", string(dst))
	left, ok = c.TTL(k)
	assert.True(t, ok)
	assert.Zero(t, left)

	// The janitor drops expired entries, and only those.
	for i := range 100 {
		require.NoError(t, c.SetWithTTL([]byte(fmt.Sprint("short", i)), []byte("x"), time.Minute))
		require.NoError(t, c.SetWithTTL([]byte(fmt.Sprint("long", i)), []byte("y"), time.Hour))
		require.NoError(t, c.SetWithTTL([]byte(fmt.Sprint("never", i)), []byte("z"), 0))
	}
	assert.Equal(t, 301, c.Len())
	clock.advance(int64(time.Minute))
	assert.Equal(t, 301, c.Len())
	c.janitorPass()
	assert.Equal(t, 201, c.Len())
	clock.advance(int64(time.Hour))
	c.janitorPass()
	assert.Equal(t, 101, c.Len())
	for i := range 100 {
		require.True(t, c.Has([]byte(fmt.Sprint("never", i))))
	}
	st = c.Stats()
	// 1 deleted after expiry, 1 replaced by a Set after expiry, 200 dropped by the janitor.
	assert.Equal(t, uint64(202), st.Expirations)
	// "ttl" with "w", and never0..never99 with "z": 10 keys of 6 bytes and 90 of 7.
	assert.Equal(t, 3+1+10*6+90*7+100, st.LiveBytes)
	mustCheck(t, c, "after expiry")

	// The longest TTL does not overflow the clock.
	require.NoError(t, c.SetWithTTL([]byte("forever"), []byte("f"), time.Duration(math.MaxInt64)))
	clock.advance(int64(1000 * time.Hour))
	assert.True(t, c.Has([]byte("forever")))
	left, ok = c.TTL([]byte("forever"))
	assert.True(t, ok)
	assert.Greater(t, left, time.Duration(math.MaxInt64/2))
}

func TestDefaultTTL(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, DefaultTTL: 5 * time.Second, JanitorInterval: -1}, clock, nil)
	require.NoError(t, c.Set([]byte("a"), []byte("1")))
	left, ok := c.TTL([]byte("a"))
	require.True(t, ok)
	assert.Equal(t, 5*time.Second, left)
	require.NoError(t, c.SetWithTTL([]byte("b"), []byte("2"), 0))
	left, ok = c.TTL([]byte("b"))
	require.True(t, ok)
	assert.Zero(t, left, "SetWithTTL 0 overrides the default: never expires")
	clock.advance(int64(5 * time.Second))
	assert.False(t, c.Has([]byte("a")))
	assert.True(t, c.Has([]byte("b")))
}

func TestErrors(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, MaxEntrySize: 1000, JanitorInterval: -1}, clock, nil)
	k := []byte("key")
	require.NoError(t, c.Set(k, []byte("old")))
	sets := c.Stats().Sets

	err := c.Set(k, make([]byte, 1000-len(k)+1))
	require.ErrorIs(t, err, ErrEntryTooLarge)
	assert.NotEqual(t, ErrEntryTooLarge.Error(), err.Error(), "wrapped with detail")
	err = c.SetWithTTL(k, make([]byte, 5000), time.Second)
	require.ErrorIs(t, err, ErrEntryTooLarge)
	err = c.SetWithTTL(k, []byte("new"), -time.Nanosecond)
	require.ErrorIs(t, err, ErrInvalidTTL)
	err = c.Set(bytes.Repeat([]byte("k"), MaxKeySize+1), nil)
	require.ErrorIs(t, err, ErrEntryTooLarge, "a key over MaxKeySize is refused, never truncated")
	for _, e := range []error{ErrClosed, ErrInvalidConfig, ErrBusy} {
		assert.NotErrorIs(t, err, e)
	}

	dst, ok := c.Get(nil, k)
	assert.True(t, ok)
	assert.Equal(t, "old", string(dst), "a refused Set leaves the old value")
	assert.Equal(t, sets, c.Stats().Sets)
	assert.Equal(t, 1, c.Len())

	// Exactly MaxEntrySize is accepted.
	require.NoError(t, c.Set(k, make([]byte, 1000-len(k))))
	dst, _ = c.Get(nil, k)
	assert.Len(t, dst, 1000-len(k))

	// MaxKeySize is accepted when MaxEntrySize allows it.
	c2 := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, clock, nil)
	big := bytes.Repeat([]byte("K"), MaxKeySize)
	big[MaxKeySize-1] = 'x'
	require.NoError(t, c2.Set(big, []byte("v")))
	dst, ok = c2.Get(nil, big)
	assert.True(t, ok)
	assert.Equal(t, "v", string(dst))
	big[MaxKeySize-1] = 'y'
	assert.False(t, c2.Has(big), "the whole key is compared")
}

func TestInvalidConfig(t *testing.T) {
	leakCheck(t)
	before := liveMappings.Load()
	for _, cfg := range []Config{
		{},
		{Capacity: -1},
		{Capacity: MinCapacity - 1},
		{Capacity: 4 << 20, Shards: 3},
		{Capacity: 4 << 20, Shards: -1},
		{Capacity: 4 << 20, Shards: 1 << 17},
		{Capacity: 4 << 20, Shards: 1024}, // shards too small for four segments each
		{Capacity: 4 << 20, DefaultTTL: -time.Second},
		{Capacity: 4 << 20, MaxEntrySize: -1},
		{Capacity: 4 << 20, MaxEntrySize: 1 << 30},
		{Capacity: 4 << 20, MaxEntrySize: 2 << 20}, // four segments do not fit
	} {
		c, err := New(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
		assert.Nil(t, c)
		if err != nil {
			assert.NotEqual(t, ErrInvalidConfig.Error(), err.Error(), "wrapped with detail")
		}
	}
	assert.Equal(t, before, liveMappings.Load(), "a refused config maps nothing")

	// The minimum and odd sizes are fine; Capacity rounds down to a page.
	page := os.Getpagesize()
	for _, cfg := range []Config{
		{Capacity: MinCapacity},
		{Capacity: MinCapacity, Shards: 1},
		{Capacity: 3<<20 + 123},
		{Capacity: 4 << 20, Shards: 4, MaxEntrySize: 2},
		{Capacity: 4 << 20, AvgEntrySize: -1}, // deprecated and ignored, whatever its value
	} {
		c, err := New(cfg)
		require.NoError(t, err, "%+v", cfg)
		assert.Equal(t, cfg.Capacity&^(page-1), c.Stats().Capacity)
		require.NoError(t, c.Set([]byte("k"), []byte("v")))
		require.NoError(t, c.Close())
	}
}

func TestReset(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, clock, nil)
	empty := c.Stats().UsedBytes
	for i := range 5000 {
		require.NoError(t, c.SetWithTTL([]byte(fmt.Sprint("key", i)), valueFor([]byte(fmt.Sprint("key", i)), 0, i%500), time.Duration(i%3)*time.Minute))
	}
	require.Equal(t, 5000, c.Len())
	st := c.Stats()
	require.Greater(t, st.UsedBytes, empty)
	c.Reset()
	mustCheck(t, c, "after Reset")
	assert.Equal(t, 0, c.Len())
	after := c.Stats()
	assert.Equal(t, 0, after.Entries)
	assert.Equal(t, 0, after.LiveBytes)
	assert.Equal(t, empty, after.UsedBytes, "Reset gives back every segment")
	assert.Equal(t, st.Sets, after.Sets, "counters are not reset")
	for i := range 5000 {
		if c.Has([]byte(fmt.Sprint("key", i))) {
			t.Fatalf("key%d survived Reset", i)
		}
	}
	// The cache works as new after a Reset, and a second Reset is fine.
	for i := range 5000 {
		require.NoError(t, c.Set([]byte(fmt.Sprint("new", i)), []byte(fmt.Sprint(i))))
	}
	assert.Equal(t, 5000, c.Len())
	for i := range 5000 {
		dst, ok := c.Get(nil, []byte(fmt.Sprint("new", i)))
		require.True(t, ok)
		require.Equal(t, fmt.Sprint(i), string(dst))
	}
	mustCheck(t, c, "after refilling")
	c.Reset()
	c.Reset()
	assert.Equal(t, 0, c.Len())
	assert.Equal(t, empty, c.Stats().UsedBytes)
	mustCheck(t, c, "after two Resets")
}

// TestResetReturnsMemory checks on Linux that Reset gives the pages back. It reads the
// mapping's own resident bytes (regionResident), not the process's, which the Go heap's
// scavenger and other tests move by tens of MiB.
func TestResetReturnsMemory(t *testing.T) {
	leakCheck(t)
	if runtime.GOOS != "linux" {
		// Elsewhere RSS is not read; Reset is still exercised by TestReset.
		return
	}
	c := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1, NoHugePages: true}, nil, nil)
	v := make([]byte, 4000)
	before := regionResident(t, c)
	for i := range 12000 { // about 48 MiB
		require.NoError(t, c.Set([]byte(fmt.Sprint(i)), v))
	}
	full := regionResident(t, c)
	require.Greater(t, full-before, int64(40<<20), "the writes are resident")
	c.Reset()
	after := regionResident(t, c)
	t.Logf("mapping's RSS: %d MiB before, %d MiB full, %d MiB after Reset", before>>20, full>>20, after>>20)
	assert.Less(t, after-before, int64(4<<20), "Reset returns the pages")
}

func TestClose(t *testing.T) {
	leakCheck(t)
	before := liveMappings.Load()
	c, err := New(Config{Capacity: 4 << 20})
	require.NoError(t, err)
	assert.Equal(t, before+1, liveMappings.Load())
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	require.NoError(t, c.Close())
	assert.Equal(t, before, liveMappings.Load(), "Close unmaps")
	require.NoError(t, c.Close(), "Close is idempotent")
	assert.Equal(t, before, liveMappings.Load())
	assertClosed(t, c)
}

// assertClosed checks that every method of a closed cache returns ErrClosed, false or a miss.
func assertClosed(t testing.TB, c *Cache) {
	t.Helper()
	k := []byte("k")
	assert.ErrorIs(t, c.Set(k, []byte("v")), ErrClosed)
	assert.ErrorIs(t, c.SetWithTTL(k, []byte("v"), time.Second), ErrClosed)
	dst, ok := c.Get([]byte("dst"), k)
	assert.False(t, ok)
	assert.Equal(t, "dst", string(dst))
	assert.False(t, c.View(k, func([]byte) { t.Error("View called fn on a closed cache") }))
	assert.False(t, c.Has(k))
	assert.False(t, c.Delete(k))
	left, ok := c.TTL(k)
	assert.False(t, ok)
	assert.Zero(t, left)
	assert.Zero(t, c.Len())
	st := c.Stats()
	assert.Zero(t, st.Entries)
	assert.Zero(t, st.LiveBytes)
	assert.Zero(t, st.UsedBytes)
	c.Reset()
	c.janitorPass()
	assert.NoError(t, c.Close())
	assert.NoError(t, c.check())
}

// TestTTLWithMovingClock: the clock moves while TTL runs. An entry with a TTL never reports 0
// (which means no TTL) or a negative time left.
func TestTTLWithMovingClock(t *testing.T) {
	leakCheck(t)
	var now atomic.Int64
	tick := func() int64 { return now.Add(1) } // every reading is 1ns later
	c, err := newTestCache(Config{Capacity: 4 << 20, JanitorInterval: -1}, tick, nil)
	require.NoError(t, err)
	defer c.Close()
	for ttl := time.Duration(1); ttl < 20; ttl++ {
		require.NoError(t, c.SetWithTTL([]byte("k"), []byte("v"), ttl))
		for range 20 {
			left, ok := c.TTL([]byte("k"))
			if ok {
				require.Positive(t, left, "ttl %v: TTL reported %v, true", ttl, left)
			} else {
				require.Zero(t, left)
			}
		}
	}
	require.NoError(t, c.SetWithTTL([]byte("never"), []byte("v"), 0))
	left, ok := c.TTL([]byte("never"))
	require.True(t, ok)
	require.Zero(t, left)
}

// TestUsedBytes: UsedBytes counts what is written, exactly: nothing for an empty cache however
// large (it used to report the whole table region, about 1 GB for an empty 16 GiB cache), then
// each entry's bytes and the index pages. ReservedBytes is the bookkeeping.
func TestUsedBytes(t *testing.T) {
	leakCheck(t)
	capacity := 1 << 30
	if strconv.IntSize == 64 {
		capacity <<= 4 // 16 GiB
	}
	c := newCacheT(t, Config{Capacity: capacity, JanitorInterval: -1}, nil, nil)
	st := c.Stats()
	require.Zero(t, st.UsedBytes)
	lay := c.e.lay
	require.Equal(t, lay.groups*(lay.headBytes+arena.Overhead(lay.segments)), st.ReservedBytes)
	for i := range 1000 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "key-%06d", i), make([]byte, 50)))
	}
	// 1000 entries of 4+10+50 = 64 bytes each, and one index page per shard: no shard has
	// 1000/8 entries more than a page's 448 slots can take.
	for i := range c.e.shards {
		require.Equal(t, uint32(1), c.e.shards[i].idx.hdr.pages, "shard %d", i)
	}
	require.Equal(t, 1000*64+lay.shards*indexPageSize, c.Stats().UsedBytes)
	require.Equal(t, st.ReservedBytes, c.Stats().ReservedBytes)
	c.Reset()
	require.Zero(t, c.Stats().UsedBytes)
}
