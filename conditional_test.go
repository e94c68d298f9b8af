package mmcache

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of SetIfAbsent, GetOrSet and CompareAndSwap (conditional.go).

// condRace starts n goroutines that each run fn(g) once, all released together, and waits
// for them.
func condRace(n int, fn func(g int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(g)
		}()
	}
	close(start)
	wg.Wait()
}

// TestSetIfAbsentRace: of 16 goroutines racing SetIfAbsent on one key, exactly one stores, and
// the value stored is that goroutine's. Stats count one miss and one Set per round (the
// winner) and a hit for each loser.
func TestSetIfAbsentRace(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1}, nil, nil)
	const goroutines = 16
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for r := range rounds {
		key := fmt.Appendf(nil, "race-%d", r)
		var stored [goroutines]bool
		var errs [goroutines]error
		condRace(goroutines, func(g int) {
			stored[g], errs[g] = c.SetIfAbsent(key, valueFor(key, g, 24), time.Duration(r%2)*time.Hour)
		})
		winner := -1
		for g := range goroutines {
			require.NoError(t, errs[g])
			if stored[g] {
				require.Equal(t, -1, winner, "round %d: goroutines %d and %d both stored", r, winner, g)
				winner = g
			}
		}
		require.NotEqual(t, -1, winner, "round %d: nobody stored", r)
		got, ok := c.Get(nil, key)
		require.True(t, ok)
		require.Equal(t, valueFor(key, winner, 24), got, "round %d: the value is the winner's", r)
	}
	st := c.Stats()
	require.Equal(t, uint64(rounds), st.Sets)
	require.Equal(t, uint64(rounds), st.Misses)
	require.Equal(t, uint64(rounds*(goroutines-1)+rounds), st.Hits, "the losers' hits and the Gets")
	require.Equal(t, rounds, st.Entries)
	mustCheck(t, c, "end")
}

// TestCompareAndSwapCounter: 8 goroutines each increment an 8-byte counter 10,000 times by
// Get and CompareAndSwap, retrying on false: the counter ends at exactly 80,000, and Stats
// count exactly one Set per successful swap and one hit per Get and per swap tried.
func TestCompareAndSwapCounter(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 2, JanitorInterval: -1}, nil, nil)
	const goroutines, increments = 8, 10_000
	key := []byte("counter")
	require.NoError(t, c.Set(key, make([]byte, 8)))
	var (
		mu          sync.Mutex
		gets, tries int
		failures    []string
	)
	condRace(goroutines, func(g int) {
		var cur, next [8]byte
		myGets, myTries := 0, 0
		defer func() {
			mu.Lock()
			gets += myGets
			tries += myTries
			mu.Unlock()
		}()
		fail := func(format string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf("goroutine %d: ", g)+fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		for range increments {
			for {
				v, ok := c.Get(cur[:0], key)
				myGets++
				if !ok || len(v) != 8 {
					fail("Get: %v, %d bytes", ok, len(v))
					return
				}
				binary.BigEndian.PutUint64(next[:], binary.BigEndian.Uint64(v)+1)
				swapped, err := c.CompareAndSwap(key, v, next[:], 0)
				myTries++
				if err != nil {
					fail("CompareAndSwap: %v", err)
					return
				}
				if swapped {
					break
				}
			}
		}
	})
	require.Empty(t, failures)
	v, ok := c.Get(nil, key)
	require.True(t, ok)
	require.Equal(t, uint64(goroutines*increments), binary.BigEndian.Uint64(v))
	st := c.Stats()
	require.Equal(t, uint64(1+goroutines*increments), st.Sets)
	require.Equal(t, uint64(gets+tries+1), st.Hits, "every Get and every swap tried found the key, and the last Get")
	require.Zero(t, st.Misses)
	require.Equal(t, 1, st.Entries)
	t.Logf("%d swaps tried for %d increments", tries, goroutines*increments)
	mustCheck(t, c, "end")
}

