package mmcache

// Attempts to break the cache through its corners: configurations at their limits, bytes of
// the mapping handed back in as keys and values, buffers that alias keys, footprints that
// collide, a table of one bucket, floods of one hash, pins held across Reset storms, Close from
// odd places, every reader slot taken. Each test passes today; each says what it would catch.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/require"
)

// advClosedErr reports the first call on c that does not answer as on a closed cache. It
// does not stop the goroutine, so goroutines other than the test's may call it.
func advClosedErr(c *Cache) error {
	k := []byte("k")
	if err := c.Set(k, []byte("v")); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Set after Close: %v", err)
	}
	if err := c.SetWithTTL(k, []byte("v"), time.Second); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("SetWithTTL after Close: %v", err)
	}
	if got, ok := c.Get([]byte("dst"), k); ok || string(got) != "dst" {
		return fmt.Errorf("Get after Close: %q, %v", got, ok)
	}
	if c.Has(k) || c.Delete(k) || c.Len() != 0 {
		return errors.New("Has, Delete or Len after Close")
	}
	if c.View(k, func([]byte) {}) {
		return errors.New("View after Close")
	}
	if _, ok := c.TTL(k); ok {
		return errors.New("TTL after Close")
	}
	c.Reset()
	if st := c.Stats(); st.Entries != 0 || st.UsedBytes != 0 || st.LiveBytes != 0 {
		return fmt.Errorf("Stats after Close: %+v", st)
	}
	return c.Close()
}

// advRequireClosed checks that every call on c answers as on a closed cache.
func advRequireClosed(t testing.TB, c *Cache) {
	t.Helper()
	require.NoError(t, advClosedErr(c))
}

// advNoPinsOrSlots fails if any segment is still pinned, any view counted or any reader slot
// owned: what a leaked pin or slot would look like.
func advNoPinsOrSlots(t testing.TB, c *Cache) {
	t.Helper()
	e := c.e
	require.Zero(t, e.views.Load(), "a view is still counted")
	for i := range e.readers.slots {
		require.Zero(t, atomic.LoadUint64(&e.readers.slots[i].state)&1, "reader slot %d is still owned", i)
	}
	if e.released.Load() {
		return
	}
	for si := range e.shards {
		s := &e.shards[si]
		for id := range s.ar.Len() {
			require.Zero(t, s.ar.Pins(arena.ID(id)), "shard %d segment %d is still pinned", si, id)
		}
	}
}

// Every Config New accepts, down to the smallest and at the extremes of MaxEntrySize and
// AvgEntrySize, stores entries of exactly MaxEntrySize with and without a TTL, again and again
// past its capacity, and keeps its invariants and its memory bound. Every Config it refuses is
// refused with ErrInvalidConfig. Would catch a segment too small for its largest entry, an
// overflow in the layout arithmetic (run it on 386), or a layout that breaks the arena.
func TestAdversarialConfigSweep(t *testing.T) {
	leakCheck(t)
	caps := []int{MinCapacity, MinCapacity + 4095, 3 << 20, 5<<20 + 12345}
	shards := []int{0, 1, 4, 16}
	maxes := []int{0, 1, 100, MaxKeySize, 200 << 10}
	avgs := []int{0, 1, 4096, math.MaxInt}
	if testing.Short() {
		caps, avgs = caps[:2], []int{0, math.MaxInt}
	}
	// Entries are windows of one pattern, each starting elsewhere: cheap to make under -race.
	pattern := valueFor([]byte("sweep"), 0, 256<<10+64)
	valueOf := func(i, n int) []byte {
		v := make([]byte, n)
		for off := 0; off < n; off += 256 << 10 {
			copy(v[off:], pattern[i%64:])
		}
		return v
	}
	accepted := 0
	for _, cp := range caps {
		for _, sh := range shards {
			for _, mx := range maxes {
				for _, av := range avgs {
					cfg := Config{Capacity: cp, Shards: sh, MaxEntrySize: mx, AvgEntrySize: av, JanitorInterval: -1}
					c, err := newTestCache(cfg, newFakeClock().now, nil)
					if err != nil {
						require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
						continue
					}
					accepted++
					maxEntry := c.e.lay.maxEntry
					n := min(3*cp/maxEntry+4, 24)
					for i := range n {
						k := fmt.Appendf(nil, "%d", i)
						k = k[:min(len(k), maxEntry)]
						v := valueOf(i, maxEntry-len(k))
						if i%2 == 0 {
							err = c.SetWithTTL(k, v, time.Hour)
						} else {
							err = c.Set(k, v)
						}
						require.NoError(t, err, "%+v: entry %d of %d bytes", cfg, i, maxEntry)
						// View, not Get: a copy of a large value is slow under -race.
						same := false
						require.True(t, c.View(k, func(got []byte) { same = bytes.Equal(v, got) }), "%+v: entry %d", cfg, i)
						require.True(t, same, "%+v: entry %d", cfg, i)
					}
					require.NoError(t, c.check(), "%+v", cfg)
					st := c.Stats()
					require.LessOrEqual(t, st.UsedBytes+st.ReservedBytes, st.Capacity, "%+v", cfg)
					require.NoError(t, c.Close())
				}
			}
		}
	}
	require.Positive(t, accepted)
}

