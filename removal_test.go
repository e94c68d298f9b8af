package mmcache

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of removal events (Config.OnRemoval, RemovalCause; removal.go).

// rmEvent is one call of OnRemoval, with copies of its key and value.
type rmEvent struct {
	key, value string
	cause      RemovalCause
}

func (ev rmEvent) String() string { return fmt.Sprintf("%s %q", ev.cause, ev.key) }

// rmRecorder records the calls of OnRemoval; record is safe for concurrent use.
type rmRecorder struct {
	mu     sync.Mutex
	events []rmEvent
}

func (r *rmRecorder) record(key, value []byte, cause RemovalCause) {
	r.mu.Lock()
	r.events = append(r.events, rmEvent{string(key), string(value), cause})
	r.mu.Unlock()
}

// take returns the events recorded since the last take (nil if none) and forgets them.
func (r *rmRecorder) take() []rmEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// rmKeyInShard returns a key, with the given prefix, that c puts in shard i.
func rmKeyInShard(c *Cache, i int, prefix string) []byte {
	for n := 0; ; n++ {
		k := fmt.Appendf(nil, "%s-%d", prefix, n)
		if c.e.shardFor(c.e.hash(k)) == &c.e.shards[i] {
			return k
		}
	}
}

// TestRemovalCauseString: each cause's name, and a number for any other value.
func TestRemovalCauseString(t *testing.T) {
	for cause, want := range map[RemovalCause]string{
		RemovalDeleted:  "deleted",
		RemovalReplaced: "replaced",
		RemovalExpired:  "expired",
		RemovalEvicted:  "evicted",
		0:               "RemovalCause(0)",
		5:               "RemovalCause(5)",
		255:             "RemovalCause(255)",
	} {
		require.Equal(t, want, cause.String())
		require.Equal(t, want, fmt.Sprint(cause))
	}
	// Four distinct causes, none of them the zero value.
	causes := map[RemovalCause]bool{RemovalDeleted: true, RemovalReplaced: true, RemovalExpired: true, RemovalEvicted: true}
	require.Len(t, causes, 4)
	require.False(t, causes[0])
}

// TestRemovalEventsSequence: on a small cache with a fake clock and an inline janitor, each kind
// of removal is reported exactly once, with its key, the value that left and its cause, in
// order; reads, failed conditional writes, Touch, Reset and Close report nothing.
func TestRemovalEventsSequence(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	rec := &rmRecorder{}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1, OnRemoval: rec.record}, clock, nil)
	b := func(s string) []byte { return []byte(s) }
	expect := func(what string, want ...rmEvent) {
		t.Helper()
		require.Equal(t, want, rec.take(), what)
	}
	sec := int64(time.Second)

	require.NoError(t, c.Set(b("a"), b("1")))
	expect("Set of a new key")
	require.True(t, c.Delete(b("a")))
	expect("Delete", rmEvent{"a", "1", RemovalDeleted})
	require.False(t, c.Delete(b("a")))
	expect("Delete of an absent key")

	require.NoError(t, c.Set(b("b"), b("v1")))
	require.NoError(t, c.Set(b("b"), b("v2"))) // same footprint: in place
	expect("Set in place over a live entry", rmEvent{"b", "v1", RemovalReplaced})
	require.NoError(t, c.Set(b("b"), b("a longer value"))) // appended
	expect("Set over a live entry", rmEvent{"b", "v2", RemovalReplaced})
	require.NoError(t, c.SetWithTTL(b("b"), b("t"), time.Second))
	expect("SetWithTTL over a live entry", rmEvent{"b", "a longer value", RemovalReplaced})
	clock.advance(sec)
	_, ok := c.Get(nil, b("b"))
	require.False(t, ok)
	expect("a read of an expired entry")
	require.NoError(t, c.Set(b("b"), b("after")))
	expect("Set over an expired entry", rmEvent{"b", "t", RemovalExpired})

	require.NoError(t, c.SetWithTTL(b("c"), b("c1"), time.Second))
	require.NoError(t, c.SetWithTTL(b("d"), b("d1"), 2*time.Second))
	clock.advance(sec)
	c.janitorPass()
	expect("janitor pass", rmEvent{"c", "c1", RemovalExpired})
	clock.advance(sec)
	require.False(t, c.Delete(b("d")))
	expect("Delete of an expired entry", rmEvent{"d", "d1", RemovalExpired})

	swapped, err := c.CompareAndSwap(b("b"), b("wrong"), b("x"), 0)
	require.NoError(t, err)
	require.False(t, swapped)
	expect("failed CompareAndSwap")
	swapped, err = c.CompareAndSwap(b("b"), b("after"), b("cas"), 0)
	require.NoError(t, err)
	require.True(t, swapped)
	expect("CompareAndSwap", rmEvent{"b", "after", RemovalReplaced})
	stored, err := c.SetIfAbsent(b("b"), b("x"), 0)
	require.NoError(t, err)
	require.False(t, stored)
	_, loaded, err := c.GetOrSet(nil, b("b"), b("x"), 0)
	require.NoError(t, err)
	require.True(t, loaded)
	expect("SetIfAbsent and GetOrSet on a live entry")

	require.NoError(t, c.SetWithTTL(b("e"), b("e1"), time.Second))
	require.NoError(t, c.SetWithTTL(b("f"), b("f1"), time.Second))
	require.NoError(t, c.SetWithTTL(b("g"), b("g1"), time.Second))
	clock.advance(sec)
	stored, err = c.SetIfAbsent(b("e"), b("e2"), 0)
	require.NoError(t, err)
	require.True(t, stored)
	expect("SetIfAbsent over an expired entry", rmEvent{"e", "e1", RemovalExpired})
	_, loaded, err = c.GetOrSet(nil, b("f"), b("f2 longer"), 0)
	require.NoError(t, err)
	require.False(t, loaded)
	expect("GetOrSet over an expired entry", rmEvent{"f", "f1", RemovalExpired})
	swapped, err = c.CompareAndSwap(b("g"), b("g1"), b("g2"), 0)
	require.NoError(t, err)
	require.False(t, swapped)
	ok, err = c.Touch(b("g"), time.Hour)
	require.NoError(t, err)
	require.False(t, ok)
	expect("CompareAndSwap and Touch on an expired entry")
	c.janitorPass()
	expect("janitor pass", rmEvent{"g", "g1", RemovalExpired})

	ok, err = c.Touch(b("b"), time.Hour) // moves it: no TTL before
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = c.Touch(b("b"), 0) // in place
	require.NoError(t, err)
	require.True(t, ok)
	expect("Touch")

	st := c.Stats()
	require.Equal(t, uint64(1), st.Deletes)
	require.Equal(t, uint64(6), st.Expirations)
	require.Zero(t, st.Evictions)

	require.NoError(t, c.SetWithTTL(b("h"), b("h1"), time.Second))
	clock.advance(sec)
	c.Reset()
	expect("Reset")
	after := c.Stats()
	require.Equal(t, st.Deletes, after.Deletes, "Reset counts nothing")
	require.Equal(t, st.Expirations, after.Expirations, "Reset counts nothing")
	require.Equal(t, st.Evictions, after.Evictions, "Reset counts nothing")
	require.NoError(t, c.Set(b("i"), b("i1")))
	require.NoError(t, c.SetWithTTL(b("j"), b("j1"), time.Second))
	clock.advance(sec)
	require.NoError(t, c.Close())
	expect("Close")
	require.False(t, c.Delete(b("i")))
	expect("Delete after Close")
}

