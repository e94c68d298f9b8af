package mmcache

// Behaviours that users of freecache, bigcache, fastcache, go-cache and otter rely on, checked
// on mmcache's byte API. Each test names the behaviour it ports; none copies another project's
// code. Values are exact wherever the cache makes them so: counters, lengths, time left.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// portedStamp returns a value of n bytes (at least 16) that names its key and version and whose
// every byte depends on both, so a torn value or another key's fails portedStampOK.
func portedStamp(key []byte, version uint64, n int) []byte {
	v := make([]byte, max(n, 16))
	h := hashKey(key, 0)
	binary.LittleEndian.PutUint64(v[0:8], h)
	binary.LittleEndian.PutUint64(v[8:16], version)
	x := h ^ version
	for i := 16; i < len(v); i++ {
		x = x*6364136223846793005 + 1442695040888963407
		v[i] = byte(x >> 56)
	}
	return v
}

// portedStampOK checks a value made by portedStamp for key and returns its version.
func portedStampOK(key, v []byte) (uint64, error) {
	if len(v) < 16 {
		return 0, fmt.Errorf("value of %d bytes is too short to be stamped", len(v))
	}
	h := binary.LittleEndian.Uint64(v[0:8])
	if h != hashKey(key, 0) {
		return 0, fmt.Errorf("value of another key under %q", key)
	}
	version := binary.LittleEndian.Uint64(v[8:16])
	x := h ^ version
	for i := 16; i < len(v); i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if v[i] != byte(x>>56) {
			return 0, fmt.Errorf("value under %q torn at byte %d of %d (version %d)", key, i, len(v), version)
		}
	}
	return version, nil
}

// portedGet returns the value under key as a string, and whether it was there.
func portedGet(c *Cache, key string) (string, bool) {
	v, ok := c.Get(nil, []byte(key))
	return string(v), ok
}

// Every read path sees what Set stored; Get appends to dst, and a miss leaves dst as it was.
func TestPortedSetGetRoundTrip(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	for i := range 100 {
		k, v := fmt.Sprintf("key %d", i), fmt.Sprintf("value %d", i)
		require.NoError(t, c.Set([]byte(k), []byte(v)))
	}
	for i := range 100 {
		k, v := []byte(fmt.Sprintf("key %d", i)), fmt.Sprintf("value %d", i)
		got, ok := c.Get([]byte("dst:"), k)
		require.True(t, ok, "key %q", k)
		require.Equal(t, "dst:"+v, string(got))
		require.True(t, c.Has(k))
		var viewed string
		require.True(t, c.View(k, func(b []byte) { viewed = string(b) }))
		require.Equal(t, v, viewed)
		left, ok := c.TTL(k)
		require.True(t, ok)
		require.Zero(t, left)
	}
	got, ok := c.Get([]byte("dst:"), []byte("key 100"))
	require.False(t, ok)
	require.Equal(t, "dst:", string(got))
	require.Equal(t, 100, c.Len())
}

// freecache TestOverwrite, bigcache TestEntryUpdate: one key overwritten with values that grow
// and shrink reads back the last one each time; the entry count stays 1 and the live bytes
// follow the value. An overwrite with the same footprint takes no new bytes (freecache's
// in-place update); any other takes exactly one new entry's bytes. The one shard's index took
// its first page for the neighbour, and two keys never need a second.
func TestPortedOverwriteGrowShrink(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, newFakeClock(), nil)
	require.NoError(t, c.Set([]byte("other"), []byte("neighbour")))
	require.Equal(t, entrySize(len("other"), len("neighbour"), false)+indexPageSize, c.Stats().UsedBytes)
	key := []byte("abcd")
	lengths := []int{0, 4, 5, 6, 7, 8, 200, 3, 3, 127, 128, 128, 1, 0}
	sets := uint64(1)
	prev := -1
	for step, n := range lengths {
		v := bytes.Repeat([]byte{byte('a' + step)}, n)
		before := c.Stats().UsedBytes
		require.NoError(t, c.Set(key, v))
		sets++
		got, ok := c.Get(nil, key)
		require.True(t, ok, "step %d", step)
		require.Equal(t, string(v), string(got), "step %d", step)
		st := c.Stats()
		require.Equal(t, 2, st.Entries, "step %d", step)
		require.Equal(t, len("other")+len("neighbour")+len(key)+n, st.LiveBytes, "step %d", step)
		require.Equal(t, sets, st.Sets, "step %d", step)
		switch {
		case prev < 0:
			require.Equal(t, before+entrySize(len(key), n, false), st.UsedBytes, "step %d: first Set, in the index page there", step)
		case entrySize(len(key), prev, false) == entrySize(len(key), n, false):
			require.Equal(t, before, st.UsedBytes, "step %d: same footprint, written in place", step)
		default:
			require.Equal(t, before+entrySize(len(key), n, false), st.UsedBytes, "step %d: a new entry", step)
		}
		prev = n
	}
	require.Equal(t, uint32(1), c.e.shards[0].idx.hdr.pages)
	got, _ := portedGet(c, "other")
	require.Equal(t, "neighbour", got)
}