// Goroutines setting (values of up to 290 KiB, past the fenced-copy size), deleting, reading
// without a lock, holding nested Views across Resets, and reading Stats, all at once; in odd
// rounds Close comes in under the load. Every value read is whole and its key's; viewed bytes
// never change; Close leaves no pin, view or reader slot behind and every call closed.
func TestAdversarialChaosLifecycle(t *testing.T) {
	leakCheck(t)
	dur := 300 * time.Millisecond
	if testing.Short() {
		dur = 100 * time.Millisecond
	}
	for round := range 4 {
		cfg := Config{Capacity: 8 << 20, Shards: 1 << (round % 2), MaxEntrySize: 300 << 10, JanitorInterval: time.Millisecond}
		if round >= 2 {
			cfg.JanitorInterval = -1
		}
		c, err := New(cfg)
		require.NoError(t, err)
		var stop atomic.Bool
		var version atomic.Uint64
		errs := make(chan error, 16)
		report := func(err error) {
			select {
			case errs <- err:
			default:
			}
			stop.Store(true)
		}
		key := func(r *rand.Rand) []byte { return fmt.Appendf(nil, "key-%d", r.IntN(200)) }
		size := func(r *rand.Rand) int {
			switch r.IntN(12) {
			case 0:
				return 260<<10 + r.IntN(30<<10)
			case 1, 2:
				return 4000 + r.IntN(10000)
			default:
				return 16 + r.IntN(200)
			}
		}
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for !stop.Load() {
					k := key(r)
					var err error
					switch r.IntN(10) {
					case 0:
						c.Delete(k)
					case 1:
						err = c.SetWithTTL(k, portedStamp(k, version.Add(1), size(r)), time.Duration(r.IntN(3))*time.Millisecond)
					default:
						err = c.Set(k, portedStamp(k, version.Add(1), size(r)))
					}
					if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrBusy) {
						report(err)
					}
				}
			}()
		}
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(10+g)))
				buf := make([]byte, 0, 512<<10)
				for !stop.Load() {
					k := key(r)
					if v, ok := c.Get(buf[:0], k); ok {
						if _, err := portedStampOK(k, v); err != nil {
							report(err)
						}
					}
					c.Has(k)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(round), 99))
			for !stop.Load() {
				k := key(r)
				c.View(k, func(v []byte) {
					saved := bytes.Clone(v)
					if _, err := portedStampOK(k, v); err != nil {
						report(err)
					}
					k2 := key(r)
					c.View(k2, func(v2 []byte) {
						runtime.Gosched()
						if _, err := portedStampOK(k2, v2); err != nil {
							report(fmt.Errorf("nested: %w", err))
						}
					})
					if r.IntN(40) == 0 {
						c.Reset()
					}
					for range 3 {
						runtime.Gosched()
					}
					if !bytes.Equal(saved, v) {
						report(fmt.Errorf("the bytes of a View of %q changed under its callback", k))
					}
				})
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				st := c.Stats()
				if st.UsedBytes+st.ReservedBytes > st.Capacity {
					report(fmt.Errorf("stats over capacity: %+v", st))
				}
				runtime.Gosched()
			}
		}()
		timer := time.NewTimer(dur)
		select {
		case <-timer.C:
		case err := <-errs:
			timer.Stop()
			stop.Store(true)
			wg.Wait()
			_ = c.Close()
			require.NoError(t, err, "round %d", round)
		}
		if round%2 == 0 {
			stop.Store(true)
			wg.Wait()
			require.NoError(t, c.check(), "round %d", round)
			advNoPinsOrSlots(t, c)
			require.NoError(t, c.Close())
		} else {
			require.NoError(t, c.Close()) // under load
			stop.Store(true)
			wg.Wait()
		}
		select {
		case err := <-errs:
			require.NoError(t, err, "round %d", round)
		default:
		}
		require.True(t, c.e.released.Load(), "round %d: the mapping outlived every view", round)
		advNoPinsOrSlots(t, c)
		advRequireClosed(t, c)
	}
}