// rmModelCase is a configuration of TestRemovalEventsMatchModel.
type rmModelCase struct {
	name       string
	cfg        Config
	keys       int
	minV, maxV int // value lengths
	ops        int
	// debugScale, in the mmcache_debug build, whose every write walks its shard to check its
	// invariants: a quarter of the keys, an eighth of the ops, values four times as large, so
	// that the cache still evicts with a quarter of the entries.
	debugScale bool
}

// TestRemovalEventsMatchModel fills a cache past its capacity, then runs a random mix of every
// write, Touch, reads, clock moves and janitor passes, against a model of the keys present. Each event
// must name a key the model holds, with its value, and a cause the operation can give
// (Deleted only by a Delete of that key, Replaced only by a write of that key over a live
// entry, Expired only for an expired entry, Evicted only for a live one, by a write or a
// Touch); each key a write replaces must have been reported. At the end the model and the
// cache agree on every key, and the counts of Deleted, Expired and Evicted events equal
// Stats' Deletes, Expirations and Evictions exactly.
func TestRemovalEventsMatchModel(t *testing.T) {
	cases := []rmModelCase{
		{"small values", Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, 6000, 100, 300, 12_000, true},
		{"large values", Config{Capacity: 2 << 20, Shards: 1, JanitorInterval: -1}, 300, 2000, 20_000, 4000, false},
		{"two shards", Config{Capacity: 2 << 20, Shards: 2, JanitorInterval: -1}, 12_000, 100, 300, 12_000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() || testsUnderRace() {
				tc.ops /= 4
			}
			if debug && tc.debugScale {
				tc.keys, tc.ops, tc.minV, tc.maxV = tc.keys/4, tc.ops/8, 4*tc.minV, 4*tc.maxV
			}
			rmRunModel(t, tc)
		})
	}
}