// TestGetOrSetRace: 16 goroutines race GetOrSet on one key, each with its own value: all get
// the same value back, exactly one with loaded false, and its value is the one stored.
func TestGetOrSetRace(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1}, nil, nil)
	const goroutines = 16
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for r := range rounds {
		key := fmt.Appendf(nil, "race-%d", r)
		var (
			actual [goroutines][]byte
			loaded [goroutines]bool
			errs   [goroutines]error
		)
		condRace(goroutines, func(g int) {
			// A prefix in dst, with room: the value is appended after it.
			dst := append(make([]byte, 0, 64), "dst:"...)
			actual[g], loaded[g], errs[g] = c.GetOrSet(dst, key, valueFor(key, g, 20+g), 0)
		})
		storer := -1
		for g := range goroutines {
			require.NoError(t, errs[g])
			if !loaded[g] {
				require.Equal(t, -1, storer, "round %d: goroutines %d and %d both stored", r, storer, g)
				storer = g
			}
		}
		require.NotEqual(t, -1, storer, "round %d: nobody stored", r)
		want := append([]byte("dst:"), valueFor(key, storer, 20+storer)...)
		for g := range goroutines {
			require.Equal(t, want, actual[g], "round %d goroutine %d", r, g)
		}
		got, ok := c.Get(nil, key)
		require.True(t, ok)
		require.Equal(t, want[4:], got)
	}
	st := c.Stats()
	require.Equal(t, uint64(rounds), st.Sets)
	require.Equal(t, uint64(rounds), st.Misses)
	require.Equal(t, uint64(rounds*goroutines), st.Hits)
	mustCheck(t, c, "end")
}

// TestConditionalExpiredIsAbsent: an expired entry counts as absent for every new call:
// SetIfAbsent and GetOrSet store over it (in place when the footprint is the same, appended
// otherwise), CompareAndSwap with its old value fails and revives nothing, Touch reports false,
// and GetWithTTL misses, on both read paths.
func TestConditionalExpiredIsAbsent(t *testing.T) {
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
		c.e.lockedReads = locked
		set := func(k, v string) {
			t.Helper()
			require.NoError(t, c.SetWithTTL([]byte(k), []byte(v), time.Second))
		}
		set("sia", "old")                 // SetIfAbsent, same footprint: in place
		set("sia2", "old")                // SetIfAbsent, larger: appended
		set("gos", "old")                 // GetOrSet, same footprint
		set("gos2", "old")                // GetOrSet, larger
		set("cas", "old")                 // CompareAndSwap
		set("touch", "old")               // Touch
		set("get", "old")                 // GetWithTTL
		clock.advance(int64(time.Second)) // exactly at the expiry: expired

		for _, k := range []string{"sia", "sia2", "gos", "gos2", "cas", "touch", "get"} {
			v, ttl, ok := c.GetWithTTL([]byte("dst"), []byte(k))
			require.False(t, ok, k)
			require.Equal(t, "dst", string(v), k)
			require.Zero(t, ttl, k)
		}

		stored, err := c.SetIfAbsent([]byte("sia"), []byte("new"), 0)
		require.NoError(t, err)
		require.True(t, stored)
		stored, err = c.SetIfAbsent([]byte("sia2"), []byte("a longer value"), time.Minute)
		require.NoError(t, err)
		require.True(t, stored)

		actual, loaded, err := c.GetOrSet([]byte("dst:"), []byte("gos"), []byte("new"), 0)
		require.NoError(t, err)
		require.False(t, loaded)
		require.Equal(t, "dst:new", string(actual))
		actual, loaded, err = c.GetOrSet(nil, []byte("gos2"), []byte("a longer value"), time.Minute)
		require.NoError(t, err)
		require.False(t, loaded)
		require.Equal(t, "a longer value", string(actual))

		swapped, err := c.CompareAndSwap([]byte("cas"), []byte("old"), []byte("new"), 0)
		require.NoError(t, err)
		require.False(t, swapped, "CompareAndSwap on an expired entry")

		ok, err := c.Touch([]byte("touch"), time.Hour)
		require.NoError(t, err)
		require.False(t, ok, "Touch on an expired entry")

		for k, want := range map[string]string{"sia": "new", "sia2": "a longer value", "gos": "new", "gos2": "a longer value"} {
			v, ttl, ok := c.GetWithTTL(nil, []byte(k))
			require.True(t, ok, k)
			require.Equal(t, want, string(v), k)
			if strings.HasSuffix(k, "2") {
				require.Equal(t, time.Minute, ttl, k)
			} else {
				require.Zero(t, ttl, k)
			}
		}
		for _, k := range []string{"cas", "touch", "get"} {
			require.False(t, c.Has([]byte(k)), "%s stays absent", k)
			_, ok := c.TTL([]byte(k))
			require.False(t, ok, k)
		}
		// The four expired entries stored over were dropped, as expirations; the other three
		// wait for the janitor.
		st := c.Stats()
		require.Equal(t, uint64(4), st.Expirations)
		require.Equal(t, 7, st.Entries)
		c.janitorPass()
		st = c.Stats()
		require.Equal(t, uint64(7), st.Expirations)
		require.Equal(t, 4, st.Entries)
		mustCheck(t, c, "end")
	})
}

