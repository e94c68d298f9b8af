package mmcache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	rdebug "runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of All and Keys (iterate.go): weakly consistent iteration by fingerprint cursor.

// testsUnderRace reports whether the test binary was built with -race, as its build settings
// say: the larger tests of this file, ttl_test.go and removal_test.go then scale their loops
// down, the detector making each Set several times slower.
var testsUnderRace = sync.OnceValue(func() bool {
	info, ok := rdebug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
})

// iterCollect runs All to the end and returns how many times each key was yielded, and the
// value of each (the last one yielded).
func iterCollect(c *Cache) (counts map[string]int, values map[string]string) {
	counts, values = make(map[string]int), make(map[string]string)
	for k, v := range c.All() {
		counts[string(k)]++
		values[string(k)] = string(v)
	}
	return counts, values
}

// iterCollectKeys runs Keys to the end and returns how many times each key was yielded.
func iterCollectKeys(c *Cache) map[string]int {
	counts := make(map[string]int)
	for k := range c.Keys() {
		counts[string(k)]++
	}
	return counts
}

// iterRequireExactly checks that counts holds exactly the keys of want, each once, and, when
// values is not nil, each with its value.
func iterRequireExactly(t *testing.T, want map[string]string, counts map[string]int, values map[string]string) {
	t.Helper()
	for k, n := range counts {
		if _, ok := want[k]; !ok {
			t.Fatalf("key %q yielded %d times, but it is not in the cache", k, n)
		}
		if n != 1 {
			t.Fatalf("key %q yielded %d times", k, n)
		}
	}
	for k, v := range want {
		if counts[k] != 1 {
			t.Fatalf("key %q yielded %d times, want once", k, counts[k])
		}
		if values != nil && values[k] != v {
			t.Fatalf("key %q yielded with value %x, want %x", k, values[k], v)
		}
	}
	require.Len(t, counts, len(want))
}

// TestAllEveryEntryOnce: a cache of 200k small entries over 16 shards, each with several index
// pages, and no eviction: All yields each entry exactly once with its value, and Keys each key
// exactly once. Keys are numbered, so that a slice, not a map, keeps count.
func TestAllEveryEntryOnce(t *testing.T) {
	leakCheck(t)
	n, shards, minPages := 200_000, 16, uint32(4)
	switch {
	case debug:
		// Every write checks its shard's invariants, a walk of the whole shard: fewer
		// entries, in fewer shards, so that each shard still has several pages.
		n, shards, minPages = 4000, 4, 3
	case testing.Short() || testsUnderRace():
		n = 40_000 // still about eight index pages per shard
	}
	c := newCacheT(t, Config{Capacity: 64 << 20, Shards: shards, JanitorInterval: -1}, nil, nil)
	key := func(dst []byte, i int) []byte { return fmt.Appendf(dst[:0], "key-%07d", i) }
	index := func(k []byte) int {
		var i int
		if len(k) != 11 || !bytes.HasPrefix(k, []byte("key-")) {
			return -1
		}
		for _, d := range k[4:] {
			if d < '0' || d > '9' {
				return -1
			}
			i = 10*i + int(d-'0')
		}
		if i >= n {
			return -1
		}
		return i
	}
	vlen := func(i int) int { return 8 + i%16 }
	kb, vb := make([]byte, 0, 16), make([]byte, 32)
	for i := range n {
		kb = key(kb, i)
		fillValue(vb[:vlen(i)], kb, 0)
		require.NoError(t, c.Set(kb, vb[:vlen(i)]))
	}
	st := c.Stats()
	require.Zero(t, st.Evictions)
	require.Zero(t, st.Expirations)
	require.Equal(t, n, st.Entries)
	for i := range c.e.shards {
		s := &c.e.shards[i]
		s.mu.RLock()
		pages := s.idx.hdr.pages
		s.mu.RUnlock()
		require.GreaterOrEqual(t, pages, minPages, "shard %d has several index pages", i)
	}

	counts := make([]uint8, n)
	for k, v := range c.All() {
		i := index(k)
		if i < 0 {
			t.Fatalf("key %q was never stored", k)
		}
		counts[i]++
		fillValue(vb[:vlen(i)], k, 0)
		if !bytes.Equal(v, vb[:vlen(i)]) {
			t.Fatalf("key %q yielded with value %x, want %x", k, v, vb[:vlen(i)])
		}
	}
	for i, cnt := range counts {
		if cnt != 1 {
			t.Fatalf("All: key %d yielded %d times", i, cnt)
		}
	}
	clear(counts)
	for k := range c.Keys() {
		i := index(k)
		if i < 0 {
			t.Fatalf("key %q was never stored", k)
		}
		counts[i]++
	}
	for i, cnt := range counts {
		if cnt != 1 {
			t.Fatalf("Keys: key %d yielded %d times", i, cnt)
		}
	}
	// Iteration is not a use: no lookup counted.
	require.Equal(t, st, c.Stats())
}