func rmRunModel(t *testing.T, tc rmModelCase) {
	leakCheck(t)
	clock := newFakeClock()
	rec := &rmRecorder{}
	cfg := tc.cfg
	cfg.OnRemoval = rec.record
	c := newCacheT(t, cfg, clock, nil)
	type modelEntry struct {
		value  string
		expire int64 // 0: never
	}
	model := make(map[string]modelEntry)
	live := func(m modelEntry) bool { return m.expire == 0 || m.expire > clock.now() }
	counts := make(map[RemovalCause]uint64)
	rng := rand.New(rand.NewPCG(7, 11))
	key := func(i int) string { return fmt.Sprintf("key-%d", i) }
	value := func(k string, version int) string {
		n := tc.minV + int(uint32(version)*2654435761%uint32(tc.maxV-tc.minV+1)) // spread over the range
		return string(valueFor([]byte(k), version, n))
	}
	ttlOf := func() time.Duration {
		if rng.IntN(3) == 0 {
			return 0
		}
		return time.Duration(1+rng.IntN(100)) * time.Millisecond
	}
	expiry := func(ttl time.Duration) int64 {
		if ttl == 0 {
			return 0
		}
		return clock.now() + int64(ttl)
	}

	// First every key is set once, which fills the cache past its capacity; then the mix.
	for op := range tc.keys + tc.ops {
		k := key(rng.IntN(tc.keys))
		if op < tc.keys {
			k = key(op)
		}
		kb := []byte(k)
		pre, had := model[k]
		preLive := had && live(pre)
		v := value(k, op)
		var kind string
		var ttl time.Duration

		// The operation, and what it returned.
		var (
			ok, flag bool
			got      []byte
			err      error
		)
		switch r := rng.IntN(100); {
		case op < tc.keys, r < 40:
			kind = "Set"
			err = c.Set(kb, []byte(v))
		case r < 50:
			kind, ttl = "SetWithTTL", ttlOf()
			err = c.SetWithTTL(kb, []byte(v), ttl)
		case r < 60:
			kind = "Delete"
			ok = c.Delete(kb)
		case r < 66:
			kind, ttl = "SetIfAbsent", ttlOf()
			ok, err = c.SetIfAbsent(kb, []byte(v), ttl)
		case r < 72:
			kind, ttl = "GetOrSet", ttlOf()
			got, flag, err = c.GetOrSet(nil, kb, []byte(v), ttl)
		case r < 78:
			kind, ttl = "CompareAndSwap", ttlOf()
			old := "not the value"
			if had && rng.IntN(4) != 0 {
				old = pre.value
			}
			flag = had && old == pre.value
			ok, err = c.CompareAndSwap(kb, []byte(old), []byte(v), ttl)
		case r < 84:
			kind, ttl = "Touch", ttlOf()
			ok, err = c.Touch(kb, ttl)
		case r < 96:
			kind = "Get"
			got, ok = c.Get(nil, kb)
		case r < 98:
			kind = "advance"
			clock.advance(int64(rng.IntN(30)) * int64(time.Millisecond))
		default:
			kind = "janitorPass"
			c.janitorPass()
		}
		require.NoError(t, err, "op %d: %s %s", op, kind, k)
		what := fmt.Sprintf("op %d: %s %s", op, kind, k)

		// Its events, against the model as it was.
		writes := kind == "Set" || kind == "SetWithTTL" || kind == "SetIfAbsent" || kind == "GetOrSet" || kind == "CompareAndSwap"
		evictedSelf := false
		for _, ev := range rec.take() {
			m, in := model[ev.key]
			require.True(t, in, "%s: %v reported, but the key is not in the cache", what, ev)
			require.Equal(t, m.value, ev.value, "%s: %v reported with another value", what, ev)
			switch ev.cause {
			case RemovalDeleted:
				require.True(t, kind == "Delete" && ev.key == k && live(m), "%s: %v", what, ev)
			case RemovalReplaced:
				require.True(t, writes && ev.key == k && live(m), "%s: %v", what, ev)
			case RemovalExpired:
				require.False(t, live(m), "%s: %v, but it has not expired", what, ev)
				require.NotEqual(t, "Get", kind, "%s: a read reports nothing", what)
			case RemovalEvicted:
				require.True(t, live(m), "%s: %v, but it had expired", what, ev)
				require.True(t, writes || kind == "Touch", "%s: %v", what, ev)
				evictedSelf = evictedSelf || ev.key == k
			default:
				t.Fatalf("%s: %v: unknown cause", what, ev)
			}
			counts[ev.cause]++
			delete(model, ev.key)
		}

		// Its effect.
		store := func(ttl time.Duration) {
			t.Helper()
			_, in := model[k]
			require.False(t, in, "%s: the entry it replaced was not reported", what)
			model[k] = modelEntry{v, expiry(ttl)}
		}
		switch kind {
		case "Set":
			store(0)
		case "SetWithTTL":
			store(ttl)
		case "Delete":
			require.Equal(t, preLive, ok, what)
			_, in := model[k]
			require.False(t, in, "%s: the entry deleted was not reported", what)
		case "SetIfAbsent":
			require.Equal(t, !preLive, ok, what)
			if ok {
				store(ttl)
			} else {
				require.Equal(t, pre, model[k], what)
			}
		case "GetOrSet":
			require.Equal(t, preLive, flag, what)
			if flag {
				require.Equal(t, pre.value, string(got), what)
				require.Equal(t, pre, model[k], what)
			} else {
				require.Equal(t, v, string(got), what)
				store(ttl)
			}
		case "CompareAndSwap":
			require.Equal(t, preLive && flag, ok, what)
			if ok {
				store(ttl)
			}
		case "Touch":
			switch {
			case !preLive:
				require.False(t, ok, what)
			case evictedSelf:
				require.False(t, ok, "%s: its entry was evicted to make room", what)
			default:
				require.True(t, ok, what)
				model[k] = modelEntry{pre.value, expiry(ttl)}
			}
		case "Get":
			require.Equal(t, preLive, ok, what)
			if ok {
				require.Equal(t, pre.value, string(got), what)
			}
		}
		if op%2000 == 0 {
			mustCheck(t, c, "%s", what)
		}
	}

	// The cache and the model agree on every key.
	for i := range tc.keys {
		k := key(i)
		got, ok := c.Get(nil, []byte(k))
		m, in := model[k]
		require.Equal(t, in && live(m), ok, "key %s", k)
		if ok {
			require.Equal(t, m.value, string(got), "key %s", k)
		}
	}
	require.Equal(t, len(model), c.Len(), "entries, expired ones not yet dropped included")
	st := c.Stats()
	t.Logf("events: %v; stats: %d evictions, %d expirations, %d deletes", counts, st.Evictions, st.Expirations, st.Deletes)
	require.Equal(t, counts[RemovalEvicted], st.Evictions)
	require.Equal(t, counts[RemovalExpired], st.Expirations)
	require.Equal(t, counts[RemovalDeleted], st.Deletes)
	for _, cause := range []RemovalCause{RemovalDeleted, RemovalReplaced, RemovalExpired, RemovalEvicted} {
		require.NotZero(t, counts[cause], "the run saw no %v event", cause)
	}
	mustCheck(t, c, "end")
}