// A View callback that closes and resets the cache and then panics: the panic reaches the
// caller, the view ends, and the memory is unmapped then and not before. Would catch a view
// count or pin leaked on the panic path, which would keep the mapping forever.
func TestAdversarialCloseInsideViewThenPanic(t *testing.T) {
	leakCheck(t)
	c, err := New(Config{Capacity: 4 << 20, Shards: 2, JanitorInterval: time.Millisecond})
	require.NoError(t, err)
	key := []byte("k")
	want := valueFor(key, 3, 3000)
	require.NoError(t, c.Set(key, want))
	require.NoError(t, c.Set([]byte("other"), []byte("x")))
	e := c.e
	require.PanicsWithValue(t, "callback failed", func() {
		c.View(key, func(v []byte) {
			c.View([]byte("other"), func([]byte) {
				c.Reset()
				require.NoError(t, c.Close())
			})
			require.False(t, e.released.Load(), "unmapped under a running callback")
			require.Equal(t, want, v)
			require.ErrorIs(t, c.Set(key, []byte("late")), ErrClosed)
			panic("callback failed")
		})
	})
	require.Zero(t, e.views.Load())
	require.True(t, e.released.Load(), "the last view out unmaps")
	advNoPinsOrSlots(t, c)
	advRequireClosed(t, c)
}

// Bytes of the mapping handed back to the cache: a viewed value used as the value and as the
// key of Sets, Gets, Deletes, across an in-place-sized overwrite of its own key, a Reset and a
// flood that evicts everything. Would catch a Set whose source bytes are moved or overwritten
// before they are copied (the pinned segment reused, compacted or written in place).
func TestAdversarialMappedBytesAsInput(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, newFakeClock(), nil)
	key := []byte("source")
	want := valueFor(key, 1, 600)
	require.NoError(t, c.Set(key, want))
	require.True(t, c.View(key, func(v []byte) {
		require.NoError(t, c.Set(key, v), "same footprint as itself: must not copy onto itself while pinned")
		require.NoError(t, c.Set([]byte("copy"), v))
		require.NoError(t, c.Set(v[:100], v[100:]), "mapped key and mapped value")
		got, ok := c.Get(nil, v[:100])
		require.True(t, ok)
		require.Equal(t, want[100:], got)
		require.True(t, c.Has(v[:100]))
		require.True(t, c.Delete(v[:100]))
		c.Reset()
		require.NoError(t, c.Set([]byte("after reset"), v), "the source is retired, not freed")
		for i := range 5000 {
			require.NoError(t, c.Set(fmt.Appendf(nil, "flood %d", i), valueFor(nil, i, 200)))
		}
		require.NoError(t, c.SetWithTTL([]byte("after flood"), v, time.Hour))
		require.Equal(t, want, v)
	}))
	for _, k := range []string{"after reset", "after flood"} {
		got, ok := c.Get(nil, []byte(k))
		if k == "after reset" && !ok {
			continue // the flood may have evicted it; what matters is that it was never wrong
		}
		require.True(t, ok, k)
		require.Equal(t, want, got, k)
	}
	require.Zero(t, c.e.shards[0].q.Retired())
}

// Get's dst sharing memory with the key in every arrangement: key inside dst's spare room, key
// straddling its length, key right before the spare, the value shorter and longer than the
// spare; on the lock-free path, on the locked one, and with a writer moving the entry under
// the lock-free reader. Would catch an attempt that appends over the key and then looks up
// the damaged key, or a check that misses a partial overlap.
func TestAdversarialGetDstAliasesKey(t *testing.T) {
	leakCheck(t)
	for _, locked := range []bool{false, true} {
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, newFakeClock(), nil)
		c.e.lockedReads = locked
		key := []byte("0123456789abcdef")
		// Values short enough to land in dst's spare room, where the key is.
		values := [][]byte{[]byte("v"), bytes.Repeat([]byte("V"), 40), bytes.Repeat([]byte("W"), 60)}
		require.NoError(t, c.Set(key, values[0]))
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // moves the entry about, so that lock-free attempts fail and retry
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				_ = c.Set(key, values[i%len(values)])
			}
		}()
		iters := 20000
		if testing.Short() {
			iters = 4000
		}
		for iter := range iters {
			buf := make([]byte, 128) // dst's length is set below; its capacity is 128
			var dst, k []byte
			switch iter % 4 {
			case 0: // key at the start of the spare room
				copy(buf[10:], key)
				dst, k = buf[:10], buf[10:10+len(key)]
			case 1: // key straddling dst's length
				copy(buf[56:], key)
				dst, k = buf[:60], buf[56:56+len(key)]
			case 2: // key right before the spare room: no overlap
				copy(buf[48:], key)
				dst, k = buf[:64], buf[48:64]
			case 3: // key at the very end of the spare room
				copy(buf[112:], key)
				dst, k = buf[:3], buf[112:128]
			}
			prefix := bytes.Clone(dst)
			got, ok := c.Get(dst, k)
			require.True(t, ok, "locked %v, case %d: the key is always there", locked, iter%4)
			require.True(t, bytes.HasPrefix(got, prefix), "locked %v, case %d: dst's bytes changed", locked, iter%4)
			v := got[len(prefix):]
			require.True(t, bytes.Equal(v, values[0]) || bytes.Equal(v, values[1]) || bytes.Equal(v, values[2]),
				"locked %v, case %d: %d bytes that are no value of the key", locked, iter%4, len(v))
		}
		stop.Store(true)
		wg.Wait()
	}
}