// TestAllEmptyClosedZero: an empty cache, a closed one, a zero Cache and a nil *Cache yield
// nothing.
func TestAllEmptyClosedZero(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1}, nil, nil)
	counts, _ := iterCollect(c)
	require.Empty(t, counts)
	require.Empty(t, iterCollectKeys(c))
	for i := range 100 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "k%d", i), []byte("v")))
	}
	c.Reset()
	counts, _ = iterCollect(c)
	require.Empty(t, counts, "after Reset")
	for i := range 100 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "k%d", i), []byte("v")))
	}
	require.NoError(t, c.Close())
	counts, _ = iterCollect(c)
	require.Empty(t, counts, "after Close")
	require.Empty(t, iterCollectKeys(c))
	var zero Cache
	counts, _ = iterCollect(&zero)
	require.Empty(t, counts)
	require.Empty(t, iterCollectKeys(&zero))
	var nilCache *Cache
	counts, _ = iterCollect(nilCache)
	require.Empty(t, counts)
	require.Empty(t, iterCollectKeys(nilCache))
}

// TestAllSkipsExpiredAndDeleted: entries expired (on a fake clock) or deleted before the loop
// are never yielded; those with a TTL still running, without one, or made never to expire by
// Touch are.
func TestAllSkipsExpiredAndDeleted(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, clock, nil)
	const n = 4000
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
	for i := range n {
		k, v := key(i), valueFor(key(i), 0, 20)
		switch i % 4 {
		case 0:
			require.NoError(t, c.SetWithTTL(k, v, time.Second))
		case 1:
			require.NoError(t, c.SetWithTTL(k, v, time.Hour))
		default:
			require.NoError(t, c.Set(k, v))
		}
	}
	for i := 2; i < n; i += 8 {
		require.True(t, c.Delete(key(i)))
	}
	for i := 1; i < n; i += 40 {
		ok, err := c.Touch(key(i), 0) // never expires
		require.NoError(t, err)
		require.True(t, ok)
	}
	expect := func() map[string]string {
		want := make(map[string]string)
		for i := range n {
			k := key(i)
			if _, ok := c.Get(nil, k); ok {
				want[string(k)] = string(valueFor(k, 0, 20))
			}
		}
		return want
	}

	clock.advance(int64(time.Second)) // the i%4 == 0 ones expire
	want := expect()
	require.Len(t, want, n-n/4-n/8)
	require.Equal(t, n-n/8, c.Len(), "the expired entries are still in the index")
	counts, values := iterCollect(c)
	iterRequireExactly(t, want, counts, values)
	iterRequireExactly(t, want, iterCollectKeys(c), nil)

	clock.advance(int64(time.Hour)) // the i%4 == 1 ones expire, but for those touched
	want = expect()
	require.Len(t, want, n/4+n/8+n/4/10)
	counts, values = iterCollect(c)
	iterRequireExactly(t, want, counts, values)
	for i := 1; i < n; i += 40 {
		require.Equal(t, 1, counts[string(key(i))], "key %d never expires", i)
	}
	c.janitorPass()
	counts, values = iterCollect(c)
	iterRequireExactly(t, want, counts, values)
	mustCheck(t, c, "end")
}