// TestRemovalStealReported: a shard that holds no segment takes them from the other shards of
// its group (steal, and segments given up for index pages); the entries that leaves out of
// the other shards are reported, once each, by the Sets that took the room, and the events
// add up to Stats().Evictions exactly.
func TestRemovalStealReported(t *testing.T) {
	leakCheck(t)
	rec := &rmRecorder{}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 8, JanitorInterval: -1, OnRemoval: rec.record}, nil, nil)
	require.Len(t, c.e.groups, 1)
	shard0 := &c.e.shards[0]
	inShard0 := func(k []byte) bool { return c.e.shardFor(c.e.hash(k)) == shard0 }
	model := make(map[string]string)
	evicted := 0
	stolen := 0
	vlen, phase2 := 200, 6000
	switch {
	case debug:
		vlen, phase2 = 1000, 1200 // fewer entries: every write walks its shard to check it
	case testsUnderRace():
		vlen, phase2 = 400, 3000
	}
	set := func(k []byte, phase int) {
		t.Helper()
		v := valueFor(k, phase, vlen)
		require.NoError(t, c.Set(k, v))
		for _, ev := range rec.take() {
			require.Equal(t, RemovalEvicted, ev.cause, "%v", ev)
			want, in := model[ev.key]
			require.True(t, in, "%v reported, but the key is not in the cache", ev)
			require.Equal(t, want, ev.value, "%v", ev)
			delete(model, ev.key)
			evicted++
			if phase == 2 && !inShard0([]byte(ev.key)) {
				stolen++
			}
		}
		_, in := model[string(k)]
		require.False(t, in, "keys are never written twice here")
		model[string(k)] = string(v)
	}
	// Phase 1: the other shards take the whole pool, and evict.
	n := 0
	for i := 0; c.Stats().Evictions < uint64(40_000/vlen); i++ {
		k := fmt.Appendf(nil, "one-%d", i)
		if inShard0(k) {
			continue
		}
		set(k, 1)
		n++
		require.Less(t, n, 100_000)
	}
	require.Zero(t, shard0.queued(), "shard 0 holds nothing")
	// Phase 2: shard 0 only.
	for i := range phase2 {
		k := rmKeyInShard(c, 0, fmt.Sprintf("two-%d", i))
		set(k, 2)
	}
	require.Positive(t, stolen, "shard 0 took segments from the others")
	require.Positive(t, shard0.queued())
	st := c.Stats()
	t.Logf("%d evicted, %d of them from other shards by shard 0's Sets; shard 0 holds %d segments", evicted, stolen, shard0.queued())
	require.Equal(t, uint64(evicted), st.Evictions)
	require.Zero(t, st.Expirations)
	require.Equal(t, len(model), st.Entries)
	for k, v := range model {
		got, ok := c.Get(nil, []byte(k))
		require.True(t, ok, "key %s", k)
		require.Equal(t, v, string(got))
	}
	mustCheck(t, c, "end")
	require.NoError(t, checkPools(c))
}