// bigcache TestCache_RepeatedSetWithBiggerEntry and freecache
// TestSetLargerEntryDeletesWrongEntry: growing one key between other keys' Sets never removes
// or damages another key.
func TestPortedRepeatedSetWithBiggerEntry(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, newFakeClock(), nil)
	steps := []struct {
		key string
		n   int
	}{{"2225", 200}, {"8573", 100}, {"8573", 450}, {"7327", 300}, {"8573", 200}, {"key1", 3}, {"key1", 9}, {"key1", 14}}
	want := map[string][]byte{}
	for i, s := range steps {
		v := valueFor([]byte(s.key), i, s.n)
		require.NoError(t, c.Set([]byte(s.key), v))
		want[s.key] = v
		for k, w := range want {
			got, ok := c.Get(nil, []byte(k))
			require.True(t, ok, "step %d: %q", i, k)
			require.Equal(t, w, got, "step %d: %q", i, k)
		}
		require.Equal(t, len(want), c.Len(), "step %d", i)
	}
}

// The cache copies key and value (fastcache: "k and v contents may be modified after returning
// from Set"): reusing the caller's buffers changes nothing stored.
func TestPortedSetCopiesKeyAndValue(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	key := []byte("key-0")
	val := []byte("value-0")
	require.NoError(t, c.Set(key, val))
	key[4], val[6] = '1', '1'
	require.NoError(t, c.SetWithTTL(key, val, time.Hour))
	key[4], val[6] = '2', '2'
	clear(key)
	clear(val)
	got, ok := portedGet(c, "key-0")
	require.True(t, ok)
	require.Equal(t, "value-0", got)
	got, ok = portedGet(c, "key-1")
	require.True(t, ok)
	require.Equal(t, "value-1", got)
	_, ok = portedGet(c, "key-2")
	require.False(t, ok)
	require.Equal(t, 2, c.Len())
}

// bigcache TestRetrievingEntryShouldCopy: what Get returns is the caller's, not the cache's.
// Writing to it changes nothing stored, and overwriting or evicting the entry later does not
// change it.
func TestPortedGetReturnsACopy(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, MaxEntrySize: 512 << 10, JanitorInterval: -1}, newFakeClock(), nil)
	a := bytes.Repeat([]byte{'a'}, 400<<10)
	require.NoError(t, c.Set([]byte("key1"), a))
	got, ok := c.Get(nil, []byte("key1"))
	require.True(t, ok)
	got[0], got[len(got)-1] = 'X', 'X'
	again, ok := c.Get(nil, []byte("key1"))
	require.True(t, ok)
	require.Equal(t, a, again, "writing to a returned value changed the entry")

	require.NoError(t, c.Set([]byte("key1"), bytes.Repeat([]byte{'z'}, 400<<10))) // in place
	for i := range 20 {                                                           // and evicted
		require.NoError(t, c.Set(fmt.Appendf(nil, "key%d", i+2), bytes.Repeat([]byte{byte('b' + i)}, 400<<10)))
	}
	require.Positive(t, c.Stats().Evictions)
	require.Equal(t, a, again, "a value returned earlier changed under its owner")
}

// bigcache TestNilValueCaching, fastcache TestCacheSmall: empty and nil values are values, and
// the empty key is a key. nil and empty mean the same key and the same value.
func TestPortedEmptyKeysAndValues(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	require.NoError(t, c.Set([]byte("Kierkegaard"), []byte{}))
	require.NoError(t, c.Set([]byte("Sartre"), nil))
	for _, k := range []string{"Kierkegaard", "Sartre"} {
		got, ok := c.Get([]byte("pre"), []byte(k))
		require.True(t, ok, k)
		require.Equal(t, "pre", string(got), "an empty value appends nothing")
		require.True(t, c.Has([]byte(k)))
		n := -1
		require.True(t, c.View([]byte(k), func(v []byte) { n = len(v) }))
		require.Zero(t, n)
	}

	_, ok := c.Get(nil, nil)
	require.False(t, ok, "the empty key is absent until set")
	require.NoError(t, c.Set(nil, nil))
	require.True(t, c.Has([]byte{}))
	require.NoError(t, c.Set([]byte{}, []byte("x")))
	got, ok := c.Get(nil, nil)
	require.True(t, ok)
	require.Equal(t, "x", string(got), "nil and empty are one key")
	require.False(t, c.Has([]byte{0}), "the key 0x00 is another key")
	require.NoError(t, c.Set([]byte{0}, []byte("zero")))
	got, _ = c.Get(nil, []byte{})
	require.Equal(t, "x", string(got))
	require.Equal(t, 4, c.Len())
	require.Equal(t, len("Kierkegaard")+len("Sartre")+1+1+len("zero"), c.Stats().LiveBytes)

	require.True(t, c.Delete(nil))
	require.False(t, c.Has(nil))
	got, ok = c.Get(nil, []byte{0})
	require.True(t, ok)
	require.Equal(t, "zero", string(got))
	require.Equal(t, 3, c.Len())
}

// The slice View passes has no room beyond its length, so a callback that appends to it gets a
// copy and cannot write over the entry that follows in the mapping.
func TestPortedViewSliceIsCapped(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, newFakeClock(), nil)
	require.NoError(t, c.Set([]byte("a"), []byte("xxxx")))
	require.NoError(t, c.Set([]byte("b"), []byte("yyyy")))
	require.True(t, c.View([]byte("a"), func(v []byte) {
		require.Equal(t, len(v), cap(v))
		w := append(v, "zzzzzzzzzzzzzzzz"...)
		w[0] = 'Q'
	}))
	got, _ := portedGet(c, "a")
	require.Equal(t, "xxxx", got)
	got, _ = portedGet(c, "b")
	require.Equal(t, "yyyy", got)
}