// TestConditionalSemantics: each conditional write on a live entry, an absent key and a
// mismatch, with its TTL, dst and errors.
func TestConditionalSemantics(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 2, JanitorInterval: -1}, clock, nil)
	get := func(k string) (string, time.Duration, bool) {
		t.Helper()
		v, ttl, ok := c.GetWithTTL(nil, []byte(k))
		return string(v), ttl, ok
	}
	requireEntry := func(k, want string, wantTTL time.Duration) {
		t.Helper()
		v, ttl, ok := get(k)
		require.True(t, ok, k)
		require.Equal(t, want, v, k)
		require.Equal(t, wantTTL, ttl, k)
	}

	// SetIfAbsent: stores with its TTL on an absent key; leaves a live entry, TTL included.
	stored, err := c.SetIfAbsent([]byte("a"), []byte("first"), 10*time.Second)
	require.NoError(t, err)
	require.True(t, stored)
	requireEntry("a", "first", 10*time.Second)
	stored, err = c.SetIfAbsent([]byte("a"), []byte("second"), 0)
	require.NoError(t, err)
	require.False(t, stored)
	requireEntry("a", "first", 10*time.Second)
	// Empty key and empty value are valid.
	stored, err = c.SetIfAbsent(nil, nil, 0)
	require.NoError(t, err)
	require.True(t, stored)
	requireEntry("", "", 0)

	// GetOrSet: returns the live value appended to dst, or stores and returns value appended
	// to dst.
	dst := append(make([]byte, 0, 32), "dst:"...)
	actual, loaded, err := c.GetOrSet(dst, []byte("a"), []byte("ignored"), time.Hour)
	require.NoError(t, err)
	require.True(t, loaded)
	require.Equal(t, "dst:first", string(actual))
	requireEntry("a", "first", 10*time.Second)
	actual, loaded, err = c.GetOrSet(dst, []byte("b"), []byte("bee"), 5*time.Second)
	require.NoError(t, err)
	require.False(t, loaded)
	require.Equal(t, "dst:bee", string(actual))
	requireEntry("b", "bee", 5*time.Second)
	actual, loaded, err = c.GetOrSet(nil, []byte("b"), []byte("other"), 0)
	require.NoError(t, err)
	require.True(t, loaded)
	require.Equal(t, "bee", string(actual))

	// CompareAndSwap: stores when the live value equals old, byte for byte, with the new TTL.
	swapped, err := c.CompareAndSwap([]byte("a"), []byte("first"), []byte("swapped"), 0)
	require.NoError(t, err)
	require.True(t, swapped)
	requireEntry("a", "swapped", 0)
	swapped, err = c.CompareAndSwap([]byte("a"), []byte("swapped"), []byte("again!!"), time.Minute) // same size: in place
	require.NoError(t, err)
	require.True(t, swapped)
	requireEntry("a", "again!!", time.Minute)
	for _, old := range []string{"again!", "again!!!", "Again!!", "", "swapped"} {
		swapped, err = c.CompareAndSwap([]byte("a"), []byte(old), []byte("nope"), 0)
		require.NoError(t, err)
		require.False(t, swapped, "old %q", old)
	}
	swapped, err = c.CompareAndSwap([]byte("a"), nil, []byte("nope"), 0)
	require.NoError(t, err)
	require.False(t, swapped)
	requireEntry("a", "again!!", time.Minute)
	// An absent key fails, whatever old is, and stores nothing.
	for _, old := range [][]byte{nil, {}, []byte("x")} {
		swapped, err = c.CompareAndSwap([]byte("absent"), old, []byte("v"), 0)
		require.NoError(t, err)
		require.False(t, swapped)
		require.False(t, c.Has([]byte("absent")))
	}
	// An empty value matches an empty or nil old.
	require.NoError(t, c.Set([]byte("empty"), nil))
	swapped, err = c.CompareAndSwap([]byte("empty"), nil, []byte("full"), 0)
	require.NoError(t, err)
	require.True(t, swapped)
	swapped, err = c.CompareAndSwap([]byte("empty"), []byte("full"), []byte{}, 0)
	require.NoError(t, err)
	require.True(t, swapped)
	swapped, err = c.CompareAndSwap([]byte("empty"), []byte{}, []byte("x"), 0)
	require.NoError(t, err)
	require.True(t, swapped)
	requireEntry("empty", "x", 0)

	// The TTLs count down.
	clock.advance(int64(5 * time.Second))
	_, _, ok := get("b")
	require.False(t, ok, "b expired")
	requireEntry("a", "again!!", 55*time.Second)

	// Errors store nothing: a negative TTL, a key too long, an entry too large.
	before := c.Stats()
	long := make([]byte, MaxKeySize+1)
	big := make([]byte, c.e.lay.maxEntry)
	for _, tc := range []struct {
		key, value []byte
		ttl        time.Duration
		err        error
	}{
		{[]byte("new"), []byte("v"), -1, ErrInvalidTTL},
		{[]byte("a"), []byte("v"), -time.Second, ErrInvalidTTL},
		{long, []byte("v"), 0, ErrEntryTooLarge},
		{[]byte("new"), big, 0, ErrEntryTooLarge},
		{[]byte("a"), big, 0, ErrEntryTooLarge},
	} {
		stored, err := c.SetIfAbsent(tc.key, tc.value, tc.ttl)
		require.ErrorIs(t, err, tc.err)
		require.False(t, stored)
		dst := []byte("dst")
		actual, loaded, err := c.GetOrSet(dst, tc.key, tc.value, tc.ttl)
		require.ErrorIs(t, err, tc.err)
		require.False(t, loaded)
		require.Equal(t, "dst", string(actual))
		require.Equal(t, len(dst), len(actual))
		swapped, err := c.CompareAndSwap(tc.key, []byte("again!!"), tc.value, tc.ttl)
		require.ErrorIs(t, err, tc.err)
		require.False(t, swapped)
	}
	require.Equal(t, before, c.Stats(), "refused calls count nothing")
	require.False(t, c.Has([]byte("new")))
	requireEntry("a", "again!!", 55*time.Second)
	mustCheck(t, c, "before Close")

	// Closed: ErrClosed, before any other complaint.
	require.NoError(t, c.Close())
	for _, ttl := range []time.Duration{0, time.Second, -1} {
		stored, err := c.SetIfAbsent([]byte("z"), []byte("v"), ttl)
		require.ErrorIs(t, err, ErrClosed)
		require.False(t, stored)
		actual, loaded, err := c.GetOrSet([]byte("dst"), []byte("z"), []byte("v"), ttl)
		require.ErrorIs(t, err, ErrClosed)
		require.False(t, loaded)
		require.Equal(t, "dst", string(actual))
		swapped, err := c.CompareAndSwap([]byte("a"), []byte("again!!"), []byte("v"), ttl)
		require.ErrorIs(t, err, ErrClosed)
		require.False(t, swapped)
	}
	var zero Cache
	stored, err = zero.SetIfAbsent([]byte("z"), []byte("v"), 0)
	require.ErrorIs(t, err, ErrClosed)
	require.False(t, stored)
	actual, loaded, err = zero.GetOrSet(nil, []byte("z"), []byte("v"), 0)
	require.ErrorIs(t, err, ErrClosed)
	require.False(t, loaded)
	require.Nil(t, actual)
	swapped, err = zero.CompareAndSwap([]byte("z"), nil, []byte("v"), 0)
	require.ErrorIs(t, err, ErrClosed)
	require.False(t, swapped)
}