// TestAllEntryExpiringDuringLoop: an entry whose TTL runs out while the loop runs is not
// yielded after that, though its batch was copied before.
func TestAllEntryExpiringDuringLoop(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	for i := range 10 {
		require.NoError(t, c.SetWithTTL(fmt.Appendf(nil, "ttl-%d", i), []byte("v"), 10*time.Second))
		require.NoError(t, c.Set(fmt.Appendf(nil, "plain-%d", i), []byte("v")))
	}
	var yielded []string
	for k := range c.Keys() {
		if len(yielded) == 0 {
			clock.advance(int64(10 * time.Second)) // every ttl- entry expires now
		}
		yielded = append(yielded, string(k))
	}
	plain := 0
	for i, k := range yielded {
		if strings.HasPrefix(k, "ttl-") {
			require.Zero(t, i, "expired key %s yielded after the clock passed its expiry", k)
		} else {
			plain++
		}
	}
	require.Equal(t, 10, plain, "every plain key once: %v", yielded)
}

// TestAllEarlyBreak: a loop that breaks early yields exactly as many entries as it took and
// leaves no lock held: every shard takes writes afterwards.
func TestAllEarlyBreak(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 8, JanitorInterval: -1}, nil, nil)
	for i := range 1000 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "key-%d", i), []byte("v")))
	}
	for _, stop := range []int{1, 10, 999} {
		n := 0
		for range c.All() {
			n++
			if n == stop {
				break
			}
		}
		require.Equal(t, stop, n)
		n = 0
		for range c.Keys() {
			n++
			if n == stop {
				break
			}
		}
		require.Equal(t, stop, n)
	}
	// The iterator function itself, with a yield that says stop at once.
	calls := 0
	c.All()(func(k, v []byte) bool { calls++; return false })
	require.Equal(t, 1, calls)
	calls = 0
	c.Keys()(func(k []byte) bool { calls++; return false })
	require.Equal(t, 1, calls)

	require.True(t, shardsUnlocked(c, time.Second), "no shard lock held after a break")
	// Writes to every shard go through: each shard's write lock is free.
	for i := range c.e.shards {
		s := &c.e.shards[i]
		require.True(t, s.mu.TryLock(), "shard %d", i)
		s.mu.Unlock()
	}
	for i := range 1000 {
		k := fmt.Appendf(nil, "key-%d", i)
		require.NoError(t, c.Set(k, []byte("w")))
		require.True(t, c.Delete(k))
	}
	mustCheck(t, c, "end")
}

// TestAllBodyCallsMethods: the loop body may call Get, Set and Delete, on the key yielded and
// on others, in the same shard and others: no deadlock, and every entry present before the
// loop and untouched by it is yielded exactly once with its value.
func TestAllBodyCallsMethods(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 16 << 20, Shards: 4, JanitorInterval: -1}, nil, nil)
	n := 3000
	if debug {
		n = 600 // every write checks its shard's invariants
	}
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
	want := make(map[string]string)
	for i := range n {
		k := key(i)
		v := valueFor(k, 0, 30)
		require.NoError(t, c.Set(k, v))
		if i%3 == 0 {
			want[string(k)] = string(v) // never touched by the body
		}
	}
	counts := make(map[string]int)
	added := 0
	for k, v := range c.All() {
		counts[string(k)]++
		if strings.HasPrefix(string(k), "new-") {
			continue
		}
		var i int
		_, err := fmt.Sscanf(string(k), "key-%d", &i)
		require.NoError(t, err)
		if i%3 == 0 {
			require.Equal(t, want[string(k)], string(v), "key %d", i)
			got, ok := c.Get(nil, k)
			require.True(t, ok)
			require.Equal(t, v, got)
			continue
		}
		// Change the key yielded, or delete it, and add a new key, which may land anywhere.
		if i%3 == 1 {
			require.NoError(t, c.Set(k, []byte("changed")))
		} else {
			require.True(t, c.Delete(k))
		}
		require.NoError(t, c.Set(fmt.Appendf(nil, "new-%d", added), []byte("v")))
		added++
	}
	for k := range want {
		require.Equal(t, 1, counts[k], "untouched key %s", k)
	}
	for k, cnt := range counts {
		require.Equal(t, 1, cnt, "key %s yielded more than once", k)
	}
	require.Zero(t, c.Stats().Evictions)
	mustCheck(t, c, "end")
}