// Overwrites whose old and new entries have the same footprint but differ in what the header
// says: a TTL traded for 8 more value bytes and back, and a value crossing the 127/128 length
// prefix boundary. They go in place (no new bytes), and the entry then obeys its new header:
// no TTL means it never expires, whatever the segment's recorded earliest expiry says; a new
// TTL means it does. Would catch a header left half old, or the janitor trusting a stale
// earliest expiry to drop an entry that no longer expires.
func TestAdversarialSameFootprintOverwrites(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	k := []byte("k")
	require.Equal(t, entrySize(1, 8, true), entrySize(1, 16, false))
	require.Equal(t, entrySize(2, 127, false), entrySize(2, 128, false))

	require.NoError(t, c.SetWithTTL(k, []byte("8 bytes!"), time.Second))
	used := c.Stats().UsedBytes
	require.NoError(t, c.Set(k, []byte("sixteen bytes!!!")))
	require.Equal(t, used, c.Stats().UsedBytes, "same footprint: in place")
	left, ok := c.TTL(k)
	require.True(t, ok)
	require.Zero(t, left, "the TTL went with the old header")
	clock.advance(int64(time.Hour))
	c.janitorPass()
	got, ok := portedGet(c, "k")
	require.True(t, ok, "the janitor dropped an entry that no longer expires")
	require.Equal(t, "sixteen bytes!!!", got)

	require.NoError(t, c.SetWithTTL(k, []byte("8 again!"), time.Second))
	require.Equal(t, used, c.Stats().UsedBytes)
	left, _ = c.TTL(k)
	require.Equal(t, time.Second, left)
	clock.advance(int64(time.Second))
	_, ok = portedGet(c, "k")
	require.False(t, ok)
	c.janitorPass()
	require.Zero(t, c.Len())

	k2 := []byte("k2")
	require.NoError(t, c.Set(k2, bytes.Repeat([]byte{'a'}, 127)))
	used = c.Stats().UsedBytes
	require.NoError(t, c.Set(k2, bytes.Repeat([]byte{'b'}, 128)))
	require.Equal(t, used, c.Stats().UsedBytes)
	got, _ = portedGet(c, "k2")
	require.Equal(t, string(bytes.Repeat([]byte{'b'}, 128)), got)
	require.NoError(t, c.Set(k2, bytes.Repeat([]byte{'c'}, 127)))
	got, _ = portedGet(c, "k2")
	require.Equal(t, string(bytes.Repeat([]byte{'c'}, 127)), got)
	require.Equal(t, 2+127, c.Stats().LiveBytes)
	require.NoError(t, c.check())
}

// TTLs at the ends of the range: the largest Duration, 1 ns, and a clock near the end of its
// range, where expiries are capped. Time left is never negative, never 0 for an entry that
// expires, and an entry is gone exactly at its expiry. Would catch an overflow of now+ttl into
// the past (an entry that never reads back) or into 0 (an entry that never expires).
func TestAdversarialTTLExtremes(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, clock, nil)
	require.NoError(t, c.SetWithTTL([]byte("forever-ish"), []byte("v"), math.MaxInt64))
	left, ok := c.TTL([]byte("forever-ish"))
	require.True(t, ok)
	require.Equal(t, time.Duration(math.MaxInt64-clock.now()), left)
	require.NoError(t, c.SetWithTTL([]byte("blink"), []byte("v"), time.Nanosecond))
	left, ok = c.TTL([]byte("blink"))
	require.True(t, ok)
	require.Equal(t, time.Nanosecond, left)
	clock.advance(1)
	require.False(t, c.Has([]byte("blink")))

	clock.advance(int64(200 * 365 * 24 * time.Hour))
	require.True(t, c.Has([]byte("forever-ish")))

	clock.advance(math.MaxInt64 - 10 - clock.now()) // 10 ns before the end of the clock
	require.NoError(t, c.SetWithTTL([]byte("late"), []byte("v"), time.Hour))
	left, ok = c.TTL([]byte("late"))
	require.True(t, ok)
	require.Equal(t, 10*time.Nanosecond, left, "capped at the end of the clock's range")
	require.True(t, c.Has([]byte("forever-ish")))
	clock.advance(9)
	require.True(t, c.Has([]byte("late")))
	left, _ = c.TTL([]byte("late"))
	require.Equal(t, time.Nanosecond, left)
	clock.advance(1)
	require.False(t, c.Has([]byte("late")))
	require.False(t, c.Has([]byte("forever-ish")), "every expiry is capped at the same end")
	c.janitorPass()
	require.Zero(t, c.Len())
	require.NoError(t, c.check())
}