// go-cache TestCacheTimes, on a fake clock: Set takes DefaultTTL, SetWithTTL(0) never expires,
// and shorter and longer TTLs than the default expire at their own time, to the nanosecond.
func TestPortedTTLTimes(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, DefaultTTL: 50 * time.Millisecond, JanitorInterval: -1}, clock, nil)
	require.NoError(t, c.Set([]byte("a"), []byte("1")))
	require.NoError(t, c.SetWithTTL([]byte("b"), []byte("2"), 0))
	require.NoError(t, c.SetWithTTL([]byte("c"), []byte("3"), 20*time.Millisecond))
	require.NoError(t, c.SetWithTTL([]byte("d"), []byte("4"), 70*time.Millisecond))
	present := func(want string) {
		t.Helper()
		var got string
		for _, k := range []string{"a", "b", "c", "d"} {
			if _, ok := portedGet(c, k); ok {
				got += k
			}
		}
		require.Equal(t, want, got, "at %v", time.Duration(clock.now()-1))
	}
	present("abcd")
	clock.advance(int64(20*time.Millisecond) - 1)
	present("abcd")
	clock.advance(1)
	present("abd")
	clock.advance(int64(30 * time.Millisecond))
	present("bd")
	left, ok := c.TTL([]byte("d"))
	require.True(t, ok)
	require.Equal(t, 20*time.Millisecond, left)
	clock.advance(int64(20 * time.Millisecond))
	present("b")
	clock.advance(int64(100 * 365 * 24 * time.Hour))
	present("b")
	left, ok = c.TTL([]byte("b"))
	require.True(t, ok)
	require.Zero(t, left, "no TTL: 0 and true")
}

// freecache TestTTL: the time left shrinks exactly as the clock moves, and is gone at expiry.
func TestPortedTTLCountsDown(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, clock, nil)
	key := []byte("abcd")
	require.NoError(t, c.SetWithTTL(key, []byte("efgh"), 2*time.Second))
	for left := 2 * time.Second; left > 0; left -= 250 * time.Millisecond {
		got, ok := c.TTL(key)
		require.True(t, ok)
		require.Equal(t, left, got)
		clock.advance(int64(250 * time.Millisecond))
	}
	got, ok := c.TTL(key)
	require.False(t, ok)
	require.Zero(t, got)
	_, ok = c.TTL([]byte("never set"))
	require.False(t, ok)
}

// bigcache TestEntryUpdate, otter's expire-after-write: each Set gives the entry a new expiry,
// longer, shorter or none, whatever it had before.
func TestPortedOverwriteReplacesTTL(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, clock, nil)
	k := []byte("key")
	require.NoError(t, c.SetWithTTL(k, []byte("v1"), 10*time.Second))
	clock.advance(int64(5 * time.Second))
	require.NoError(t, c.SetWithTTL(k, []byte("v2"), 10*time.Second)) // same footprint: in place
	clock.advance(int64(9 * time.Second))
	got, ok := portedGet(c, "key")
	require.True(t, ok, "the second Set's TTL counts from the second Set")
	require.Equal(t, "v2", got)
	left, _ := c.TTL(k)
	require.Equal(t, time.Second, left)

	require.NoError(t, c.Set(k, []byte("v3"))) // no DefaultTTL: never expires
	clock.advance(int64(time.Hour))
	got, ok = portedGet(c, "key")
	require.True(t, ok)
	require.Equal(t, "v3", got)

	require.NoError(t, c.SetWithTTL(k, []byte("v4"), time.Second))
	left, _ = c.TTL(k)
	require.Equal(t, time.Second, left)
	require.NoError(t, c.SetWithTTL(k, []byte("v5"), time.Millisecond)) // shorter
	clock.advance(int64(time.Millisecond))
	_, ok = portedGet(c, "key")
	require.False(t, ok, "a shorter TTL replaces a longer one")
	require.Equal(t, uint64(5), c.Stats().Sets)
}

// go-cache's janitor, bigcache's CleanWindow: an expired entry is never read back, by any
// path, even before the janitor removes it; Len counts it until then; the janitor removes
// exactly the expired entries and counts each as an expiration.
func TestPortedExpiredEntriesAndJanitor(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, clock, nil)
	for i := range 100 {
		require.NoError(t, c.SetWithTTL(fmt.Appendf(nil, "short-%d", i), []byte("s"), time.Second))
		require.NoError(t, c.SetWithTTL(fmt.Appendf(nil, "long-%d", i), []byte("l"), time.Minute))
	}
	for i := range 50 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "never-%d", i), []byte("n")))
	}
	clock.advance(int64(time.Second))
	for i := range 100 {
		k := fmt.Appendf(nil, "short-%d", i)
		_, ok := c.Get(nil, k)
		require.False(t, ok)
		require.False(t, c.Has(k))
		require.False(t, c.View(k, func([]byte) { t.Errorf("View called back on expired %q", k) }))
		_, ok = c.TTL(k)
		require.False(t, ok)
	}
	require.Equal(t, 250, c.Len(), "expired entries count until the janitor drops them")
	c.janitorPass()
	st := c.Stats()
	require.Equal(t, 150, st.Entries)
	require.Equal(t, uint64(100), st.Expirations)
	require.Equal(t, uint64(0), st.Evictions)
	require.Equal(t, uint64(200), st.Misses, "the Gets and Views of expired keys")
	live := 0
	for i := range 100 {
		live += len(fmt.Sprintf("long-%d", i)) + 1
	}
	for i := range 50 {
		live += len(fmt.Sprintf("never-%d", i)) + 1
	}
	require.Equal(t, live, st.LiveBytes)
	clock.advance(int64(time.Minute))
	c.janitorPass()
	require.Equal(t, 50, c.Len())
	require.Equal(t, uint64(200), c.Stats().Expirations)
}

