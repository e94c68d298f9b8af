package mmcache

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The model tests run random operations on a cache and on a plain map with the same fake
// clock, and compare every result.
//
// The cache reports every entry that leaves it to OnRemoval, and the model takes the entry out
// of its map when it does, after checking the report: the key is one it holds, with its newest
// value, and the cause is right (deleted or replaced only by the operation on that key, expired
// only once the expiry has passed, evicted only outside exact mode and never expired). So the
// map is at every step exactly what the cache holds, expired entries not yet dropped included:
// every read must agree with it, and Len and every counter of Stats must equal the model's,
// evictions or not. Exact mode is for a cache that must never evict: an eviction fails.

type modelEntry struct {
	value  []byte
	expire int64 // 0: never
}

type modelOp uint8

const (
	opSet modelOp = iota
	opSetTTL
	opGet
	opView
	opHas
	opTTL
	opDelete
	opAdvance      // move the clock by arg
	opAdvanceToTTL // move the clock to exactly the expiry of the key, if it has one
	opJanitor
	opCompare // exact mode: drop expired entries with the janitor and compare Len and Stats
	opReset
	opTooLarge // a Set that must fail and change nothing
	opGetWithTTL
	opTouch
	opSetIfAbsent
	opGetOrSet
	opCompareAndSwap // with the newest value when arg is even, another one when odd
	opIterate        // All when arg is even, Keys when odd
	numModelOps
)

type modelRun struct {
	t        testing.TB
	c        *Cache
	clock    *fakeClock
	exact    bool
	maxEntry int
	m        map[string]modelEntry
	version  int

	// Counters the cache must agree with.
	hits, misses, sets, deletes uint64
	removed                     [RemovalEvicted + 1]uint64 // reports, by cause
	ops                         int
	written                     int // key and value bytes stored by Sets

	// The operation running and its key: only it may delete or replace an entry, and only
	// that key's.
	current    modelOp
	currentKey string
}

// newModelRun makes a cache from cfg for a model run, with OnRemoval reporting to the run. The
// cache is checked and closed at the end of the test.
func newModelRun(t testing.TB, cfg Config, clock *fakeClock, hash func(uint64) uint64, exact bool) *modelRun {
	r := &modelRun{t: t, clock: clock, exact: exact, m: map[string]modelEntry{}}
	cfg.OnRemoval = r.onRemoval
	r.c = newCacheT(t, cfg, clock, hash)
	r.maxEntry = r.c.e.lay.maxEntry
	return r
}

// onRemoval checks a report against the model and takes the entry out of it.
func (r *modelRun) onRemoval(key, value []byte, cause RemovalCause) {
	r.t.Helper()
	e, ok := r.m[string(key)]
	if !ok {
		r.fail("%v %q, which the cache does not hold", cause, key)
	}
	if !bytes.Equal(value, e.value) {
		r.fail("%v %q with %d bytes that are not its newest value (%d bytes)", cause, key, len(value), len(e.value))
	}
	expired := e.expire != 0 && e.expire <= r.clock.now()
	byThisOp := r.currentKey == string(key)
	switch cause {
	case RemovalExpired:
		if !expired {
			r.fail("%v %q, due at %d", cause, key, e.expire)
		}
	case RemovalEvicted:
		if expired || r.exact {
			r.fail("%v %q (expired %v, exact model %v)", cause, key, expired, r.exact)
		}
	case RemovalDeleted:
		if expired || !byThisOp || r.current != opDelete {
			r.fail("%v %q by op %d on %q (expired %v)", cause, key, r.current, r.currentKey, expired)
		}
	case RemovalReplaced:
		if expired || !byThisOp || r.current == opDelete || r.current == opTouch {
			r.fail("%v %q by op %d on %q (expired %v)", cause, key, r.current, r.currentKey, expired)
		}
	default:
		r.fail("removal of %q with cause %v", key, cause)
	}
	r.removed[cause]++
	delete(r.m, string(key))
}