// Ten times as many goroutines as reader slots, reading keys a writer keeps replacing: values
// are whole, the lookups are counted exactly once each (Hits+Misses equals the Gets made, over
// both read paths), and no reader slot stays owned.
func TestAdversarialReaderSlotsExhausted(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, Shards: 2, JanitorInterval: -1}, nil, nil)
	readers := 10 * len(c.e.readers.slots)
	perReader := 60
	if testing.Short() {
		perReader = 20
	}
	var stop atomic.Bool
	var wg, writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		r := rand.New(rand.NewPCG(1, 1))
		for v := uint64(1); !stop.Load(); v++ {
			k := fmt.Appendf(nil, "k%d", r.IntN(32))
			if err := c.Set(k, portedStamp(k, v, 16+r.IntN(2000))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var bad atomic.Int64
	start := make(chan struct{})
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			buf := make([]byte, 0, 4096)
			for i := range perReader {
				k := fmt.Appendf(nil, "k%d", (g+i)%40) // k32..k39 never exist
				if v, ok := c.Get(buf[:0], k); ok {
					if _, err := portedStampOK(k, v); err != nil {
						bad.Add(1)
					}
				}
				c.Has(k)
			}
		}()
	}
	close(start)
	wg.Wait()
	stop.Store(true)
	writer.Wait()
	require.Zero(t, bad.Load())
	st := c.Stats()
	require.Equal(t, uint64(readers*perReader), st.Hits+st.Misses)
	require.GreaterOrEqual(t, st.Misses, uint64(readers*perReader/5), "k32..k39 are a fifth of the reads")
	advNoPinsOrSlots(t, c)
}

// An index that cannot grow: its directory is held to depth 1, so two pages of 448 slots at
// most, and every insert past that must evict from a full probe window. The newest value still
// wins, the books balance, the invariants hold.
func TestAdversarialIndexAtFullDepth(t *testing.T) {
	leakCheck(t)
	for _, maxDepth := range []uint32{0, 1} {
		clock := newFakeClock()
		c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
		c.e.shards[0].idx.maxDepth = maxDepth
		latest := map[string]uint64{}
		for i := range 3000 {
			k := fmt.Appendf(nil, "k%d", i%500)
			v := portedStamp(k, uint64(i), 16+i%50)
			if i%7 == 0 {
				require.NoError(t, c.SetWithTTL(k, v, time.Duration(1+i%3)))
			} else {
				require.NoError(t, c.Set(k, v))
			}
			latest[string(k)] = uint64(i)
			got, ok := c.Get(nil, k)
			require.True(t, ok, "right after its Set: %q", k)
			require.Equal(t, v, got)
			if i%5 == 0 {
				clock.advance(1)
			}
		}
		require.LessOrEqual(t, c.Len(), pageBuckets*bucketSlots<<maxDepth)
		require.Equal(t, uint32(1)<<maxDepth, c.e.shards[0].idx.hdr.pages)
		st := c.Stats()
		require.NotZero(t, st.Evictions+st.Expirations, "full windows made room")
		for k, ver := range latest {
			if got, ok := c.Get(nil, []byte(k)); ok {
				gotVer, err := portedStampOK([]byte(k), got)
				require.NoError(t, err)
				require.Equal(t, ver, gotVer, "an old value of %q", k)
			}
		}
		require.NoError(t, c.check())
	}
}

// Views held by other goroutines on all segments of a shard but one, across a storm of Resets
// and Sets of entries up to MaxEntrySize: a single free segment is enough, so no Set may fail
// with ErrBusy, and the held bytes never change. When the views end, every retired segment
// comes back. Would catch a pinned segment reused, a Reset that loses track of a retired
// segment, or ErrBusy while a segment is free.
func TestAdversarialResetStormWithPins(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, MaxEntrySize: 100 << 10, JanitorInterval: -1}, newFakeClock(), nil)
	s := &c.e.shards[0]
	big := s.segSize/2 + 1 // one per segment
	var keys [][]byte
	for i := 0; i == 0 || i < entrySegments(s)-1; i++ {
		k := fmt.Appendf(nil, "held %d", i)
		require.NoError(t, c.Set(k, valueFor(k, 0, big)))
		keys = append(keys, k)
	}
	// The pool's segments, but the one the index's pages are cut from: all but one pinned.
	require.Equal(t, 1, heldSegments(s))
	nsegs := entrySegments(s)
	require.GreaterOrEqual(t, nsegs, 4)
	require.Len(t, keys, nsegs-1)
	require.Equal(t, 1, freeSegments(s))
	end := holdViews(c, keys, func(k, v []byte) error {
		if !bytes.Equal(v, valueFor(k, 0, big)) {
			return fmt.Errorf("the bytes of %q changed while held", k)
		}
		return nil
	})
	r := rand.New(rand.NewPCG(5, 5))
	maxEntry := c.e.lay.maxEntry
	for i := range 400 {
		if i%25 == 0 {
			c.Reset()
			require.Equal(t, nsegs-1, s.q.Retired(), "iteration %d", i)
		}
		k := fmt.Appendf(nil, "storm %d", i)
		n := 1 + r.IntN(2000)
		if i%10 == 0 {
			n = maxEntry - len(k)
		}
		require.NoError(t, c.Set(k, valueFor(k, i, n)), "iteration %d: one free segment is room enough", i)
		got, ok := c.Get(nil, k)
		require.True(t, ok)
		require.Equal(t, valueFor(k, i, n), got)
	}
	require.Empty(t, end())
	require.Zero(t, s.q.Retired(), "the last view out frees each retired segment")
	advNoPinsOrSlots(t, c)
	require.NoError(t, c.check())
	require.NoError(t, checkPools(c))
	require.NoError(t, c.Set([]byte("room"), make([]byte, maxEntry-4)))
}