// A negative TTL stores nothing and leaves the entry already there (go-cache and otter reject
// it too).
func TestPortedNegativeTTLRejected(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	require.NoError(t, c.Set([]byte("k"), []byte("v1")))
	err := c.SetWithTTL([]byte("k"), []byte("v2"), -time.Nanosecond)
	require.ErrorIs(t, err, ErrInvalidTTL)
	got, ok := portedGet(c, "k")
	require.True(t, ok)
	require.Equal(t, "v1", got)
	require.ErrorIs(t, c.SetWithTTL([]byte("new"), []byte("v"), -time.Hour), ErrInvalidTTL)
	require.False(t, c.Has([]byte("new")))
	require.Equal(t, uint64(1), c.Stats().Sets)
	_, err = New(Config{Capacity: 4 << 20, DefaultTTL: -time.Second})
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// freecache TestLargeEntry, fastcache TestCacheBigKeyValue, bigcache
// TestEntryBiggerThanMaxShardSizeError: an entry up to MaxEntrySize is stored whole, with or
// without a TTL; one byte more is refused, not truncated, and the entry already under the key
// stays. Values around each length-prefix boundary read back exactly.
func TestPortedLargeValuesNearMaxEntrySize(t *testing.T) {
	leakCheck(t)
	const maxEntry = 3 << 20
	c := newCacheT(t, Config{Capacity: 32 << 20, Shards: 1, MaxEntrySize: maxEntry, JanitorInterval: -1}, newFakeClock(), nil)
	key := []byte("abcd")
	full := valueFor(key, 1, maxEntry-len(key))
	require.NoError(t, c.Set(key, full))
	got, ok := c.Get(nil, key)
	require.True(t, ok)
	require.Equal(t, full, got)
	err := c.Set(key, valueFor(key, 2, maxEntry-len(key)+1))
	require.ErrorIs(t, err, ErrEntryTooLarge)
	got, _ = c.Get(nil, key)
	require.Equal(t, full, got, "a refused Set leaves the old entry")
	withTTL := valueFor(key, 3, maxEntry-len(key))
	require.NoError(t, c.SetWithTTL(key, withTTL, time.Hour), "the TTL is header, not entry size")
	got, _ = c.Get(nil, key)
	require.Equal(t, withTTL, got)

	for _, n := range []int{127, 128, 16383, 16384, 2097151, 2097152} {
		k := fmt.Appendf(nil, "len-%d", n)
		v := valueFor(k, n, n)
		require.NoError(t, c.Set(k, v))
		got, ok := c.Get(nil, k)
		require.True(t, ok, "%d bytes", n)
		require.Equal(t, v, got, "%d bytes", n)
	}
	require.NoError(t, c.check())

	// Keys: MaxKeySize bytes are a key; one more is not, even with an empty value.
	long := bytes.Repeat([]byte{'k'}, MaxKeySize)
	require.NoError(t, c.Set(long, []byte("long key")))
	got, ok = c.Get(nil, long)
	require.True(t, ok)
	require.Equal(t, "long key", string(got))
	require.ErrorIs(t, c.Set(append(long, 'k'), nil), ErrEntryTooLarge)
}

// On defaults, a cache with room for 32 segments of two DefaultMaxEntrySize entries per shard
// (so that the default MaxEntrySize is DefaultMaxEntrySize, not a smaller power of two) takes a
// 1 MiB value under a key of MaxKeySize bytes, and not one byte more.
func TestPortedOneMiBValueOnDefaults(t *testing.T) {
	leakCheck(t)
	shards := wantDefaultShards(math.MaxInt) // what a Capacity of 4 MiB a shard or more gets
	cfg := Config{Capacity: 128 << 20 * shards}
	if uint64(128<<20)*uint64(shards) > math.MaxInt/2 {
		// Where the address space is too small for that many shards of 128 MiB (32-bit
		// platforms), one shard: MaxEntrySize is still left to its default.
		shards = 1
		cfg = Config{Capacity: 128 << 20, Shards: 1}
	}
	c := newCacheT(t, cfg, nil, nil)
	require.Equal(t, shards, c.e.lay.shards)
	require.Equal(t, DefaultMaxEntrySize, c.e.lay.maxEntry)
	key := bytes.Repeat([]byte{'k'}, MaxKeySize)
	v := valueFor(key, 7, 1<<20)
	require.NoError(t, c.Set(key, v))
	got, ok := c.Get(nil, key)
	require.True(t, ok)
	require.Equal(t, v, got)
	require.Equal(t, DefaultMaxEntrySize, len(key)+len(v))
	require.ErrorIs(t, c.Set(key, append(v, 0)), ErrEntryTooLarge)
	got, _ = c.Get(got[:0], key)
	require.Equal(t, v, got)
}

// fastcache TestCacheWrap: many more keys than fit, each overwritten several times with values
// of changing sizes. A Get right after a Set hits; any later hit returns that key's newest
// value, whole; the cache evicts rather than refusing.
func TestPortedEvictionNewestValueWins(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, newFakeClock(), nil)
	keys, rounds := 15000, 4
	if testing.Short() {
		rounds = 2
	}
	latest := make([]uint64, keys)
	size := func(version uint64) int { return 16 + int(version%5)*37 }
	version := uint64(0)
	for range rounds {
		for i := range keys {
			k := fmt.Appendf(nil, "key %d", i)
			version++
			v := portedStamp(k, version, size(version))
			require.NoError(t, c.Set(k, v))
			latest[i] = version
			got, ok := c.Get(nil, k)
			require.True(t, ok, "right after Set: %q", k)
			require.Equal(t, v, got)
		}
		hits := 0
		for i := range keys {
			k := fmt.Appendf(nil, "key %d", i)
			got, ok := c.Get(nil, k)
			if !ok {
				continue
			}
			hits++
			ver, err := portedStampOK(k, got)
			require.NoError(t, err)
			require.Equal(t, latest[i], ver, "an older value of %q came back", k)
			require.Equal(t, size(ver), len(got))
		}
		require.Positive(t, hits)
		require.Less(t, hits, keys, "the cache was meant to overflow")
	}
	require.Positive(t, c.Stats().Evictions)
	require.NoError(t, c.check())
}