// TestRemovalConcurrentCountsMatchStats: goroutines set and delete keys of their own in a small
// cache of several shards, which evicts and steals across shards under contention: for every
// key, the values stored less the removals reported is 1 if the key is present and 0 if not,
// and the events by cause add up to Stats exactly.
func TestRemovalConcurrentCountsMatchStats(t *testing.T) {
	leakCheck(t)
	var (
		mu       sync.Mutex
		removals = make(map[string]int)
		byCause  = make(map[RemovalCause]uint64)
	)
	onRemoval := func(key, value []byte, cause RemovalCause) {
		mu.Lock()
		removals[string(key)]++
		byCause[cause]++
		mu.Unlock()
	}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1, OnRemoval: onRemoval}, nil, nil)
	const goroutines, keys = 4, 3000 // about 6 MB of values in 4 MiB: evictions
	ops, minV, maxV := 15_000, 200, 800
	switch {
	case debug:
		// Fewer, larger entries: every write walks its shard to check it.
		ops, minV, maxV = 1500, 3000, 5000
	case testing.Short() || testsUnderRace():
		ops = 5000
	}
	stores := make([]map[string]int, goroutines)
	errs := make(chan error, goroutines)
	condRace(goroutines, func(g int) {
		rng := rand.New(rand.NewPCG(uint64(g), 3))
		mine := make(map[string]int)
		stores[g] = mine
		for i := range ops {
			k := fmt.Appendf(nil, "g%d-%d", g, rng.IntN(keys))
			if rng.IntN(10) == 0 {
				c.Delete(k)
				continue
			}
			if err := c.Set(k, valueFor(k, i, minV+rng.IntN(maxV-minV))); err != nil {
				errs <- err
				return
			}
			mine[string(k)]++
		}
	})
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	present := 0
	for g := range goroutines {
		for i := range keys {
			k := fmt.Sprintf("g%d-%d", g, i)
			has := 0
			if c.Has([]byte(k)) {
				has = 1
				present++
			}
			require.Equal(t, has, stores[g][k]-removals[k], "key %s: %d stored, %d removed", k, stores[g][k], removals[k])
		}
	}
	st := c.Stats()
	require.Equal(t, present, st.Entries)
	require.Equal(t, byCause[RemovalEvicted], st.Evictions)
	require.Equal(t, byCause[RemovalDeleted], st.Deletes)
	require.Equal(t, byCause[RemovalExpired], st.Expirations)
	require.Zero(t, st.Expirations)
	require.NotZero(t, st.Evictions)
	require.NotZero(t, byCause[RemovalReplaced])
	mustCheck(t, c, "end")
}

// TestRemovalCallbackReentrant: OnRemoval runs with no lock held, after the operation is
// visible: it may read, write and delete in the same shard (a Delete in it reports its own
// removal, nested), iterate, and see the removal done and the new value stored.
func TestRemovalCallbackReentrant(t *testing.T) {
	leakCheck(t)
	rec := &rmRecorder{}
	var (
		c        *Cache
		mu       sync.Mutex
		problems []string
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	onRemoval := func(key, value []byte, cause RemovalCause) {
		rec.record(key, value, cause)
		switch string(key) {
		case "a": // deleted
			if c.Has([]byte("a")) {
				problem("a is still there when its Delete is reported")
			}
			if err := c.Set([]byte("x"), []byte("from the callback")); err != nil {
				problem("Set: %v", err)
			}
			if v, ok := c.Get(nil, []byte("x")); !ok || string(v) != "from the callback" {
				problem("Get of x: %q, %v", v, ok)
			}
			if !c.Delete([]byte("y")) {
				problem("Delete of y found nothing")
			}
			n := 0
			for range c.All() {
				n++
			}
			if n != 2 { // b and x
				problem("iteration in the callback: %d entries", n)
			}
		case "b": // replaced
			if v, ok := c.Get(nil, []byte("b")); !ok || string(v) != "b2" {
				problem("b is %q, %v when its replacement is reported", v, ok)
			}
			if stored, err := c.SetIfAbsent([]byte("z"), []byte("z"), 0); !stored || err != nil {
				problem("SetIfAbsent: %v, %v", stored, err)
			}
		}
	}
	c = newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1, OnRemoval: onRemoval}, nil, nil)
	for _, k := range []string{"a", "y", "b"} {
		require.NoError(t, c.Set([]byte(k), []byte(k+"1")))
	}
	require.True(t, c.Delete([]byte("a")))
	require.Equal(t, []rmEvent{{"a", "a1", RemovalDeleted}, {"y", "y1", RemovalDeleted}}, rec.take())
	require.NoError(t, c.Set([]byte("b"), []byte("b2")))
	require.Equal(t, []rmEvent{{"b", "b1", RemovalReplaced}}, rec.take())
	require.Empty(t, problems)
	for k, want := range map[string]string{"x": "from the callback", "z": "z", "b": "b2"} {
		v, ok := c.Get(nil, []byte(k))
		require.True(t, ok, k)
		require.Equal(t, want, string(v))
	}
	require.False(t, c.Has([]byte("y")))
	require.Equal(t, uint64(2), c.Stats().Deletes)
	mustCheck(t, c, "end")
}

