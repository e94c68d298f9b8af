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
// Exact mode is for a cache that never evicts: every result must equal the model's, Len and the
// counters included. Otherwise the cache may forget any entry at any time, but what it returns
// must still be right: a hit returns the newest value, never an older one or another key's; a
// deleted or expired key never comes back; an entry just written is there.

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

	// Counters the cache must agree with in exact mode.
	hits, misses, sets, deletes uint64
	ops                         int
	written                     int // key and value bytes stored by Sets
}

func newModelRun(t testing.TB, c *Cache, clock *fakeClock, exact bool) *modelRun {
	return &modelRun{t: t, c: c, clock: clock, exact: exact, maxEntry: c.e.lay.maxEntry, m: map[string]modelEntry{}}
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
	switch op {
	case opSet, opSetTTL:
		r.version++
		v := valueFor(key, r.version, min(vlen, r.maxEntry-len(key)))
		var err error
		expire := int64(0)
		if op == opSet {
			err = c.Set(key, v)
		} else {
			err = c.SetWithTTL(key, v, time.Duration(arg))
			if arg > 0 {
				expire = r.clock.now() + arg
			}
		}
		if err != nil {
			r.fail("Set(%q, %d bytes, ttl %d): %v", key, len(v), arg, err)
		}
		r.sets++
		r.written += len(key) + len(v)
		r.m[string(key)] = modelEntry{value: v, expire: expire}
		if !r.exact && arg >= 0 && (expire == 0 || expire > r.clock.now()) {
			// Whatever the eviction, an entry just written is there.
			got, ok := c.Get(nil, key)
			r.hits++
			if !ok || !bytes.Equal(got, v) {
				r.fail("Get(%q) right after Set: %v, %d bytes, want %d bytes", key, ok, len(got), len(v))
			}
		}
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
		if ok && !live || r.exact && ok != live {
			r.fail("Has(%q) = %v, model %v", key, ok, live)
		}
	case opTTL:
		want, live := r.live(key)
		left, ok := c.TTL(key)
		if ok && !live || r.exact && ok != live {
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
		if ok && !live || r.exact && ok != live {
			r.fail("Delete(%q) = %v, model %v", key, ok, live)
		}
		if ok {
			r.deletes++
		}
		delete(r.m, string(key))
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
	case !ok && live && r.exact:
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
	now := r.clock.now()
	liveN, liveBytes := 0, 0
	for k, e := range r.m {
		if e.expire == 0 || e.expire > now {
			liveN++
			liveBytes += len(k) + len(e.value)
		}
	}
	st := c.Stats()
	if st.Entries != c.Len() {
		r.fail("Stats().Entries %d, Len %d", st.Entries, c.Len())
	}
	if st.UsedBytes > st.Capacity {
		r.fail("UsedBytes %d over Capacity %d", st.UsedBytes, st.Capacity)
	}
	if r.exact {
		if st.Entries != liveN || st.LiveBytes != liveBytes {
			r.fail("cache holds %d entries of %d bytes, model %d of %d", st.Entries, st.LiveBytes, liveN, liveBytes)
		}
		if st.Hits != r.hits || st.Misses != r.misses || st.Sets != r.sets || st.Deletes != r.deletes || st.Evictions != 0 {
			r.fail("stats %+v, model hits %d misses %d sets %d deletes %d", st, r.hits, r.misses, r.sets, r.deletes)
		}
	} else if st.Entries > liveN || st.LiveBytes > liveBytes {
		r.fail("cache holds %d entries of %d bytes, more than the model's %d of %d", st.Entries, st.LiveBytes, liveN, liveBytes)
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
		case opSetTTL:
			arg = rng.Int64N(mix.ttlMax + 1) // 0: never expires
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
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 4, JanitorInterval: -1}, clock, fixedHash)
	r := newModelRun(t, c, clock, true)
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
		weights: [numModelOps]int{opSet: 3, opSetTTL: 3, opGet: 3, opView: 1, opDelete: 1, opAdvance: 1, opReset: 0},
	}, 2)
}

// TestModelExactWithResets has Resets among the operations.
func TestModelExactWithResets(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 8, JanitorInterval: -1}, clock, fixedHash)
	mix := modelMix{
		ops: 50_000, keys: 1000, maxValue: 200, bigValue: 2000,
		ttlMax: int64(10 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 2500,
		weights: [numModelOps]int{
			opSet: 300, opSetTTL: 200, opGet: 300, opView: 100, opHas: 50, opTTL: 50, opDelete: 100,
			opAdvance: 50, opAdvanceToTTL: 10, opJanitor: 10, opReset: 1,
		},
	}
	runModel(t, newModelRun(t, c, clock, true), mix, 3)
	require.Zero(t, c.Stats().Evictions)
}

// TestModelEviction runs 200,000 operations on the smallest cache, which evicts all the time.
func TestModelEviction(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 2, JanitorInterval: -1}, clock, fixedHash)
	mix := modelMix{
		ops: 200_000, keys: 20_000, maxValue: 1500, bigValue: 1 << 20,
		ttlMax: int64(50 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 4000,
		weights: [numModelOps]int{
			opSet: 3000, opSetTTL: 1500, opGet: 2500, opView: 1000, opHas: 300, opTTL: 300, opDelete: 600,
			opAdvance: 400, opAdvanceToTTL: 100, opJanitor: 50, opReset: 1, opTooLarge: 50,
		},
	}
	r := newModelRun(t, c, clock, false)
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
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, fixedHash)
	mix := modelMix{
		ops: 100_000, keys: 3000, maxValue: 600, bigValue: 8000,
		ttlMax: int64(100 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 5000,
		weights: [numModelOps]int{
			opSet: 200, opSetTTL: 50, opGet: 500, opView: 200, opDelete: 20, opAdvance: 20, opJanitor: 2,
		},
	}
	runModel(t, newModelRun(t, c, clock, false), mix, 5)
	require.NotZero(t, c.Stats().Evictions)
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
			c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 4, JanitorInterval: -1}, clock, hash)
			mix := modelMix{
				ops: 50_000, keys: 1500, maxValue: 200, bigValue: 2000,
				ttlMax: int64(20 * time.Millisecond), advanceMax: int64(time.Millisecond), checkEvery: 2000,
				weights: [numModelOps]int{
					opSet: 3000, opSetTTL: 1000, opGet: 3000, opView: 1000, opHas: 300, opTTL: 300, opDelete: 600,
					opAdvance: 300, opAdvanceToTTL: 50, opJanitor: 50, opReset: 1,
				},
			}
			runModel(t, newModelRun(t, c, clock, false), mix, 6)
			require.NotZero(t, c.Stats().Evictions)
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
		c, err := newTestCache(Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock.now, hash)
		require.NoError(t, err)
		defer c.Close()
		r := newModelRun(t, c, clock, false)
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
			case opSetTTL:
				a = int64(arg%16) * int64(time.Millisecond) // 0: never expires
			case opAdvance:
				a = int64(arg) * int64(100*time.Microsecond)
			}
			r.exact = c.Stats().Evictions == 0 // until the first eviction, nothing may be missing
			r.step(op, key, vlen, a)
		}
		r.step(opCompare, nil, 0, 0)
	})
}