// Many goroutines using zero Caches and a nil *Cache at once (they share one closed engine):
// no panic, no data race, every call closed.
func TestAdversarialZeroCachesConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var zero Cache
			var nilCache *Cache
			c := &zero
			if g%2 == 1 {
				c = nilCache
			}
			for range 200 {
				if err := advClosedErr(c); err != nil {
					t.Error(err)
					return
				}
			}
			if c.Stats().Capacity != 0 {
				t.Error("a zero Cache has a capacity")
			}
		}()
	}
	wg.Wait()
}

// A flood of keys whose whole hashes are equal, among innocent keys, some of which share the
// flood's home bucket (same page and home, other fingerprints). The flood fills its probe
// window, splits its page while that moves innocents out of the window, and then evicts from
// its home bucket, entries not read since the clock passed first: so it takes only innocents
// of that one bucket (at most 7), and every other innocent stays, its lookups answered, with
// the books balanced. Would catch a flood that spills past its window or evicts elsewhere.
// (Equal-hash keys do displace unread neighbours in their home bucket, not only each other.)
func TestAdversarialCollisionFloodBounded(t *testing.T) {
	leakCheck(t)
	const flood = 0x13572468_00990000 // shard 0, fingerprint 0x13572468
	remapped := map[uint64]uint64{}
	var colliderKeys, homemates [][]byte
	for i := range 400 {
		k := fmt.Appendf(nil, "collider %d", i)
		remapped[hashKey(k, 0)] = flood
		colliderKeys = append(colliderKeys, k)
	}
	for i := range 4 {
		k := fmt.Appendf(nil, "homemate %d", i)
		remapped[hashKey(k, 0)] = flood ^ uint64(i+1)<<(32+6) // same top bits and home bucket, other fingerprints
		homemates = append(homemates, k)
	}
	remap := func(h uint64) uint64 {
		if r, ok := remapped[h]; ok {
			return r
		}
		return h
	}
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, newFakeClock(), remap)
	s := &c.e.shards[0]
	fp := fingerprint(flood)
	innocents := append([][]byte(nil), homemates...)
	for i := range 3000 {
		innocents = append(innocents, fmt.Appendf(nil, "innocent %d", i))
	}
	for _, k := range innocents {
		require.NoError(t, c.Set(k, valueFor(k, 0, 20)))
	}
	for _, k := range colliderKeys {
		require.NoError(t, c.Set(k, valueFor(k, 1, 20)))
		got, ok := c.Get(nil, k)
		require.True(t, ok, "a collider right after its Set")
		require.Equal(t, valueFor(k, 1, 20), got)
	}
	// Where the flood ended: its page and home bucket. Innocents lost can only have been there.
	pg, ok := s.idx.page(fp)
	require.True(t, ok)
	floodHome := home(pg, fp)
	window := pageProbe * bucketSlots
	lost := 0
	for _, k := range innocents {
		got, ok := c.Get(nil, k)
		if !ok {
			lost++
			continue
		}
		require.Equal(t, valueFor(k, 0, 20), got)
	}
	require.LessOrEqual(t, lost, bucketSlots, "only innocents of the flood's home bucket go")
	present := 0
	for _, k := range colliderKeys {
		if got, ok := c.Get(nil, k); ok {
			present++
			require.Equal(t, valueFor(k, 1, 20), got)
		}
	}
	require.Less(t, present, window, "the flood stays within one window")
	require.Greater(t, present, window-2*bucketSlots, "the splits moved the innocents out of the flood's window")
	inHome := 0
	for i := range bucketSlots {
		if sl := (slot{floodHome, i}); s.idx.off(sl) != 0 && s.idx.fp(sl) == fp {
			inHome++
		}
	}
	require.Equal(t, uint32(present-inHome), s.idx.overflow(floodHome), "every collider past the home bucket counts")
	st := c.Stats()
	require.Equal(t, uint64(lost+len(colliderKeys)-present), st.Evictions)
	require.Equal(t, len(innocents)-lost+present, st.Entries)
	require.NoError(t, c.check())
}