// TestAllCloseInBody: Close called in the loop body ends the loop at once, with no fault, and
// the key and value yielded stay readable; so does Close from another goroutine while the
// body waits.
func TestAllCloseInBody(t *testing.T) {
	fill := func(t *testing.T) *Cache {
		c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, nil, nil)
		for i := range 2000 {
			k := fmt.Appendf(nil, "key-%d", i)
			require.NoError(t, c.Set(k, valueFor(k, 0, 40)))
		}
		return c
	}
	t.Run("All", func(t *testing.T) {
		leakCheck(t)
		c := fill(t)
		n := 0
		for k, v := range c.All() {
			n++
			require.NoError(t, c.Close())
			require.Equal(t, valueFor(k, 0, 40), v, "the copy is still readable")
		}
		require.Equal(t, 1, n)
		_, ok := c.Get(nil, []byte("key-1"))
		require.False(t, ok)
	})
	t.Run("Keys", func(t *testing.T) {
		leakCheck(t)
		c := fill(t)
		n := 0
		for k := range c.Keys() {
			n++
			require.NoError(t, c.Close())
			require.True(t, bytes.HasPrefix(k, []byte("key-")))
		}
		require.Equal(t, 1, n)
	})
	t.Run("another goroutine", func(t *testing.T) {
		leakCheck(t)
		c := fill(t)
		closeNow, closed := make(chan struct{}), make(chan struct{})
		go func() {
			<-closeNow
			_ = c.Close()
			close(closed)
		}()
		n := 0
		for k, v := range c.All() {
			n++
			if n == 100 {
				close(closeNow)
				<-closed
			}
			require.Equal(t, valueFor(k, 0, 40), v)
		}
		require.Equal(t, 100, n)
	})
}