// wrote records that the operation stored value under key with the given TTL; the entry that
// was there, if any, must have been reported during the operation.
func (r *modelRun) wrote(key, value []byte, ttl int64) {
	r.t.Helper()
	if _, ok := r.m[string(key)]; ok {
		r.fail("op %d stored %q without reporting the entry it replaced", r.current, key)
	}
	expire := int64(0)
	if ttl > 0 {
		expire = r.clock.now() + ttl
	}
	r.sets++
	r.written += len(key) + len(value)
	r.m[string(key)] = modelEntry{value: value, expire: expire}
}

// live returns the model's entry for key if it is there and unexpired.
func (r *modelRun) live(key []byte) (modelEntry, bool) {
	e, ok := r.m[string(key)]
	if !ok || e.expire != 0 && e.expire <= r.clock.now() {
		return modelEntry{}, false
	}
	return e, true
}

func (r *modelRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("op %d at clock %d: %s\nstats: %+v", r.ops, r.clock.now(), fmt.Sprintf(format, args...), r.c.Stats())
}

// step runs one operation. vlen is the value length for sets; arg is a TTL or a clock step.
func (r *modelRun) step(op modelOp, key []byte, vlen int, arg int64) {
	r.t.Helper()
	r.ops++
	c := r.c
	r.current, r.currentKey = op, string(key)
	defer func() { r.current, r.currentKey = numModelOps, "" }()
	switch op {
	case opSet, opSetTTL:
		r.version++
		v := valueFor(key, r.version, min(vlen, r.maxEntry-len(key)))
		var err error
		ttl := int64(0)
		if op == opSet {
			err = c.Set(key, v)
		} else {
			err = c.SetWithTTL(key, v, time.Duration(arg))
			ttl = arg
		}
		if err != nil {
			r.fail("Set(%q, %d bytes, ttl %d): %v", key, len(v), arg, err)
		}
		r.wrote(key, v, ttl)
	case opTooLarge:
		big := make([]byte, r.maxEntry-len(key)+1+int(arg%100))
		if err := c.Set(key, big); !errors.Is(err, ErrEntryTooLarge) {
			r.fail("Set(%q, %d bytes) = %v, want ErrEntryTooLarge", key, len(big), err)
		}
		if err := c.SetWithTTL(key, []byte("x"), -time.Duration(arg+1)); !errors.Is(err, ErrInvalidTTL) {
			r.fail("SetWithTTL(%q, ttl %d) = %v, want ErrInvalidTTL", key, -(arg + 1), err)
		}
	case opGet:
		want, live := r.live(key)
		got, ok := c.Get([]byte("dst:"), key)
		r.checkRead("Get", key, ok, got, want, live, []byte("dst:"))
	case opView:
		want, live := r.live(key)
		calls := 0
		var got []byte
		ok := c.View(key, func(v []byte) {
			calls++
			got = append([]byte(nil), v...)
		})
		if ok != (calls == 1) || calls > 1 {
			r.fail("View(%q) returned %v and called fn %d times", key, ok, calls)
		}
		r.checkRead("View", key, ok, got, want, live, nil)
	case opHas:
		_, live := r.live(key)
		ok := c.Has(key)
		if ok != live {
			r.fail("Has(%q) = %v, model %v", key, ok, live)
		}
	case opTTL:
		want, live := r.live(key)
		left, ok := c.TTL(key)
		if ok != live {
			r.fail("TTL(%q) found %v, model %v", key, ok, live)
		}
		wantLeft := time.Duration(0)
		if ok && want.expire != 0 {
			wantLeft = time.Duration(want.expire - r.clock.now())
		}
		if left != wantLeft {
			r.fail("TTL(%q) = %v, want %v", key, left, wantLeft)
		}
	case opDelete:
		_, live := r.live(key)
		ok := c.Delete(key)
		if ok != live {
			r.fail("Delete(%q) = %v, model %v", key, ok, live)
		}
		if ok {
			r.deletes++
		}
		if _, held := r.m[string(key)]; held {
			r.fail("Delete(%q) did not report the entry it removed", key)
		}
		if c.Has(key) {
			r.fail("Has(%q) after Delete", key)
		}
	case opAdvance:
		r.clock.advance(arg)
	case opAdvanceToTTL:
		if e, ok := r.m[string(key)]; ok && e.expire > r.clock.now() {
			r.clock.advance(e.expire - r.clock.now() - arg%2) // at the expiry, or 1ns before
		}
	case opJanitor:
		c.janitorPass()
	case opCompare:
		r.compare()
	case opReset:
		c.Reset()
		clear(r.m)
		if n := c.Len(); n != 0 {
			r.fail("Len after Reset = %d", n)
		}
	case opGetWithTTL:
		want, live := r.live(key)
		got, left, ok := c.GetWithTTL([]byte("dst:"), key)
		r.checkRead("GetWithTTL", key, ok, got, want, live, []byte("dst:"))
		if wantLeft := r.left(want, ok); left != wantLeft {
			r.fail("GetWithTTL(%q) TTL %v, want %v", key, left, wantLeft)
		}
	case opTouch:
		want, live := r.live(key)
		ok, err := c.Touch(key, time.Duration(arg))
		if err != nil {
			r.fail("Touch(%q, %d): %v", key, arg, err)
		}
		if _, held := r.m[string(key)]; live && !held {
			live = false // moving it made room by evicting it
		}
		if ok != live {
			r.fail("Touch(%q) = %v, model %v", key, ok, live)
		}
		if ok {
			want.expire = 0
			if arg > 0 {
				want.expire = r.clock.now() + arg
			}
			r.m[string(key)] = want
		}
	case opSetIfAbsent, opGetOrSet:
		want, live := r.live(key)
		r.version++
		v := valueFor(key, r.version, min(vlen, r.maxEntry-len(key)))
		var stored bool
		var err error
		if op == opSetIfAbsent {
			stored, err = c.SetIfAbsent(key, v, time.Duration(arg))
		} else {
			var got []byte
			var loaded bool
			got, loaded, err = c.GetOrSet([]byte("dst:"), key, v, time.Duration(arg))
			stored = !loaded && err == nil
			wantGot := want.value
			if stored {
				wantGot = v
			}
			if err == nil && !bytes.Equal(got, append([]byte("dst:"), wantGot...)) {
				r.fail("GetOrSet(%q) returned %d bytes, want %d (loaded %v)", key, len(got), len(wantGot), loaded)
			}
		}
		if err != nil {
			r.fail("op %d on %q: %v", op, key, err)
		}
		r.countLookup(live)
		if stored == live {
			r.fail("op %d on %q stored %v, model live %v", op, key, stored, live)
		}
		if stored {
			r.wrote(key, v, arg)
		}
	case opCompareAndSwap:
		want, live := r.live(key)
		old := want.value
		if arg%2 == 1 || !live {
			old = append(bytes.Clone(want.value), '!') // not the value, but nearly
		}
		r.version++
		v := valueFor(key, r.version, min(vlen, r.maxEntry-len(key)))
		stored, err := c.CompareAndSwap(key, old, v, time.Duration(arg/2))
		if err != nil {
			r.fail("CompareAndSwap(%q): %v", key, err)
		}
		r.countLookup(live)
		if wantStored := live && arg%2 == 0; stored != wantStored {
			r.fail("CompareAndSwap(%q) = %v, want %v", key, stored, wantStored)
		}
		if stored {
			r.wrote(key, v, arg/2)
		}
	case opIterate:
		r.iterate(arg%2 == 0)
	}
}