// Values of 1.06 MiB, large enough that memmove may use non-temporal stores, overwritten in
// place (same footprint) while lock-free readers copy them: every copy a reader accepts is
// one whole version. Would catch a torn large copy validated by an unchanged sequence.
func TestAdversarialLargeInPlaceOverwritesUnderReaders(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 32 << 20, Shards: 1, MaxEntrySize: 2 << 20, JanitorInterval: -1}, nil, nil)
	key := []byte("big")
	const n = 1<<20 + 64<<10
	versions := 60
	if testing.Short() {
		versions = 20
	}
	vals := [2][]byte{portedStamp(key, 0, n), portedStamp(key, 1, n)}
	require.NoError(t, c.Set(key, vals[0]))
	used := c.Stats().UsedBytes
	var stop atomic.Bool
	var wg, started sync.WaitGroup
	var bad, hits atomic.Int64
	for range 2 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			for !stop.Load() {
				// A fresh buffer each time: its page faults slow the reader's copy down, so
				// that the writer's copy can overtake it.
				v, ok := c.Get(nil, key)
				if !ok {
					bad.Add(1)
					continue
				}
				hits.Add(1)
				if _, err := portedStampOK(key, v); err != nil {
					bad.Add(1)
				}
			}
		}()
	}
	started.Wait()
	// Write until the readers have read while the writes went on, within a bound.
	for i := 0; i < versions || hits.Load() < int64(versions) && i < 100*versions; i++ {
		require.NoError(t, c.Set(key, vals[i%2]))
		if i%8 == 0 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	require.Zero(t, bad.Load())
	require.Positive(t, hits.Load())
	require.Equal(t, used, c.Stats().UsedBytes, "every overwrite went in place")
}

// A janitor ticking every 20 µs against writers with TTLs and deletes, then Close while they
// run: no deadlock, no broken invariant, and the janitor is stopped when Close returns.
func TestAdversarialFastJanitorAndClose(t *testing.T) {
	leakCheck(t)
	c, err := New(Config{Capacity: 4 << 20, Shards: 2, JanitorInterval: 20 * time.Microsecond})
	require.NoError(t, err)
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := 0; ; i++ {
				k := fmt.Appendf(nil, "k%d", r.IntN(3000))
				var err error
				switch r.IntN(4) {
				case 0:
					c.Delete(k)
				case 1:
					err = c.Set(k, make([]byte, r.IntN(500)))
				default:
					err = c.SetWithTTL(k, make([]byte, r.IntN(500)), time.Duration(r.IntN(200))*time.Microsecond)
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if i == 3000 {
					done.Add(1)
				}
			}
		}()
	}
	for done.Load() < 3 {
		runtime.Gosched()
	}
	require.NoError(t, c.check())
	e := c.e
	require.NoError(t, c.Close())
	select {
	case <-e.janitorDone:
	default:
		t.Fatal("Close returned with the janitor running")
	}
	wg.Wait()
	advRequireClosed(t, c)
}

// Close through a copy of the Cache while a View through the original runs, with garbage
// collections in between: the viewed bytes stay mapped and intact until the callback returns,
// and the copy and the original are closed alike.
func TestAdversarialCloseViaCopyDuringView(t *testing.T) {
	leakCheck(t)
	c, err := New(Config{Capacity: 4 << 20})
	require.NoError(t, err)
	cp := *c
	key := []byte("k")
	want := valueFor(key, 9, 10000)
	require.NoError(t, c.Set(key, want))
	e := c.e
	require.True(t, c.View(key, func(v []byte) {
		require.NoError(t, cp.Close())
		for range 3 {
			runtime.GC()
		}
		require.False(t, e.released.Load())
		require.Equal(t, want, v)
		advRequireClosed(t, c)
	}))
	require.True(t, e.released.Load())
	advRequireClosed(t, &cp)
	advNoPinsOrSlots(t, c)
}

// While a View holds its segment: the key deleted, its neighbours expired, the janitor run and
// a flood written. The viewed bytes stay; afterwards the janitor reclaims the segment like any
// other.
func TestAdversarialJanitorAroundAPinnedSegment(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, nil)
	key := []byte("pinned")
	want := valueFor(key, 0, 1000)
	require.NoError(t, c.Set(key, want))
	for i := range 200 {
		require.NoError(t, c.SetWithTTL(fmt.Appendf(nil, "neighbour %d", i), valueFor(nil, i, 100), time.Second))
	}
	require.True(t, c.View(key, func(v []byte) {
		require.True(t, c.Delete(key))
		clock.advance(int64(time.Second))
		c.janitorPass()
		require.Equal(t, uint64(200), c.Stats().Expirations, "expiry runs on a pinned segment")
		for i := range 20000 {
			require.NoError(t, c.Set(fmt.Appendf(nil, "flood %d", i), valueFor(nil, i, 100)))
		}
		c.janitorPass()
		require.Equal(t, want, v)
	}))
	for i := range 20000 {
		require.NoError(t, c.Set(fmt.Appendf(nil, "flood2 %d", i), valueFor(nil, i, 100)))
	}
	_, ok := c.Get(nil, key)
	require.False(t, ok)
	advNoPinsOrSlots(t, c)
	require.NoError(t, c.check())
}