// freecache TestEvacuateCount: with every key new, each entry set is either still there or was
// counted once as deleted, evicted or expired. Eviction by memory, by a full probe window, by
// TTL and by the janitor all keep the books.
func TestPortedEvictionCountsBalance(t *testing.T) {
	leakCheck(t)
	ops := 20000
	if testing.Short() {
		ops = 5000
	}
	for _, cfg := range []Config{
		{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1},
		{Capacity: 2 << 20, Shards: 2, AvgEntrySize: 4096, JanitorInterval: -1}, // a small table
	} {
		clock := newFakeClock()
		c := newCacheT(t, cfg, clock, nil)
		r := rand.New(rand.NewPCG(7, uint64(cfg.Shards)))
		var keys [][]byte
		for i := range ops {
			switch r.IntN(20) {
			case 0:
				if len(keys) > 0 {
					c.Delete(keys[r.IntN(len(keys))])
				}
			case 1:
				clock.advance(r.Int64N(int64(time.Second)))
			case 2:
				c.janitorPass()
			default:
				k := fmt.Appendf(nil, "k%d", i)
				keys = append(keys, k)
				if r.IntN(3) == 0 {
					require.NoError(t, c.SetWithTTL(k, make([]byte, 200+r.IntN(600)), time.Duration(1+r.Int64N(int64(2*time.Second)))))
				} else {
					require.NoError(t, c.Set(k, make([]byte, 200+r.IntN(600))))
				}
			}
			if i%500 == 0 || i == ops-1 {
				st := c.Stats()
				require.Equal(t, st.Sets-st.Deletes-st.Evictions-st.Expirations, uint64(st.Entries), "op %d: %+v", i, st)
			}
		}
		st := c.Stats()
		require.Positive(t, st.Evictions)
		require.Positive(t, st.Expirations)
		require.Positive(t, st.Deletes)
	}
}

// What a CLOCK cache offers over FIFO (freecache, bigcache, fastcache): entries read between
// writes survive a stream of one-off writes many times the cache's size.
func TestPortedReadEntriesSurviveAFlood(t *testing.T) {
	leakCheck(t)
	// A roomy table (AvgEntrySize 40), so that no probe window fills: this is about the clock.
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, AvgEntrySize: 40, JanitorInterval: -1}, newFakeClock(), nil)
	hot := make([][]byte, 8)
	for i := range hot {
		hot[i] = fmt.Appendf(nil, "hot %d", i)
		require.NoError(t, c.Set(hot[i], valueFor(hot[i], 0, 100)))
	}
	flood := 30000
	if testing.Short() {
		flood = 12000
	}
	buf := make([]byte, 0, 128)
	for i := range flood {
		k := fmt.Appendf(nil, "cold %d", i)
		require.NoError(t, c.Set(k, valueFor(k, 0, 100)))
		for _, h := range hot {
			var ok bool
			buf, ok = c.Get(buf[:0], h)
			require.True(t, ok, "hot key %q evicted after %d one-off writes", h, i)
		}
	}
	st := c.Stats()
	require.Greater(t, st.Evictions, uint64(flood/3)) // the cache holds about 7,500 such entries
	for _, h := range hot {
		got, ok := c.Get(nil, h)
		require.True(t, ok)
		require.Equal(t, valueFor(h, 0, 100), got)
	}
}

// fastcache TestCacheDel: Delete reports presence once, the key is gone from every read path,
// only present keys count as deletes, and the key can be set again.
func TestPortedDelete(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	require.NoError(t, c.Set([]byte("keep"), []byte("me")))
	for i := range 100 {
		k, v := fmt.Appendf(nil, "key %d", i), fmt.Appendf(nil, "value %d", i)
		require.NoError(t, c.Set(k, v))
		got, ok := c.Get(nil, k)
		require.True(t, ok)
		require.Equal(t, v, got)
		require.True(t, c.Delete(k))
		_, ok = c.Get(nil, k)
		require.False(t, ok)
		require.False(t, c.Has(k))
		require.False(t, c.Delete(k))
	}
	require.False(t, c.Delete([]byte("never set")))
	st := c.Stats()
	require.Equal(t, uint64(100), st.Deletes)
	require.Equal(t, 1, st.Entries)
	require.Equal(t, len("keep")+len("me"), st.LiveBytes)
	require.NoError(t, c.Set([]byte("key 5"), []byte("again")))
	got, ok := portedGet(c, "key 5")
	require.True(t, ok)
	require.Equal(t, "again", got)
}