// TestRemovalCallbackCloses: OnRemoval may close the cache; the other removals of the same
// operation are still reported, and the cache is closed after.
func TestRemovalCallbackCloses(t *testing.T) {
	leakCheck(t)
	rec := &rmRecorder{}
	var c *Cache
	var closeOn atomic.Bool
	onRemoval := func(key, value []byte, cause RemovalCause) {
		rec.record(key, value, cause)
		if closeOn.Load() {
			if err := c.Close(); err != nil {
				panic(err)
			}
		}
	}
	c = newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1, OnRemoval: onRemoval}, nil, nil)
	vlen := 200
	if debug {
		vlen = 2000 // fewer entries: every write walks its shard to check it
	}
	// Fill until evictions come, then the next Set that evicts several closes the cache in its
	// first callback.
	i := 0
	for ; c.Stats().Evictions == 0; i++ {
		k := fmt.Appendf(nil, "key-%d", i)
		require.NoError(t, c.Set(k, valueFor(k, 0, vlen)))
	}
	rec.take()
	closeOn.Store(true)
	for {
		before := c.Stats()
		k := fmt.Appendf(nil, "key-%d", i)
		i++
		require.NoError(t, c.Set(k, valueFor(k, 0, vlen)))
		ev := rec.take()
		after := c.Stats()
		require.Equal(t, int(after.Evictions-before.Evictions+after.Expirations-before.Expirations), len(ev))
		if len(ev) > 0 {
			require.Greater(t, len(ev), 1, "an eviction frees a quarter of a segment at least")
			break
		}
	}
	require.ErrorIs(t, c.Set([]byte("k"), []byte("v")), ErrClosed)
	_, ok := c.Get(nil, []byte("key-0"))
	require.False(t, ok)
}

// TestRemovalCallbackPanics: a panic in OnRemoval reaches the caller of the operation, after
// every other removal of the operation has been reported; the operation took effect, and the
// cache keeps working, every shard unlocked.
func TestRemovalCallbackPanics(t *testing.T) {
	leakCheck(t)
	rec := &rmRecorder{}
	var panicking atomic.Bool
	onRemoval := func(key, value []byte, cause RemovalCause) {
		rec.record(key, value, cause)
		if panicking.Load() {
			panic("boom " + string(key))
		}
	}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1, OnRemoval: onRemoval}, nil, nil)

	require.NoError(t, c.Set([]byte("a"), []byte("a1")))
	require.NoError(t, c.Set([]byte("b"), []byte("b1")))
	panicking.Store(true)
	require.PanicsWithValue(t, "boom a", func() { c.Delete([]byte("a")) })
	require.Equal(t, []rmEvent{{"a", "a1", RemovalDeleted}}, rec.take())
	require.False(t, c.Has([]byte("a")), "the Delete took effect")
	require.Equal(t, uint64(1), c.Stats().Deletes)

	require.PanicsWithValue(t, "boom b", func() { _ = c.Set([]byte("b"), []byte("b2")) })
	require.Equal(t, []rmEvent{{"b", "b1", RemovalReplaced}}, rec.take())
	v, ok := c.Get(nil, []byte("b"))
	require.True(t, ok)
	require.Equal(t, "b2", string(v), "the Set took effect")

	require.PanicsWithValue(t, "boom b", func() { _, _ = c.CompareAndSwap([]byte("b"), []byte("b2"), []byte("b3"), 0) })
	require.Equal(t, []rmEvent{{"b", "b2", RemovalReplaced}}, rec.take())

	// A Set that evicts several entries: each callback panics, every one is called, and the
	// first panic goes on.
	vlen := 200
	if debug {
		vlen = 2000 // fewer entries: every write walks its shard to check it
	}
	panicking.Store(false)
	i := 0
	for ; c.Stats().Evictions == 0; i++ {
		k := fmt.Appendf(nil, "key-%d", i)
		require.NoError(t, c.Set(k, valueFor(k, 0, vlen)))
	}
	rec.take()
	panicking.Store(true)
	for start := i; ; i++ {
		require.Less(t, i-start, 100_000, "no Set evicted several entries")
		before := c.Stats()
		k := fmt.Appendf(nil, "key-%d", i)
		var p any
		func() {
			defer func() { p = recover() }()
			_ = c.Set(k, valueFor(k, 0, vlen))
		}()
		ev := rec.take()
		after := c.Stats()
		require.Equal(t, int(after.Evictions-before.Evictions), len(ev), "every eviction reported")
		got, ok := c.Get(nil, k)
		require.True(t, ok, "the Set took effect")
		require.Equal(t, valueFor(k, 0, vlen), got)
		if len(ev) == 0 {
			require.Nil(t, p)
			continue
		}
		require.Equal(t, "boom "+ev[0].key, p, "the first panic goes on")
		if len(ev) >= 2 {
			break
		}
	}

	// No lock is left held: every shard takes reads and writes, and reports afresh.
	panicking.Store(false)
	require.True(t, shardsUnlocked(c, time.Second))
	for s := range c.e.shards {
		k := rmKeyInShard(c, s, "after")
		require.NoError(t, c.Set(k, []byte("v1")))
		require.NoError(t, c.Set(k, []byte("v2")))
		got, ok := c.Get(nil, k)
		require.True(t, ok)
		require.Equal(t, "v2", string(got))
		require.True(t, c.Delete(k))
		require.Equal(t, []rmEvent{{string(k), "v1", RemovalReplaced}, {string(k), "v2", RemovalDeleted}}, rec.take(), "shard %d", s)
	}
	mustCheck(t, c, "end")
	require.NoError(t, checkPools(c))
}