// With Shards left to the default, the default MaxEntrySize never exceeds DefaultMaxEntrySize
// and every Capacity from the minimum up is accepted, with the documented shard count and
// entry size. (The power of two up to Capacity/(32 × shards) must not become the larger of the
// two where Capacity is large: DefaultMaxEntrySize is not a power of two.)
func TestAdversarialDefaultMaxEntrySizeBounded(t *testing.T) {
	check := func(cp int) layout {
		l, err := Config{Capacity: cp}.layout()
		require.NoError(t, err, "Capacity %d", cp)
		shards := wantDefaultShards(cp)
		require.Equal(t, shards, l.shards, "Capacity %d", cp)
		require.Equal(t, wantDefaultMaxEntry(cp, shards), l.maxEntry, "Capacity %d", cp)
		require.LessOrEqual(t, l.maxEntry, DefaultMaxEntrySize, "Capacity %d", cp)
		return l
	}
	for cp := MinCapacity; cp <= 96<<20; cp += 256 << 10 {
		check(cp)
	}
	// Up to 16 GiB (one group): from 64 MiB a shard, 256 shards at most, every GOMAXPROCS
	// gets the 1 MiB default.
	for c := uint64(128 << 20); c <= 16<<30 && c <= math.MaxInt; c *= 2 {
		l := check(int(c))
		if c >= 64<<20*256 {
			require.Equal(t, DefaultMaxEntrySize, l.maxEntry, "Capacity %d", c)
		}
	}
}

// TestAdversarialSetOverExpiredCountsExpiration: a Set that replaces an expired entry counts it
// as an expiration, in place and appended, as Delete, the janitor and a full bucket do.
func TestAdversarialSetOverExpiredCountsExpiration(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 1, JanitorInterval: -1}, clock, nil)
	for _, sameFootprint := range []bool{true, false} {
		k := []byte("k")
		require.NoError(t, c.SetWithTTL(k, []byte("12345678"), time.Second))
		clock.advance(int64(time.Second))
		before := c.Stats().Expirations
		v := []byte("abcdefgh") // same footprint: in place
		if !sameFootprint {
			v = []byte("a longer value, elsewhere")
		}
		require.NoError(t, c.Set(k, v))
		require.Equal(t, before+1, c.Stats().Expirations, "in place %v", sameFootprint)
		require.True(t, c.Delete(k))
	}
}

// TestAdversarialDefaultMaxEntrySizeWithShards: with Shards set and MaxEntrySize left at 0,
// New picks an entry size that fits the shards, instead of refusing a config that works with
// an explicit MaxEntrySize (as bigcache users set 1024 shards): the largest power of two up to
// Capacity/(32 × shards), or DefaultMaxEntrySize where that is smaller.
func TestAdversarialDefaultMaxEntrySizeWithShards(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		cfg  Config
		want int
	}{
		{Config{Capacity: 256 << 20, Shards: 256}, 16 << 10}, // 256 MiB/(64 × 256) = 16 KiB
		{Config{Capacity: 1 << 30, Shards: 1024}, 16 << 10},
		{Config{Capacity: 32 << 20, Shards: 16}, 32 << 10},
		{Config{Capacity: 64 << 20, Shards: 64}, 16 << 10},
		{Config{Capacity: 512 << 20, Shards: 8}, 1 << 20},           // 1 MiB: two defaults do not fit a 2 MiB segment
		{Config{Capacity: 1 << 30, Shards: 8}, DefaultMaxEntrySize}, // 2 MiB, capped
	} {
		cfg := tc.cfg
		explicit := cfg
		explicit.MaxEntrySize = 64 << 10
		c, err := New(explicit)
		require.NoError(t, err, "%+v", explicit)
		require.NoError(t, c.Close())
		c, err = New(cfg) // MaxEntrySize 0: "picks a default"
		require.NoError(t, err, "%+v", cfg)
		require.Equal(t, cfg.Shards, c.e.lay.shards, "%+v", cfg)
		require.Equal(t, tc.want, c.e.lay.maxEntry, "%+v", cfg)
		require.NoError(t, c.Set([]byte("k"), make([]byte, c.e.lay.maxEntry-1)))
		require.ErrorIs(t, c.Set([]byte("k"), make([]byte, c.e.lay.maxEntry)), ErrEntryTooLarge)
		require.NoError(t, c.Close())
	}
}