// bigcache TestCacheStats, otter's stats counter: exact counters after a known sequence, on the
// lock-free read path and on the locked one. Has and TTL are not lookups; View is.
func TestPortedStatsAfterKnownSequence(t *testing.T) {
	for _, locked := range []bool{false, true} {
		t.Run(fmt.Sprintf("lockedReads=%v", locked), func(t *testing.T) {
			leakCheck(t)
			c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
			c.e.lockedReads = locked
			a, b, missing := []byte("a"), []byte("b"), []byte("c")
			// Each shard that a or b went to took one index page, and keeps it until Reset.
			// Which shards they go to depends on the cache's random hash seed.
			pages := 2
			if c.e.shardFor(c.e.hash(a)) == c.e.shardFor(c.e.hash(b)) {
				pages = 1
			}
			require.NoError(t, c.Set(a, []byte("1")))
			require.NoError(t, c.Set(b, []byte("22")))
			_, ok := c.Get(nil, a) // hit
			require.True(t, ok)
			_, ok = c.Get(nil, missing) // miss
			require.False(t, ok)
			require.True(t, c.View(b, func([]byte) {}))        // hit
			require.False(t, c.View(missing, func([]byte) {})) // miss
			require.True(t, c.Has(a))                          // not counted
			require.False(t, c.Has(missing))                   // not counted
			_, _ = c.TTL(a)                                    // not counted
			require.True(t, c.Delete(a))
			require.False(t, c.Delete(a))
			_, ok = c.Get(nil, a) // miss
			require.False(t, ok)
			require.NoError(t, c.Set(b, []byte("333")))
			require.Error(t, c.Set(b, make([]byte, c.e.lay.maxEntry))) // refused: not a Set
			st := c.Stats()
			require.Equal(t, uint64(2), st.Hits)
			require.Equal(t, uint64(3), st.Misses)
			require.Equal(t, uint64(3), st.Sets)
			require.Equal(t, uint64(1), st.Deletes)
			require.Equal(t, uint64(0), st.Evictions)
			require.Equal(t, uint64(0), st.Expirations)
			require.Equal(t, 1, st.Entries)
			require.Equal(t, len("b")+len("333"), st.LiveBytes)
			// b's third value has its second's footprint, so it went in place; a's bytes wait
			// for reclamation.
			require.Equal(t, entrySize(1, 2, false), entrySize(1, 3, false))
			require.Equal(t, entrySize(1, 1, false)+entrySize(1, 2, false)+pages*indexPageSize, st.UsedBytes)
		})
	}
}

// bigcache TestWriteAndReadParallelSameKeyWithStats: many goroutines reading one key, more of
// them than there are reader slots, get its value every time, and the hit count is exact.
func TestPortedParallelReadsCountExactly(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	key, value := []byte("key"), bytes.Repeat([]byte{'a'}, 1024)
	for range 100 {
		require.NoError(t, c.Set(key, value))
	}
	readers := 2*len(c.e.readers.slots) + 3
	perReader := 200
	if testing.Short() {
		perReader = 50
	}
	var wg sync.WaitGroup
	var bad atomic.Int64
	start := make(chan struct{})
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 2048)
			<-start
			for range perReader {
				var ok bool
				if g%4 == 0 {
					ok = c.View(key, func(v []byte) {
						if !bytes.Equal(v, value) {
							bad.Add(1)
						}
					})
				} else {
					buf, ok = c.Get(buf[:0], key)
					if !bytes.Equal(buf, value) {
						bad.Add(1)
					}
				}
				if !ok {
					bad.Add(1)
				}
				if _, ok := c.Get(nil, []byte("absent")); ok {
					bad.Add(1)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Zero(t, bad.Load())
	st := c.Stats()
	require.Equal(t, uint64(readers*perReader), st.Hits)
	require.Equal(t, uint64(readers*perReader), st.Misses)
	require.Equal(t, uint64(100), st.Sets)
}

// freecache TestRace and TestConcurrentSet, fastcache TestCacheGetSetConcurrent: goroutines
// setting, reading and deleting at once, under -race. Each goroutine's own keys behave as a
// map for it; keys all goroutines share always hold a whole value of their own.
func TestPortedConcurrentSetGetDelete(t *testing.T) {
	leakCheck(t)
	// Room for everything written, dead bytes included: no entry may be evicted.
	c := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: time.Millisecond}, nil, nil)
	workers, iters := 8, 3000
	if testing.Short() {
		iters = 800
	}
	var version atomic.Uint64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 11))
			own := map[string][]byte{}
			buf := make([]byte, 0, 4096)
			for i := range iters {
				shared := fmt.Appendf(nil, "shared %d", r.IntN(64))
				if err := c.Set(shared, portedStamp(shared, version.Add(1), 16+r.IntN(600))); err != nil {
					errs <- err
					return
				}
				if v, ok := c.Get(buf[:0], shared); ok {
					if _, err := portedStampOK(shared, v); err != nil {
						errs <- err
						return
					}
				}
				k := fmt.Appendf(nil, "w%d k%d", w, r.IntN(100))
				switch r.IntN(4) {
				case 0:
					_, had := own[string(k)]
					if c.Delete(k) != had {
						errs <- fmt.Errorf("iter %d: Delete(%q) disagrees with the worker's map", i, k)
						return
					}
					delete(own, string(k))
				default:
					v := portedStamp(k, version.Add(1), 16+r.IntN(200))
					if err := c.Set(k, v); err != nil {
						errs <- err
						return
					}
					own[string(k)] = v
				}
				want, had := own[string(k)]
				got, ok := c.Get(buf[:0], k)
				if ok != had || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("iter %d: Get(%q) = %v, want %v and the worker's last value", i, k, ok, had)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st := c.Stats()
	require.Zero(t, st.Evictions)
	require.Equal(t, c.Len(), st.Entries)
}