// countLookup counts a lookup the cache counts as a hit or a miss.
func (r *modelRun) countLookup(hit bool) {
	if hit {
		r.hits++
	} else {
		r.misses++
	}
}

// left is the TTL a read of the model's entry must return: 0 on a miss or for no expiry.
func (r *modelRun) left(want modelEntry, hit bool) time.Duration {
	if !hit || want.expire == 0 {
		return 0
	}
	return time.Duration(want.expire - r.clock.now())
}

// iterate checks that All (or Keys) yields every live entry of the model exactly once, with its
// value, and nothing else.
func (r *modelRun) iterate(values bool) {
	r.t.Helper()
	seen := map[string]bool{}
	check := func(k, v []byte) {
		want, live := r.live(k)
		switch {
		case !live:
			r.fail("iteration yielded %q, which is not live", k)
		case seen[string(k)]:
			r.fail("iteration yielded %q twice", k)
		case values && !bytes.Equal(v, want.value):
			r.fail("iteration yielded %q with %d bytes, not its newest value (%d)", k, len(v), len(want.value))
		}
		seen[string(k)] = true
	}
	if values {
		for k, v := range r.c.All() {
			check(k, v)
		}
	} else {
		for k := range r.c.Keys() {
			check(k, nil)
		}
	}
	for k := range r.m {
		if _, live := r.live([]byte(k)); live && !seen[k] {
			r.fail("iteration missed %q", k)
		}
	}
}