// TestAllConcurrentWriters: while other goroutines set, overwrite and delete other keys (which
// adds index pages and lets the janitor compact) and read, a loop yields every entry present
// before it and never touched exactly once with its value, and any other key at most once
// with a whole value of its own. The cache is large enough that nothing is evicted.
func TestAllConcurrentWriters(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 64 << 20, Shards: 8, JanitorInterval: time.Millisecond}, nil, nil)
	stable := 20_000
	maxOps := 150_000 // per writer: at most about 10 MiB written each, well within Capacity
	switch {
	case debug:
		stable, maxOps = 2_000, 4_000 // every write checks its shard's invariants
	case testing.Short() || testsUnderRace():
		stable, maxOps = 5_000, 40_000
	}
	want := make(map[string]string, stable)
	for i := range stable {
		k := fmt.Appendf(nil, "stable-%d", i)
		v := valueFor(k, 0, 24)
		require.NoError(t, c.Set(k, v))
		want[string(k)] = string(v)
	}
	// A churn value: its version, then bytes that depend on the key and version.
	churnValue := func(k []byte, version uint64) []byte {
		v := binary.LittleEndian.AppendUint64(nil, version)
		return append(v, valueFor(k, int(version), 8+int(version%40))...)
	}
	churnOK := func(k, v []byte) bool {
		return len(v) >= 8 && bytes.Equal(v, churnValue(k, binary.LittleEndian.Uint64(v)))
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var problems sync.Map
	var warm sync.WaitGroup
	const writers = 2
	warm.Add(writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			warmed := false
			defer func() {
				if !warmed {
					warm.Done()
				}
			}()
			for i := range maxOps {
				if i == 1000 {
					warmed = true
					warm.Done()
				}
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Appendf(nil, "churn-%d-%d", w, i/2) // each key written twice
				if err := c.Set(k, churnValue(k, uint64(i))); err != nil {
					problems.Store("Set: "+err.Error(), true)
					return
				}
				if i%3 == 0 && i > 100 {
					c.Delete(fmt.Appendf(nil, "churn-%d-%d", w, (i-100)/2))
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // a reader of the stable keys
		defer wg.Done()
		buf := make([]byte, 0, 64)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Appendf(nil, "stable-%d", i%stable)
			var ok bool
			if buf, ok = c.Get(buf[:0], k); !ok || string(buf) != want[string(k)] {
				problems.Store(fmt.Sprintf("Get of %s: %v", k, ok), true)
				return
			}
		}
	}()
	warm.Wait()
	for pass := range 3 {
		counts := make(map[string]int)
		for k, v := range c.All() {
			counts[string(k)]++
			if strings.HasPrefix(string(k), "stable-") {
				if string(v) != want[string(k)] {
					t.Errorf("pass %d: stable key %s with value %x", pass, k, v)
				}
			} else if !churnOK(k, v) {
				t.Errorf("pass %d: churn key %s with value %x", pass, k, v)
			}
		}
		for k := range want {
			if counts[k] != 1 {
				t.Errorf("pass %d: stable key %s yielded %d times", pass, k, counts[k])
			}
		}
		for k, n := range counts {
			if n != 1 {
				t.Errorf("pass %d: key %s yielded %d times", pass, k, n)
			}
		}
		if t.Failed() {
			break
		}
	}
	close(stop)
	wg.Wait()
	problems.Range(func(k, _ any) bool {
		t.Error(k)
		return true
	})
	require.Zero(t, c.Stats().Evictions, "nothing may be evicted for this test to hold")
	mustCheck(t, c, "end")
}

// TestAllPageSplitsDuringLoop: the loop body adds many keys to the shard it iterates, which
// splits the index pages under the cursor again and again; every entry present before the loop
// is still yielded exactly once, and no key twice.
func TestAllPageSplitsDuringLoop(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			leakCheck(t)
			c := newCacheT(t, Config{Capacity: 16 << 20, Shards: shards, JanitorInterval: -1}, nil, nil)
			want := make(map[string]string)
			for i := range 200 {
				k := fmt.Appendf(nil, "stable-%d", i)
				v := valueFor(k, 0, 16)
				require.NoError(t, c.Set(k, v))
				want[string(k)] = string(v)
			}
			pagesBefore := 0
			for i := range c.e.shards {
				pagesBefore += int(c.e.shards[i].idx.hdr.pages)
			}
			counts := make(map[string]int)
			added := 0
			maxAdded := 30_000
			switch {
			case debug:
				maxAdded = 1_500 // every write checks its shard's invariants
			case testsUnderRace():
				maxAdded = 15_000
			}
			for k, v := range c.All() {
				counts[string(k)]++
				if strings.HasPrefix(string(k), "stable-") {
					require.Equal(t, want[string(k)], string(v))
				}
				for j := 0; j < 300 && added < maxAdded; j++ {
					nk := fmt.Appendf(nil, "new-%d", added)
					require.NoError(t, c.Set(nk, nk))
					added++
				}
			}
			require.Equal(t, maxAdded, added)
			pagesAfter := 0
			for i := range c.e.shards {
				pagesAfter += int(c.e.shards[i].idx.hdr.pages)
			}
			require.Greater(t, pagesAfter, pagesBefore+maxAdded/1000, "the index split many times")
			for k := range want {
				require.Equal(t, 1, counts[k], "stable key %s", k)
			}
			for k, n := range counts {
				require.Equal(t, 1, n, "key %s yielded more than once", k)
			}
			require.Zero(t, c.Stats().Evictions)
			mustCheck(t, c, "end")
		})
	}
}