// fastcache TestCacheResetUpdateStatsSetConcurrent: Reset, Stats and Set from many goroutines
// at once leave a consistent cache that works as before.
func TestPortedConcurrentResetStatsSet(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	stop := make(chan struct{})
	var bg, setters sync.WaitGroup
	for range 3 {
		bg.Add(2)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					c.Reset()
					runtime.Gosched()
				}
			}
		}()
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					st := c.Stats()
					if st.UsedBytes+st.ReservedBytes > st.Capacity {
						t.Errorf("used %d + reserved %d > capacity %d", st.UsedBytes, st.ReservedBytes, st.Capacity)
					}
					runtime.Gosched()
				}
			}
		}()
	}
	for w := range 4 {
		setters.Add(1)
		go func() {
			defer setters.Done()
			for j := range 300 {
				k := fmt.Appendf(nil, "key_%d", j%100)
				if err := c.Set(k, fmt.Appendf(nil, "value_%d_%d", w, j)); err != nil {
					t.Error(err)
					return
				}
				runtime.Gosched()
			}
		}()
	}
	setters.Wait()
	close(stop)
	bg.Wait()
	require.NoError(t, c.check())
	require.LessOrEqual(t, c.Len(), 100)
	require.Equal(t, uint64(1200), c.Stats().Sets)
	require.NoError(t, c.Set([]byte("after"), []byte("reset")))
	got, ok := portedGet(c, "after")
	require.True(t, ok)
	require.Equal(t, "reset", got)
}

// bigcache TestCacheReset and TestGetOnResetCache: Reset empties the cache, which then works
// as new; the counters of what happened before stay.
func TestPortedResetThenReuse(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	const keys = 1337
	fill := func(tag string) {
		for i := range keys {
			require.NoError(t, c.Set(fmt.Appendf(nil, "key%d", i), fmt.Appendf(nil, "%s%d", tag, i)))
		}
	}
	fill("first")
	require.Equal(t, keys, c.Len())
	reserved := c.Stats().ReservedBytes
	c.Reset()
	require.Zero(t, c.Len())
	for i := range keys {
		k := fmt.Appendf(nil, "key%d", i)
		got, ok := c.Get([]byte("dst"), k)
		require.False(t, ok)
		require.Equal(t, "dst", string(got))
		require.False(t, c.Has(k))
		require.False(t, c.Delete(k))
	}
	st := c.Stats()
	require.Zero(t, st.Entries)
	require.Zero(t, st.LiveBytes)
	require.Zero(t, st.UsedBytes, "an emptied cache uses nothing")
	require.Equal(t, reserved, st.ReservedBytes)
	require.Equal(t, uint64(keys), st.Sets, "Reset keeps the counters")
	require.Equal(t, uint64(keys), st.Misses)

	fill("second")
	require.Equal(t, keys, c.Len())
	for i := range keys {
		got, ok := portedGet(c, fmt.Sprintf("key%d", i))
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("second%d", i), got)
	}
	require.Zero(t, c.Stats().Evictions)
}

// bigcache TestClosing, otter's Close: Close returns nil, as often as it is called and from as
// many goroutines; every call after it fails cleanly; the counters stay readable.
func TestPortedCloseSemantics(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: time.Millisecond}, newFakeClock(), nil)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	_, _ = c.Get(nil, []byte("k"))
	capacity := c.Stats().Capacity
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, c.Close())

	k := []byte("k")
	require.ErrorIs(t, c.Set(k, []byte("v")), ErrClosed)
	require.ErrorIs(t, c.SetWithTTL(k, []byte("v"), time.Second), ErrClosed)
	require.ErrorIs(t, c.SetWithTTL(k, []byte("v"), -time.Second), ErrClosed, "closed is the first thing to say")
	require.ErrorIs(t, c.Set(k, make([]byte, c.e.lay.maxEntry+1)), ErrClosed)
	got, ok := c.Get([]byte("dst"), k)
	require.False(t, ok)
	require.Equal(t, "dst", string(got))
	require.False(t, c.Has(k))
	require.False(t, c.View(k, func([]byte) { t.Error("View called back after Close") }))
	_, ok = c.TTL(k)
	require.False(t, ok)
	require.False(t, c.Delete(k))
	require.Zero(t, c.Len())
	c.Reset()
	st := c.Stats()
	require.Zero(t, st.Entries)
	require.Zero(t, st.UsedBytes)
	require.Equal(t, capacity, st.Capacity)
	require.Equal(t, uint64(1), st.Sets)
	require.Equal(t, uint64(1), st.Hits)
}