func (r *modelRun) checkRead(what string, key []byte, ok bool, got []byte, want modelEntry, live bool, prefix []byte) {
	r.t.Helper()
	if ok {
		r.hits++
	} else {
		r.misses++
	}
	switch {
	case ok && !live:
		r.fail("%s(%q) hit %d bytes, but the key is deleted, expired or never set", what, key, len(got))
	case !ok && live:
		r.fail("%s(%q) missed, want %d bytes", what, key, len(want.value))
	case ok && !bytes.Equal(got, append(append([]byte(nil), prefix...), want.value...)):
		r.fail("%s(%q) returned %d bytes that are not the newest value (%d bytes)", what, key, len(got), len(want.value))
	case !ok && !bytes.Equal(got, prefix):
		r.fail("%s(%q) missed but changed dst to %q", what, key, got)
	}
}

// compare drops expired entries with the janitor, then compares the whole cache with the model.
// In exact mode the counts must be equal; otherwise the cache holds a subset of the model.
func (r *modelRun) compare() {
	r.t.Helper()
	c := r.c
	for range 2 {
		c.janitorPass()
	}
	heldBytes := 0
	for k, e := range r.m {
		heldBytes += len(k) + len(e.value)
	}
	st := c.Stats()
	if st.Entries != c.Len() {
		r.fail("Stats().Entries %d, Len %d", st.Entries, c.Len())
	}
	if st.UsedBytes > st.Capacity {
		r.fail("UsedBytes %d over Capacity %d", st.UsedBytes, st.Capacity)
	}
	// Expired entries not dropped yet count in both.
	if st.Entries != len(r.m) || st.LiveBytes != heldBytes {
		r.fail("cache holds %d entries of %d bytes, model %d of %d", st.Entries, st.LiveBytes, len(r.m), heldBytes)
	}
	if st.Hits != r.hits || st.Misses != r.misses || st.Sets != r.sets || st.Deletes != r.deletes {
		r.fail("stats %+v, model hits %d misses %d sets %d deletes %d", st, r.hits, r.misses, r.sets, r.deletes)
	}
	if st.Deletes != r.removed[RemovalDeleted] || st.Expirations != r.removed[RemovalExpired] || st.Evictions != r.removed[RemovalEvicted] {
		r.fail("stats %+v, reports by cause %v", st, r.removed)
	}
	if err := c.check(); err != nil {
		r.fail("invariants: %v", err)
	}
	// Every key of the model reads back right (exact: every live key is there).
	for k := range r.m {
		r.step(opGet, []byte(k), 0, 0)
	}
}