// TestAllCollisions: entries whose keys share fingerprints, with values large enough that a
// page's entries exceed a batch (iterBatchBytes), so that batches end between fingerprints and
// one fingerprint's entries alone exceed a batch: each entry is still yielded exactly once.
func TestAllCollisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hashes []uint64 // one per group of keys: the fingerprint is the top 32 bits
		counts []int    // keys per group
		vlen   int
	}{
		// One fingerprint, a full probe window of 1 KiB values: 112 KiB in one fingerprint.
		{"one fingerprint", []uint64{0x12345678_00000000}, []int{pageProbe * bucketSlots}, 1024},
		// Four fingerprints, home buckets apart, in one page: sorted 0x08.., 0x10.., 0x20..,
		// 0x30..; the third alone exceeds a batch, and batches end before and after it.
		{"four fingerprints", []uint64{0x10000000_00000000, 0x20000014_00000000, 0x30000028_00000000, 0x08000032_00000000}, []int{40, 100, 40, 10}, 1024},
		// Small values: the whole page fits in one batch.
		{"four fingerprints, small values", []uint64{0x10000000_00000000, 0x20000014_00000000, 0x30000028_00000000, 0x08000032_00000000}, []int{40, 100, 40, 10}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, hashByGroup(tc.hashes))
			want := make(map[string]string)
			total := 0
			for g, n := range tc.counts {
				for i := range n {
					k := collisionKey(g, i)
					v := valueFor(k, g, tc.vlen)
					require.NoError(t, c.Set(k, v))
					want[string(k)] = string(v)
					total += len(k) + len(v)
				}
			}
			st := c.Stats()
			require.Zero(t, st.Evictions)
			require.Equal(t, len(want), st.Entries)
			require.Equal(t, uint32(1), c.e.shards[0].idx.hdr.pages, "all in one page")
			if tc.vlen > 100 {
				require.Greater(t, total, iterBatchBytes)
			}
			counts, values := iterCollect(c)
			iterRequireExactly(t, want, counts, values)
			iterRequireExactly(t, want, iterCollectKeys(c), nil)
			// Break in the middle and in every position: the prefix yielded has no repeat.
			for stop := 1; stop < len(want); stop += 37 {
				seen := make(map[string]bool)
				for k := range c.All() {
					require.False(t, seen[string(k)])
					seen[string(k)] = true
					if len(seen) == stop {
						break
					}
				}
				require.Len(t, seen, stop)
			}
		})
	}
}

// TestAllLargeValues: many distinct fingerprints with 4 KiB values, so that each page's entries
// take several batches: each entry is yielded exactly once with its value.
func TestAllLargeValues(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 16 << 20, Shards: 2, JanitorInterval: -1}, nil, nil)
	want := make(map[string]string)
	n := 2000
	if testsUnderRace() || debug {
		n = 800 // still several batches to a page
	}
	for i := range n {
		k := fmt.Appendf(nil, "big-%d", i)
		v := valueFor(k, 0, 4096+i%7)
		require.NoError(t, c.Set(k, v))
		want[string(k)] = string(v)
	}
	require.Zero(t, c.Stats().Evictions)
	counts, values := iterCollect(c)
	iterRequireExactly(t, want, counts, values)
	iterRequireExactly(t, want, iterCollectKeys(c), nil)
}

// TestAllAllocsConstant: a whole loop allocates a fixed number of objects, the same for 100
// entries as for 10,000 (3,000 in the debug build): nothing per entry or per batch.
func TestAllAllocsConstant(t *testing.T) {
	leakCheck(t)
	// 16 shards: the debug build's check after each write walks a smaller shard.
	small := newCacheT(t, Config{Capacity: 16 << 20, Shards: 16, JanitorInterval: -1}, nil, nil)
	large := newCacheT(t, Config{Capacity: 16 << 20, Shards: 16, JanitorInterval: -1}, nil, nil)
	key := make([]byte, 16)
	value := make([]byte, 64)
	n := 10_000
	if debug {
		n = 3000 // every write checks its shard's invariants
	}
	for i := range n {
		binary.LittleEndian.PutUint64(key, uint64(i))
		if i < 100 {
			require.NoError(t, small.Set(key, value))
		}
		require.NoError(t, large.Set(key, value))
	}
	require.Zero(t, large.Stats().Evictions)
	var sink atomic.Int64
	all := func(c *Cache, want int) func() {
		return func() {
			n := 0
			for k, v := range c.All() {
				n += len(k) + len(v)
			}
			if n != want*80 {
				panic(fmt.Sprintf("%d bytes yielded, want %d", n, want*80))
			}
			sink.Add(int64(n))
		}
	}
	keys := func(c *Cache, want int) func() {
		return func() {
			n := 0
			for range c.Keys() {
				n++
			}
			if n != want {
				panic(fmt.Sprintf("%d keys yielded, want %d", n, want))
			}
			sink.Add(int64(n))
		}
	}
	allSmall, allLarge := testing.AllocsPerRun(20, all(small, 100)), testing.AllocsPerRun(20, all(large, n))
	keysSmall, keysLarge := testing.AllocsPerRun(20, keys(small, 100)), testing.AllocsPerRun(20, keys(large, n))
	t.Logf("allocations per loop: All %v and %v, Keys %v and %v", allSmall, allLarge, keysSmall, keysLarge)
	require.Equal(t, allSmall, allLarge, "All: allocations grow with the entries")
	require.Equal(t, keysSmall, keysLarge, "Keys: allocations grow with the entries")
	require.LessOrEqual(t, allLarge, 8.0, "a handful per loop")
	require.LessOrEqual(t, keysLarge, 8.0, "a handful per loop")
}