// TestRemovalResetAndCloseReportNothing: Reset and Close drop every entry, live or expired,
// and report none of them, nor count them.
func TestRemovalResetAndCloseReportNothing(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	rec := &rmRecorder{}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1, OnRemoval: rec.record}, clock, nil)
	fill := func() {
		for i := range 200 {
			k := fmt.Appendf(nil, "key-%d", i)
			ttl := time.Duration(0)
			if i%2 == 0 {
				ttl = time.Second
			}
			require.NoError(t, c.SetWithTTL(k, valueFor(k, 0, 50), ttl))
		}
		clock.advance(int64(time.Second)) // half of them expired
	}
	fill()
	before := c.Stats()
	c.Reset()
	require.Empty(t, rec.take(), "Reset")
	require.Zero(t, c.Len())
	after := c.Stats()
	require.Equal(t, before.Evictions, after.Evictions)
	require.Equal(t, before.Expirations, after.Expirations)
	require.Equal(t, before.Deletes, after.Deletes)
	fill()
	require.NoError(t, c.Close())
	require.Empty(t, rec.take(), "Close")
	require.False(t, c.Delete([]byte("key-1")))
	require.Empty(t, rec.take(), "Delete after Close")
}

// TestRemovalOrphansOfASplit: a page split re-places the page's slots in bucket order, and a
// slot that fits neither page after it (possible when windows wrap around the page's end) is
// dropped with its entry. Here 56 keys with home bucket 60 fill buckets 60-63 and wrap into
// 0-3, 84 keys with home 0 fill buckets 4-15, and one more key with home 0 splits the page:
// the wrapped slots are re-placed first, at 60-63, the home-0 ones fill 0-11, and the 28 slots
// of buckets 60-63 find no room left in their window. Each orphan is reported once, as an
// eviction when it was live and as an expiration when it had expired, and counted so.
func TestRemovalOrphansOfASplit(t *testing.T) {
	for _, expired := range []bool{false, true} {
		t.Run(fmt.Sprintf("expired=%v", expired), func(t *testing.T) {
			leakCheck(t)
			hashes := make(map[uint64]uint64)
			var wrapped, home0 [][]byte
			for i := range 8 * bucketSlots {
				k := fmt.Appendf(nil, "home60-%d", i)
				wrapped = append(wrapped, k)
				hashes[hashKey(k, 0)] = uint64(0x10000000|60) << 32
			}
			for i := range 12 * bucketSlots {
				k := fmt.Appendf(nil, "home0-%d", i)
				home0 = append(home0, k)
				hashes[hashKey(k, 0)] = uint64(0x20000000) << 32 // home bucket 0
			}
			trigger := []byte("trigger")
			hashes[hashKey(trigger, 0)] = uint64(0x80000000) << 32 // top bit 1: the new page; home bucket 0
			remap := func(h uint64) uint64 {
				if r, ok := hashes[h]; ok {
					return r
				}
				panic("not a key of this test")
			}
			clock := newFakeClock()
			rec := &rmRecorder{}
			c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1, OnRemoval: rec.record}, clock, remap)
			ttl := time.Duration(0)
			if expired {
				ttl = time.Second
			}
			for _, k := range wrapped {
				require.NoError(t, c.SetWithTTL(k, k, ttl))
			}
			for _, k := range home0 {
				require.NoError(t, c.Set(k, k))
			}
			require.Equal(t, uint32(1), c.e.shards[0].idx.hdr.pages)
			require.Empty(t, rec.take())
			clock.advance(int64(time.Second))

			require.NoError(t, c.Set(trigger, []byte("t")))
			require.Equal(t, uint32(2), c.e.shards[0].idx.hdr.pages, "the page split")
			events := rec.take()
			want := RemovalEvicted
			if expired {
				want = RemovalExpired
			}
			require.Len(t, events, 4*bucketSlots, "the slots of buckets 60-63 are orphans")
			seen := make(map[string]bool)
			for _, ev := range events {
				require.Equal(t, want, ev.cause, "%v", ev)
				require.Equal(t, ev.key, ev.value)
				require.Contains(t, string(ev.key), "home60-")
				require.False(t, seen[ev.key], "%v reported twice", ev)
				seen[ev.key] = true
				require.False(t, c.Has([]byte(ev.key)))
			}
			st := c.Stats()
			if expired {
				require.Equal(t, uint64(len(events)), st.Expirations)
				require.Zero(t, st.Evictions)
			} else {
				require.Equal(t, uint64(len(events)), st.Evictions)
				require.Zero(t, st.Expirations)
				for _, k := range wrapped {
					require.Equal(t, !seen[string(k)], c.Has(k), "%s", k)
				}
			}
			for _, k := range home0 {
				require.True(t, c.Has(k), "%s", k)
			}
			require.True(t, c.Has(trigger))
			require.Equal(t, len(wrapped)+len(home0)+1-len(events), st.Entries)
			mustCheck(t, c, "after the split")
		})
	}
}