// modelKeys returns n distinct keys of assorted lengths, the empty key among them.
func modelKeys(rng *rand.Rand, n int) [][]byte {
	keys := make([][]byte, 0, n)
	seen := map[string]bool{}
	for len(keys) < n {
		var k []byte
		switch len(keys) {
		case 0:
			k = []byte{}
		case 1:
			k = bytes.Repeat([]byte{0xab}, 300) // a long key
		default:
			k = fmt.Appendf(nil, "key-%d", rng.IntN(1<<30))
			k = append(k, bytes.Repeat([]byte{'.'}, rng.IntN(24))...)
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys
}

type modelMix struct {
	ops        int
	keys       int
	maxValue   int   // most values are up to this long
	bigValue   int   // and a few up to this
	ttlMax     int64 // TTLs are up to this many nanoseconds
	advanceMax int64 // each clock step is up to this
	weights    [numModelOps]int
	checkEvery int
}

func runModel(t *testing.T, r *modelRun, mix modelMix, seed uint64) {
	t.Helper()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := modelKeys(rng, mix.keys)
	total := 0
	for _, w := range mix.weights {
		total += w
	}
	for i := range mix.ops {
		x := rng.IntN(total)
		op := modelOp(0)
		for x >= mix.weights[op] {
			x -= mix.weights[op]
			op++
		}
		key := keys[rng.IntN(len(keys))]
		vlen := rng.IntN(mix.maxValue + 1)
		if rng.IntN(50) == 0 {
			vlen = rng.IntN(mix.bigValue + 1)
		}
		var arg int64
		switch op {
		case opSetTTL, opTouch, opSetIfAbsent, opGetOrSet:
			arg = rng.Int64N(mix.ttlMax + 1) // 0: never expires
		case opCompareAndSwap:
			arg = rng.Int64N(mix.ttlMax+1)&^1 | rng.Int64N(4)/3 // mostly with the newest value
		case opAdvance:
			arg = rng.Int64N(mix.advanceMax + 1)
		default:
			arg = rng.Int64N(1000)
		}
		r.step(op, key, vlen, arg)
		if (i+1)%mix.checkEvery == 0 {
			r.step(opCompare, nil, 0, 0)
		}
	}
	r.step(opCompare, nil, 0, 0)
}

// fixedHash keeps the cache's real hash, with the fixed seed that any remap brings (see
// newTestCache), so that a model run, which is deterministic otherwise, lays its entries out
// the same way every time and a failure repeats.
func fixedHash(h uint64) uint64 { return h }

// exactMix is the operation mix of the exact model on an 8 MiB cache: every operation, with
// TTLs and large values, and never enough live data to evict.
func exactMix(ops, keys int) modelMix {
	return modelMix{
		ops: ops, keys: keys, maxValue: 400, bigValue: 40_000,
		ttlMax: int64(20 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 5000,
		weights: [numModelOps]int{
			opSet: 28, opSetTTL: 16, opGet: 20, opView: 10, opHas: 4, opTTL: 4, opDelete: 10,
			opAdvance: 5, opAdvanceToTTL: 1, opJanitor: 1, opTooLarge: 1,
			opGetWithTTL: 6, opTouch: 4, opSetIfAbsent: 4, opGetOrSet: 4, opCompareAndSwap: 4,
		},
	}
}

// TestModelExact runs 200,000 operations on a cache large enough never to evict, with the
// inline janitor compacting what overwrites and deletes leave, and compares every result.
// The live data stays under a fifth of the capacity, while the Sets write several times the
// capacity: without compaction it would evict.
func TestModelExact(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	r := newModelRun(t, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, clock, fixedHash, true)
	c := r.c
	runModel(t, r, exactMix(200_000, 3000), 1)
	st := c.Stats()
	t.Logf("%d ops: %+v", r.ops, st)
	require.Zero(t, st.Evictions, "the premise of the exact model: no eviction")
	require.Greater(t, r.written, 2*st.Capacity, "the premise: compaction had to reclaim space")
	require.NotZero(t, st.Expirations)
	require.NotZero(t, r.deletes)

	// Reset, then again.
	r.step(opReset, nil, 0, 0)
	runModel(t, r, modelMix{
		ops: 20_000, keys: 500, maxValue: 100, bigValue: 1000, ttlMax: int64(time.Millisecond),
		advanceMax: int64(100 * time.Microsecond), checkEvery: 1000,
		weights: [numModelOps]int{opSet: 3, opSetTTL: 3, opGet: 3, opView: 1, opDelete: 1, opAdvance: 1, opReset: 0, opGetOrSet: 1, opIterate: 1},
	}, 2)
}

// TestModelExactWithResets has Resets among the operations.
func TestModelExactWithResets(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	r := newModelRun(t, Config{Capacity: 8 << 20, Shards: 8, JanitorInterval: -1}, clock, fixedHash, true)
	mix := modelMix{
		ops: 50_000, keys: 1000, maxValue: 200, bigValue: 2000,
		ttlMax: int64(10 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 2500,
		weights: [numModelOps]int{
			opSet: 300, opSetTTL: 200, opGet: 300, opView: 100, opHas: 50, opTTL: 50, opDelete: 100,
			opAdvance: 50, opAdvanceToTTL: 10, opJanitor: 10, opReset: 1,
			opGetWithTTL: 50, opTouch: 50, opSetIfAbsent: 50, opGetOrSet: 50, opCompareAndSwap: 50, opIterate: 1,
		},
	}
	runModel(t, r, mix, 3)
	require.Zero(t, r.c.Stats().Evictions)
}

// TestModelEviction runs 200,000 operations on the smallest cache, which evicts all the time.
func TestModelEviction(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	r := newModelRun(t, Config{Capacity: MinCapacity, Shards: 2, JanitorInterval: -1}, clock, fixedHash, false)
	c := r.c
	mix := modelMix{
		ops: 200_000, keys: 20_000, maxValue: 1500, bigValue: 1 << 20,
		ttlMax: int64(50 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 4000,
		weights: [numModelOps]int{
			opSet: 3000, opSetTTL: 1500, opGet: 2500, opView: 1000, opHas: 300, opTTL: 300, opDelete: 600,
			opAdvance: 400, opAdvanceToTTL: 100, opJanitor: 50, opReset: 1, opTooLarge: 50,
			opGetWithTTL: 500, opTouch: 300, opSetIfAbsent: 500, opGetOrSet: 500, opCompareAndSwap: 500, opIterate: 2,
		},
	}
	runModel(t, r, mix, 4)
	st := c.Stats()
	t.Logf("%d ops: %+v", r.ops, st)
	require.Greater(t, st.Evictions, uint64(10_000), "the premise: heavy eviction")
	require.NotZero(t, st.Hits)
}

// TestModelEvictionReads has mostly reads of a small hot set among one-off writes, so the
// second-chance path (kept entries moved within a segment) runs constantly.
func TestModelEvictionReads(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	r := newModelRun(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, fixedHash, false)
	mix := modelMix{
		ops: 100_000, keys: 3000, maxValue: 600, bigValue: 8000,
		ttlMax: int64(100 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 5000,
		weights: [numModelOps]int{
			opSet: 200, opSetTTL: 50, opGet: 500, opView: 200, opDelete: 20, opAdvance: 20, opJanitor: 2,
			opGetWithTTL: 100, opTouch: 20, opCompareAndSwap: 20,
		},
	}
	runModel(t, r, mix, 5)
	require.NotZero(t, r.c.Stats().Evictions)
}

// TestModelCollisions runs the eviction model with every key hashing to one of a few values, so
// probe windows fill and the table itself evicts.
func TestModelCollisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hashes []uint64
	}{
		{"one hash, home in the last bucket", []uint64{^uint64(0)}},
		{"one hash, home in the first bucket", []uint64{0}},
		{"four hashes", []uint64{0x0123456789abcdef, 0x1123456789abcdee, 0xfedcba9876543210, 0x8000000000010000}},
		{"four hashes, same tag and home, other shards", []uint64{0x5555555500420000, 0x5555555500420001, 0x5555555500420002, 0x5555555500420003}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			clock := newFakeClock()
			hash := func(h uint64) uint64 { return tc.hashes[h%uint64(len(tc.hashes))] }
			r := newModelRun(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1}, clock, hash, false)
			mix := modelMix{
				ops: 50_000, keys: 1500, maxValue: 200, bigValue: 2000,
				ttlMax: int64(20 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 2000,
				weights: [numModelOps]int{
					opSet: 3000, opSetTTL: 1000, opGet: 3000, opView: 1000, opHas: 300, opTTL: 300, opDelete: 600,
					opAdvance: 300, opAdvanceToTTL: 50, opJanitor: 50, opReset: 1,
					opGetWithTTL: 300, opTouch: 300, opSetIfAbsent: 300, opGetOrSet: 300, opCompareAndSwap: 300, opIterate: 2,
				},
			}
			runModel(t, r, mix, 6)
			require.NotZero(t, r.c.Stats().Evictions)
		})
	}
}

// FuzzOps decodes bytes into operations on a small cache and checks them against the model.
// The first byte picks the hash: the real one, one forced value, or four.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 0, 1, 10, 2, 1, 0, 6, 1, 0, 2, 1, 0})
	f.Add([]byte("\x01set get set view delete has ttl"))
	f.Add([]byte{2, 1, 3, 200, 6, 3, 250, 2, 3, 0, 8, 3, 1, 9, 0, 0, 2, 3, 0})
	f.Add([]byte{0, 11, 0, 0, 0, 5, 5, 2, 5, 0, 12, 5, 7})
	f.Add(func() []byte { // many sets with TTLs and clock steps over one forced hash
		b := []byte{1}
		for i := range 300 {
			b = append(b, byte(i%4), byte(i*7), byte(i*13))
		}
		return b
	}())
	f.Add(func() []byte { // large values: eviction
		b := []byte{0}
		for i := range 200 {
			b = append(b, 0, byte(i), 0xff, 2, byte(i/2), 0)
		}
		return b
	}())
	f.Add(func() []byte { // the conditional writes, Touch, GetWithTTL and iteration among sets
		b := []byte{0}
		for i := range 400 {
			op := []modelOp{opSet, opSetTTL, opGetWithTTL, opTouch, opSetIfAbsent, opGetOrSet, opCompareAndSwap, opAdvance, opDelete}[i%9]
			b = append(b, byte(op), byte(i*5%43), byte(i*11))
			if i%97 == 0 {
				b = append(b, byte(opIterate), 0, byte(i))
			}
		}
		return b
	}())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		hash := fixedHash
		switch data[0] % 3 {
		case 1:
			hash = func(uint64) uint64 { return ^uint64(0) }
		case 2:
			hash = func(h uint64) uint64 {
				return [...]uint64{0x0123456789abcdef, 0, ^uint64(0), 0x8000000080000000}[h%4]
			}
		}
		clock := newFakeClock()
		r := newModelRun(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, hash, false)
		data = data[1:min(len(data), 1+3*5000)]
		for len(data) >= 3 {
			op, kb, arg := modelOp(data[0]%uint8(numModelOps)), data[1], data[2]
			data = data[3:]
			var key []byte
			switch {
			case kb >= 250:
				key = nil // the empty key
			case kb >= 240:
				key = bytes.Repeat([]byte{kb}, 1000+int(kb))
			default:
				key = fmt.Appendf(nil, "k%d", kb%40)
			}
			vlen := int(arg) * int(arg) / 4 // up to 16 KiB
			a := int64(arg)
			switch op {
			case opSetTTL, opTouch, opSetIfAbsent, opGetOrSet, opCompareAndSwap:
				a = int64(arg%16) * int64(time.Millisecond) // 0: never expires
				if op == opCompareAndSwap {
					a = a*2 + int64(arg/16%2) // the TTL doubled, and which value to compare
				}
			case opAdvance:
				a = int64(arg) * int64(100*time.Microsecond)
			}
			r.step(op, key, vlen, a)
		}
		r.step(opCompare, nil, 0, 0)
	})
}