// TestConditionalStats documents, step by step, what the new calls count in Stats: GetWithTTL
// counts as a Get (a hit or a miss); SetIfAbsent, GetOrSet and CompareAndSwap count a lookup
// (a hit when they found a live entry, a miss when not) and a Set when they stored; a
// CompareAndSwap on a missing or expired key is a miss; storing over an expired entry counts an
// expiration; Touch and TTL count nothing.
func TestConditionalStats(t *testing.T) {
	type counts struct{ hits, misses, sets, deletes, expirations uint64 }
	ttlReadPaths(t, func(t *testing.T, locked bool) {
		leakCheck(t)
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 2, JanitorInterval: -1}, clock, nil)
		c.e.lockedReads = locked
		b := func(s string) []byte { return []byte(s) }
		must := func(want bool) func(got bool, err error) {
			return func(got bool, err error) {
				t.Helper()
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
		}
		steps := []struct {
			name string
			op   func()
			want counts
		}{
			{"GetWithTTL miss", func() { _, _, ok := c.GetWithTTL(nil, b("a")); require.False(t, ok) }, counts{misses: 1}},
			{"SetIfAbsent stores", func() { must(true)(c.SetIfAbsent(b("a"), b("1"), 0)) }, counts{misses: 1, sets: 1}},
			{"SetIfAbsent finds a live entry", func() { must(false)(c.SetIfAbsent(b("a"), b("2"), 0)) }, counts{hits: 1}},
			{"GetWithTTL hit", func() { _, _, ok := c.GetWithTTL(nil, b("a")); require.True(t, ok) }, counts{hits: 1}},
			{"GetOrSet loads", func() {
				_, loaded, err := c.GetOrSet(nil, b("a"), b("x"), 0)
				must(true)(loaded, err)
			}, counts{hits: 1}},
			{"GetOrSet stores", func() {
				_, loaded, err := c.GetOrSet(nil, b("b"), b("x"), 0)
				must(false)(loaded, err)
			}, counts{misses: 1, sets: 1}},
			{"CompareAndSwap succeeds", func() { must(true)(c.CompareAndSwap(b("a"), b("1"), b("3"), 0)) }, counts{hits: 1, sets: 1}},
			{"CompareAndSwap with another value", func() { must(false)(c.CompareAndSwap(b("a"), b("1"), b("4"), 0)) }, counts{hits: 1}},
			{"CompareAndSwap on a missing key", func() { must(false)(c.CompareAndSwap(b("none"), nil, b("4"), 0)) }, counts{misses: 1}},
			{"Touch with 0 of an entry without a TTL", func() { must(true)(c.Touch(b("b"), 0)) }, counts{}},
			{"Touch moving", func() { must(true)(c.Touch(b("a"), time.Hour)) }, counts{}},
			{"Touch again, in place", func() { must(true)(c.Touch(b("a"), time.Hour)) }, counts{}},
			{"Touch of a missing key", func() { must(false)(c.Touch(b("none"), time.Hour)) }, counts{}},
			{"TTL", func() { _, ok := c.TTL(b("a")); require.True(t, ok) }, counts{}},
			{"TTL of a missing key", func() { _, ok := c.TTL(b("none")); require.False(t, ok) }, counts{}},
			{"SetWithTTL", func() {
				require.NoError(t, c.SetWithTTL(b("e1"), b("old"), time.Second))
				require.NoError(t, c.SetWithTTL(b("e2"), b("old"), time.Second))
				require.NoError(t, c.SetWithTTL(b("e3"), b("old"), time.Second))
				require.NoError(t, c.SetWithTTL(b("e4"), b("old"), time.Second))
				clock.advance(int64(time.Second))
			}, counts{sets: 4}},
			{"GetWithTTL of an expired entry", func() { _, _, ok := c.GetWithTTL(nil, b("e1")); require.False(t, ok) }, counts{misses: 1}},
			{"Touch of an expired entry", func() { must(false)(c.Touch(b("e1"), time.Hour)) }, counts{}},
			{"SetIfAbsent over an expired entry", func() { must(true)(c.SetIfAbsent(b("e1"), b("new"), 0)) }, counts{misses: 1, sets: 1, expirations: 1}},
			{"GetOrSet over an expired entry", func() {
				_, loaded, err := c.GetOrSet(nil, b("e2"), b("a longer value"), 0)
				must(false)(loaded, err)
			}, counts{misses: 1, sets: 1, expirations: 1}},
			{"CompareAndSwap on an expired entry", func() { must(false)(c.CompareAndSwap(b("e3"), b("old"), b("new"), 0)) }, counts{misses: 1}},
			{"Delete of a live entry", func() { require.True(t, c.Delete(b("e1"))) }, counts{deletes: 1}},
			{"Delete of an expired entry", func() { require.False(t, c.Delete(b("e3"))) }, counts{expirations: 1}},
			{"refused calls", func() {
				_, err := c.SetIfAbsent(b("n"), b("v"), -1)
				require.ErrorIs(t, err, ErrInvalidTTL)
				_, _, err = c.GetOrSet(nil, b("n"), b("v"), -1)
				require.ErrorIs(t, err, ErrInvalidTTL)
				_, err = c.CompareAndSwap(b("a"), b("3"), b("v"), -1)
				require.ErrorIs(t, err, ErrInvalidTTL)
				_, err = c.Touch(b("a"), -1)
				require.ErrorIs(t, err, ErrInvalidTTL)
			}, counts{}},
		}
		var total counts
		for _, step := range steps {
			step.op()
			total.hits += step.want.hits
			total.misses += step.want.misses
			total.sets += step.want.sets
			total.deletes += step.want.deletes
			total.expirations += step.want.expirations
			st := c.Stats()
			got := counts{st.Hits, st.Misses, st.Sets, st.Deletes, st.Expirations}
			require.Equal(t, total, got, "after %s", step.name)
			require.Zero(t, st.Evictions, step.name)
		}
		// a, b, e2 and e4 (expired, not dropped yet).
		require.Equal(t, 4, c.Stats().Entries)
		mustCheck(t, c, "end")
	})
}