// go-cache stops its janitor when the cache goes; bigcache's Close stops its cleaner. Caches
// made and closed in a loop leave no janitor goroutine and no mapping behind.
func TestPortedCloseStopsJanitor(t *testing.T) {
	leakCheck(t) // and, at the end, no janitor goroutine or mapping left over
	for i := range 20 {
		c, err := New(Config{Capacity: MinCapacity, JanitorInterval: time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, c.Set([]byte("k"), []byte("v")))
		e := c.e
		require.NoError(t, c.Close())
		select {
		case <-e.janitorDone:
		default:
			t.Fatalf("cache %d: Close returned with its janitor running", i)
		}
		require.True(t, e.released.Load(), "cache %d: Close returned with the memory mapped", i)
	}
}

// bigcache TestHashCollision, where a colliding key replaces the other: here both keys stay,
// each with its own value, through overwrites and deletes.
func TestPortedHashCollisionKeepsBothKeys(t *testing.T) {
	leakCheck(t)
	const oneHash = 0x5a5a5a5a_00420000
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1}, newFakeClock(), func(uint64) uint64 { return oneHash })
	require.NoError(t, c.Set([]byte("liquid"), []byte("value")))
	require.NoError(t, c.Set([]byte("costarring"), []byte("value 2")))
	require.NoError(t, c.Set([]byte("solids"), []byte("value 3"))) // and of the same length
	got, ok := portedGet(c, "liquid")
	require.True(t, ok)
	require.Equal(t, "value", got)
	got, ok = portedGet(c, "costarring")
	require.True(t, ok)
	require.Equal(t, "value 2", got)
	got, ok = portedGet(c, "solids")
	require.True(t, ok)
	require.Equal(t, "value 3", got)
	_, ok = portedGet(c, "liquids")
	require.False(t, ok, "same hash, another key: a miss")

	require.NoError(t, c.Set([]byte("liquid"), []byte("a longer value")))
	got, _ = portedGet(c, "costarring")
	require.Equal(t, "value 2", got)
	require.True(t, c.Delete([]byte("costarring")))
	got, ok = portedGet(c, "liquid")
	require.True(t, ok)
	require.Equal(t, "a longer value", got)
	require.True(t, c.Delete([]byte("liquid")))
	got, ok = portedGet(c, "solids")
	require.True(t, ok)
	require.Equal(t, "value 3", got)
	require.Equal(t, 1, c.Len())
	require.Equal(t, uint64(0), c.Stats().Evictions)
}

// bigcache TestNewBigcacheValidation, otter's option checks: a Config that cannot work is
// refused with ErrInvalidConfig and maps nothing; the smallest one that can, works.
func TestPortedInvalidConfig(t *testing.T) {
	leakCheck(t)
	mappings := liveMappings.Load()
	for _, cfg := range []Config{
		{},
		{Capacity: MinCapacity - 1},
		{Capacity: 4 << 20, Shards: 3},
		{Capacity: 4 << 20, Shards: -1},
		{Capacity: 4 << 20, DefaultTTL: -1},
		{Capacity: 4 << 20, MaxEntrySize: -1},
		{Capacity: 4 << 20, MaxEntrySize: 2 << 20},
		{Capacity: 4 << 20, Shards: 1 << 17},
	} {
		c, err := New(cfg)
		require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
		require.Nil(t, c)
	}
	require.LessOrEqual(t, liveMappings.Load(), mappings, "a refused Config maps nothing")
	c, err := New(Config{Capacity: MinCapacity})
	require.NoError(t, err)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	require.NoError(t, c.Close())
	// AvgEntrySize is deprecated and ignored: even a negative one is no reason to refuse.
	c, err = New(Config{Capacity: 4 << 20, AvgEntrySize: -1})
	require.NoError(t, err)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	require.NoError(t, c.Close())
}

// fastcache TestCacheSetGetSerial: many small keys in a cache large enough for all of them are
// all there, exactly, with exact totals.
func TestPortedManyKeysAllKept(t *testing.T) {
	leakCheck(t)
	n := 50_000
	if testing.Short() {
		n = 10_000
	}
	c := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, newFakeClock(), nil)
	live := 0
	for i := range n {
		k, v := fmt.Appendf(nil, "key %d", i), fmt.Appendf(nil, "value %d", i)
		require.NoError(t, c.Set(k, v))
		live += len(k) + len(v)
	}
	buf := make([]byte, 0, 32)
	for i := range n {
		var ok bool
		buf, ok = c.Get(buf[:0], fmt.Appendf(nil, "key %d", i))
		require.True(t, ok, "key %d", i)
		require.Equal(t, fmt.Sprintf("value %d", i), string(buf))
	}
	st := c.Stats()
	require.Equal(t, n, st.Entries)
	require.Equal(t, live, st.LiveBytes)
	require.Zero(t, st.Evictions)
	require.Equal(t, uint64(n), st.Hits)
}

// freecache TestConcurrentGetTTL: TTL answers exactly while other goroutines write.
func TestPortedTTLWhileOthersWrite(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, clock, nil)
	primary := []byte("hello")
	require.NoError(t, c.SetWithTTL(primary, []byte("world"), 2*time.Second))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Appendf(nil, "counter_%d", i)
			if err := c.Set(k, k); err != nil {
				t.Error(err)
			}
		}()
	}
	for range 2000 {
		left, ok := c.TTL(primary)
		require.True(t, ok)
		require.Equal(t, 2*time.Second, left)
	}
	wg.Wait()
	require.Equal(t, 201, c.Len())
	clock.advance(int64(2 * time.Second))
	_, ok := c.TTL(primary)
	require.False(t, ok)
}