// TestRemovalEvictionsReported: filling a small cache well past its capacity, every entry that
// leaves is reported once as evicted, with its value, by the Set that made room; the events
// add up to Stats().Evictions exactly, each key reported is absent, and each key stored and
// not reported is present with its value.
func TestRemovalEvictionsReported(t *testing.T) {
	leakCheck(t)
	rec := &rmRecorder{}
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1, OnRemoval: rec.record}, newFakeClock(), nil)
	n, vlen := 6000, 500 // about three times what fits
	switch {
	case debug:
		n, vlen = 1500, 2000 // fewer entries: every write walks its shard to check it
	case testsUnderRace():
		n, vlen = 3000, 1000
	}
	key := func(i int) string { return fmt.Sprintf("key-%d", i) }
	present := make(map[string]string)
	reported := make(map[string]int)
	for i := range n {
		k := key(i)
		v := string(valueFor([]byte(k), i, vlen-i%7))
		require.NoError(t, c.Set([]byte(k), []byte(v)))
		for _, ev := range rec.take() {
			require.Equal(t, RemovalEvicted, ev.cause, "%v", ev)
			want, in := present[ev.key]
			require.True(t, in, "%v reported, but the key is not in the cache", ev)
			require.Equal(t, want, ev.value, "%v", ev)
			reported[ev.key]++
			delete(present, ev.key)
		}
		_, in := present[k]
		require.False(t, in)
		present[k] = v
	}
	st := c.Stats()
	evictions := 0
	for _, cnt := range reported {
		evictions += cnt
	}
	require.Positive(t, evictions)
	require.Equal(t, uint64(evictions), st.Evictions)
	require.Equal(t, len(present), st.Entries)
	for i := range n {
		k := key(i)
		got, ok := c.Get(nil, []byte(k))
		if v, in := present[k]; in {
			require.True(t, ok, "%s", k)
			require.Equal(t, v, string(got))
			require.Zero(t, reported[k])
		} else {
			require.False(t, ok, "%s", k)
			require.Equal(t, 1, reported[k], "%s reported once", k)
		}
	}
	mustCheck(t, c, "end")
}

// TestRemovalCallbackClosesFromJanitor: OnRemoval called by the janitor goroutine may Close the
// cache. Would catch Close waiting for the janitor to exit while the janitor waits for the
// callback: a deadlock that also blocked every later Close.
func TestRemovalCallbackClosesFromJanitor(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	var c *Cache
	closed := make(chan error, 1)
	cfg := Config{Capacity: 4 << 20, JanitorInterval: time.Millisecond}
	cfg.OnRemoval = func(key, value []byte, cause RemovalCause) {
		if cause == RemovalExpired {
			closed <- c.Close()
		}
	}
	c = newCacheT(t, cfg, clock, nil)
	require.NoError(t, c.SetWithTTL([]byte("k"), []byte("v"), time.Second))
	clock.advance(int64(time.Second)) // the janitor goroutine finds it expired
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(30 * time.Second): // a guard against a hang, not a timing assertion
		t.Fatal("Close called from OnRemoval on the janitor goroutine did not return")
	}
	require.NoError(t, c.Close()) // and from this goroutine too
	require.ErrorIs(t, c.Set([]byte("k"), nil), ErrClosed)
}

// TestRemovalCallbackKeepsNoCacheAlive: an OnRemoval that refers to the cache, as one that
// calls its methods must, does not keep a dropped cache from its cleanup. Would catch the
// callback held by the engine, which the cleanup and the janitor hold.
func TestRemovalCallbackKeepsNoCacheAlive(t *testing.T) {
	leakCheck(t)
	// The engine, which the cleanup closes; holding it does not hold the handle.
	e := func() *engine {
		var c *Cache
		cfg := Config{Capacity: 4 << 20, JanitorInterval: time.Millisecond}
		cfg.OnRemoval = func(key, value []byte, cause RemovalCause) { _ = c.Len() }
		var err error
		c, err = New(cfg)
		require.NoError(t, err)
		require.NoError(t, c.Set([]byte("k"), []byte("v1")))
		require.NoError(t, c.Set([]byte("k"), []byte("v2"))) // a report, with the callback called
		return c.e
	}()
	// This cache's own state, not the process's counts of mappings and janitors, which caches
	// other tests dropped may change meanwhile.
	deadline := time.Now().Add(30 * time.Second)
	for !e.released.Load() {
		require.True(t, time.Now().Before(deadline), "the dropped cache was not released")
		runtime.GC()
		runtime.Gosched()
	}
	<-e.janitorDone
}