// iterAccessedKeys returns the keys whose index slots have their accessed bit set: the entries
// read since they were written (or since the clock last passed).
func iterAccessedKeys(c *Cache) []string {
	var keys []string
	for i := range c.e.shards {
		s := &c.e.shards[i]
		s.lock()
		s.idx.eachPage(func(p uint32) {
			pg := int(p) * indexPageSize
			for b := pg; b < pg+indexPageSize; b += bucketBytes {
				for j := range bucketSlots {
					sl := slot{b, j}
					if s.idx.off(sl) != 0 && s.idx.accessed(sl) {
						pos := s.idx.pos(sl)
						en := readEntry(s.data[pos:])
						keys = append(keys, string(s.key(pos, &en)))
					}
				}
			}
		})
		s.unlock()
	}
	return keys
}

// TestAllIsNotAUse: iterating reads every entry but does not count as a use, so it leaves the
// eviction policy's accessed bits alone, whereas GetWithTTL, like Get, marks its entry.
func TestAllIsNotAUse(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 2, JanitorInterval: -1}, nil, nil)
	for i := range 2000 {
		k := fmt.Appendf(nil, "key-%d", i)
		require.NoError(t, c.Set(k, k))
	}
	require.Empty(t, iterAccessedKeys(c))
	n := 0
	for range c.All() {
		n++
	}
	for range c.Keys() {
		n++
	}
	require.Equal(t, 4000, n)
	require.Empty(t, iterAccessedKeys(c), "iteration marked entries as used")
	_, _, ok := c.GetWithTTL(nil, []byte("key-7"))
	require.True(t, ok)
	require.Equal(t, []string{"key-7"}, iterAccessedKeys(c))
	for range c.All() {
	}
	require.Equal(t, []string{"key-7"}, iterAccessedKeys(c), "iteration leaves the bit set")
}

// TestAllYieldsCopies: the key and value yielded are copies, capped at their length: the body
// may append to them and write over them without changing the cache or the entries yielded
// after them.
func TestAllYieldsCopies(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, nil, nil)
	want := make(map[string]string)
	for i := range 300 {
		k := fmt.Appendf(nil, "key-%d", i)
		v := valueFor(k, 0, 1+i%50)
		require.NoError(t, c.Set(k, v))
		want[string(k)] = string(v)
	}
	counts := make(map[string]int)
	for k, v := range c.All() {
		require.Equal(t, want[string(k)], string(v), "key %s", k)
		counts[string(k)]++
		require.Equal(t, len(k), cap(k), "key capped")
		require.Equal(t, len(v), cap(v), "value capped")
		gk, gv := append(k, "overflow"...), append(v, "overflow"...)
		require.Equal(t, "overflow", string(gk[len(k):]))
		require.Equal(t, "overflow", string(gv[len(v):]))
		for i := range v {
			v[i] ^= 0xff
		}
		for i := range k {
			k[i] = 'X'
		}
	}
	iterRequireExactly(t, want, counts, nil)
	for k, v := range want {
		got, ok := c.Get(nil, []byte(k))
		require.True(t, ok)
		require.Equal(t, v, string(got), "the cache is unchanged")
	}
	for k := range c.Keys() {
		require.Equal(t, len(k), cap(k))
		gk := append(k, "overflow"...)
		require.Equal(t, "overflow", string(gk[len(k):]))
		for i := range k {
			k[i] = 'X'
		}
	}
	counts, values := iterCollect(c)
	iterRequireExactly(t, want, counts, values)
}
