package mmcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor polls cond, yielding the processor, until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestViewEndsAcrossTwoResets: a View callback ends (its Unpin reports the last reader of a
// segment that a Reset retired) while another Reset runs before the View can take the shard
// lock to free the segment. The segment must not be freed twice.
func TestViewEndsAcrossTwoResets(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, nil, nil)
	s := &c.e.shards[0]
	require.NoError(t, c.Set([]byte("k"), []byte("viewed")))
	_, pos, _, ok := s.lookup(c.e.hash([]byte("k")), []byte("k"))
	require.True(t, ok)
	seg := s.segOf(pos)

	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan bool)
	go func() {
		done <- c.View([]byte("k"), func(v []byte) {
			close(inside)
			<-release
		})
	}()
	<-inside
	c.Reset() // the viewed segment is retired
	require.True(t, s.ar.IsRetired(seg))
	require.Equal(t, 1, s.q.Retired())

	// Hold the shard lock while the callback returns: the View unpins, then waits for the lock.
	s.lock()
	close(release)
	for s.ar.Pins(seg) != 0 {
		runtime.Gosched()
	}
	s.resetLocked() // a second Reset, with no pins left
	s.unlock()
	require.True(t, <-done)

	mustCheck(t, c, "after the view ended")
	assert.Equal(t, 0, s.q.Retired())
	st := c.Stats()
	assert.LessOrEqual(t, st.UsedBytes, st.Capacity)
	// Every segment is handed out once: fill the shard several times over.
	for i := range 20000 {
		k := binary.AppendUvarint(nil, uint64(i))
		require.NoError(t, c.Set(k, valueFor(k, 0, 200)))
	}
	mustCheck(t, c, "after refilling")
}

// TestViewBytesStable: whatever happens to the cache while a View callback runs, the bytes it
// was given do not change.
func TestViewBytesStable(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 1, JanitorInterval: -1}, clock, nil)
	key := []byte("pinned")
	want := valueFor(key, 7, 3000)
	require.NoError(t, c.SetWithTTL(key, want, time.Second))
	for round := range 3 {
		ok := c.View(key, func(v []byte) {
			require.Equal(t, want, v)
			// Same-size overwrite, other-size overwrite, delete, expiry, janitor, Reset, and
			// a stream of writes many times the capacity.
			require.NoError(t, c.Set(key, valueFor(key, 8, 3000)))
			require.Equal(t, want, v)
			require.NoError(t, c.Set(key, valueFor(key, 9, 10)))
			c.Delete(key)
			clock.advance(int64(2 * time.Second))
			c.janitorPass()
			for i := range 5000 {
				k := binary.AppendUvarint([]byte("fill"), uint64(i))
				require.NoError(t, c.Set(k, valueFor(k, round, 100+i%900)))
				if i%500 == 0 {
					c.janitorPass()
				}
			}
			require.Equal(t, want, v, "round %d: viewed bytes changed during writes", round)
			c.Reset()
			for i := range 3000 {
				k := binary.AppendUvarint([]byte("after"), uint64(i))
				require.NoError(t, c.Set(k, valueFor(k, round, 300)))
			}
			require.Equal(t, want, v, "round %d: viewed bytes changed after Reset", round)
			require.NoError(t, c.check())
		})
		require.True(t, ok)
		mustCheck(t, c, "round %d", round)
		require.Equal(t, 0, c.e.shards[0].q.Retired())
		require.NoError(t, c.SetWithTTL(key, want, time.Second))
	}
}

// TestCloseInsideView closes the cache from inside a View callback: Close returns, the
// callback's bytes stay readable until it returns, and then the mapping is released.
func TestCloseInsideView(t *testing.T) {
	leakCheck(t)
	before := liveMappings.Load()
	c, err := New(Config{Capacity: 4 << 20})
	require.NoError(t, err)
	key := []byte("k")
	want := valueFor(key, 1, 5000)
	require.NoError(t, c.Set(key, want))
	ok := c.View(key, func(v []byte) {
		require.NoError(t, c.Close())
		require.NoError(t, c.Close())
		assert.Equal(t, before+1, liveMappings.Load(), "the mapping stays while the callback runs")
		assert.Equal(t, want, v, "the callback's bytes are intact after Close")
		// Calls from inside the callback see a closed cache, and do not deadlock.
		assert.ErrorIs(t, c.Set(key, []byte("x")), ErrClosed)
		_, hit := c.Get(nil, key)
		assert.False(t, hit)
		assert.False(t, c.View(key, func([]byte) { t.Error("nested View on a closed cache") }))
		assert.Equal(t, want, v)
	})
	require.True(t, ok)
	assert.Equal(t, before, liveMappings.Load(), "released when the callback returns")
	assert.True(t, c.e.released.Load())
	assertClosed(t, c)
}

// TestCloseInsideNestedViews: two callbacks on different shards, the inner one closes; the
// mapping goes when the outer one returns.
func TestCloseInsideNestedViews(t *testing.T) {
	leakCheck(t)
	before := liveMappings.Load()
	c, err := New(Config{Capacity: 4 << 20, Shards: 4})
	require.NoError(t, err)
	keys := [][]byte{}
	for i := 0; len(keys) < 2; i++ {
		k := []byte{byte(i)}
		if len(keys) == 0 || c.e.hash(k)&c.e.mask != c.e.hash(keys[0])&c.e.mask {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		require.NoError(t, c.Set(k, valueFor(k, 0, 100)))
	}
	require.True(t, c.View(keys[0], func(outer []byte) {
		require.True(t, c.View(keys[1], func(inner []byte) {
			require.NoError(t, c.Close())
			assert.Equal(t, valueFor(keys[1], 0, 100), inner)
		}))
		assert.Equal(t, before+1, liveMappings.Load())
		assert.Equal(t, valueFor(keys[0], 0, 100), outer)
	}))
	assert.Equal(t, before, liveMappings.Load())
	assertClosed(t, c)
}

// TestViewPanics: a callback that panics still ends its view, so Close releases the mapping.
func TestViewPanics(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	assert.PanicsWithValue(t, "boom", func() {
		c.View([]byte("k"), func([]byte) { panic("boom") })
	})
	assert.Equal(t, int64(0), c.e.views.Load())
	for i := range c.e.shards {
		for id := range c.e.shards[i].ar.Len() {
			require.Zero(t, c.e.shards[i].ar.Pins(arena.ID(id)))
		}
	}
	require.NoError(t, c.Set([]byte("k"), []byte("w")), "the shard is not left locked")
}

// TestCloseRace closes a cache while 8 goroutines use it with every method, 50 rounds. Values
// name their keys, so a read of freed or reused memory shows. After Close every call returns
// ErrClosed, false or a miss, and the mapping is released once the last View returns.
func TestCloseRace(t *testing.T) {
	leakCheck(t)
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	base := liveMappings.Load()
	for round := range rounds {
		c, err := New(Config{Capacity: MinCapacity, JanitorInterval: time.Millisecond})
		require.NoError(t, err)
		var (
			wg, started sync.WaitGroup
			bad         atomic.Value
		)
		started.Add(8)
		report := func(format string, err error) {
			bad.CompareAndSwap(nil, errors.Join(errors.New(format), err))
		}
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := []byte{byte(g), 0, 0}
				buf := make([]byte, 0, 2048)
				for i := 0; ; i++ {
					binary.LittleEndian.PutUint16(k[1:], uint16(i%1000))
					if i == 50 {
						started.Done()
					}
					var err error
					switch i % 8 {
					case 0, 1:
						err = c.Set(k, valueFor(k, 0, (i*37)%1500))
					case 2:
						err = c.SetWithTTL(k, valueFor(k, 0, 300), time.Duration(i%3)*time.Millisecond)
					case 3:
						if v, ok := c.Get(buf[:0], k); ok && !bytes.Equal(v, valueFor(k, 0, len(v))) {
							report("Get returned a value that is not its key's", nil)
						}
					case 4:
						c.View(k, func(v []byte) {
							want := valueFor(k, 0, len(v))
							runtime.Gosched() // let Close run while the view is open
							if !bytes.Equal(v, want) {
								report("View's bytes changed or belong to another key", nil)
							}
						})
					case 5:
						c.Delete(k)
						c.Has(k)
						c.TTL(k)
					case 6:
						c.Len()
						c.Stats()
						if g == 0 && i%400 == 6 {
							c.Reset()
						}
					case 7:
						err = c.Set(k, valueFor(k, 0, 40))
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						report("Set failed", err)
						return
					}
				}
			}()
		}
		started.Wait() // every worker is busy

		if round%5 == 0 {
			// Two Closes at once: both return nil, the mapping is freed once.
			var cw sync.WaitGroup
			for range 2 {
				cw.Add(1)
				go func() { defer cw.Done(); assert.NoError(t, c.Close()) }()
			}
			cw.Wait()
		} else {
			require.NoError(t, c.Close())
		}
		wg.Wait()
		if err := bad.Load(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		require.Equal(t, base, liveMappings.Load(), "round %d: released after the last view", round)
		require.True(t, c.e.released.Load())
		select {
		case <-c.e.janitorDone:
		default:
			t.Fatalf("round %d: the janitor still runs after Close", round)
		}
		assertClosed(t, c)
	}
}

// dropCache makes a cache with a background janitor, uses it, and drops it without Close. It
// returns the engine, which the cleanup holds anyway, to watch it from outside.
//
//go:noinline
func dropCache(t *testing.T, cfg Config) *engine {
	c, err := New(cfg)
	require.NoError(t, err)
	for i := range 1000 {
		k := binary.AppendUvarint(nil, uint64(i))
		require.NoError(t, c.Set(k, valueFor(k, 0, 100)))
	}
	require.True(t, c.View([]byte{1}, func([]byte) {}))
	return c.e
}

// TestDroppedCacheIsReleased: a Cache dropped without Close has its janitor stopped and its
// mapping released by the cleanup on the handle. The janitor must not keep the handle alive.
func TestDroppedCacheIsReleased(t *testing.T) {
	leakCheck(t)
	for _, cfg := range []Config{
		{Capacity: 4 << 20, JanitorInterval: time.Millisecond}, // with a janitor goroutine
		{Capacity: 4 << 20, JanitorInterval: -1},               // without
		{Capacity: 4 << 20},                                    // the default janitor
	} {
		before, janitors := liveMappings.Load(), janitorGoroutines()
		e := dropCache(t, cfg)
		require.Equal(t, before+1, liveMappings.Load())
		if cfg.JanitorInterval >= 0 {
			waitFor(t, "the janitor to start", func() bool { return janitorGoroutines() == janitors+1 })
		}
		deadline := time.Now().Add(30 * time.Second)
		for liveMappings.Load() != before {
			require.True(t, time.Now().Before(deadline), "the dropped cache was not released: %+v", cfg)
			runtime.GC()
			runtime.Gosched()
		}
		assert.True(t, e.released.Load())
		assert.True(t, e.closed.Load())
		if e.janitorDone != nil {
			select {
			case <-e.janitorDone:
			default:
				t.Fatal("the mapping was released while the janitor runs")
			}
		}
		// The goroutine itself exits right after it signals.
		waitFor(t, "the janitor goroutine to exit", func() bool { return janitorGoroutines() == janitors })
	}
}

// TestBackgroundJanitor: with a janitor goroutine, expired entries go without any call to the
// cache.
func TestBackgroundJanitor(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: time.Millisecond}, clock, nil)
	for i := range 1000 {
		k := binary.AppendUvarint(nil, uint64(i))
		require.NoError(t, c.SetWithTTL(k, []byte("v"), time.Duration(1+i%2)*time.Second))
	}
	require.NoError(t, c.Set([]byte("stays"), []byte("v")))
	require.Equal(t, 1001, c.Len())
	clock.advance(int64(time.Second))
	waitFor(t, "the janitor to drop the first half", func() bool { return c.Len() == 501 })
	clock.advance(int64(time.Second))
	waitFor(t, "the janitor to drop the rest", func() bool { return c.Len() == 1 })
	assert.True(t, c.Has([]byte("stays")))
	assert.Equal(t, uint64(1000), c.Stats().Expirations)
}

// stressValue is a value whose every byte derives from its key and version, with the version
// in front, so a reader can check a value it finds without knowing which version to expect.
func stressValue(buf, key []byte, version uint32, n int) []byte {
	n = max(n, 4)
	buf = binary.LittleEndian.AppendUint32(buf[:0], version)
	v := buf[:n]
	fillValue(v[4:], key, int(version))
	return v
}

func stressValueOK(key, v []byte) bool {
	if len(v) < 4 {
		return false
	}
	want := make([]byte, len(v))
	copy(want, v[:4])
	fillValue(want[4:], key, int(binary.LittleEndian.Uint32(v)))
	return bytes.Equal(v, want)
}

// TestConcurrentStress runs every operation from 8 goroutines on a small cache that evicts all
// the time, with View callbacks that hold their segments across other goroutines' writes,
// Resets and a busy janitor. Every value read must be whole and its own key's; each goroutine's
// own keys must never show a version older than one it saw before, or one it deleted.
func TestConcurrentStress(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: MinCapacity, Shards: 2, MaxEntrySize: 16 << 10, JanitorInterval: time.Millisecond, DefaultTTL: time.Second}, nil, nil)
	ops := 20000
	if testing.Short() {
		ops = 4000
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			const keys = 300
			version := make([]uint32, keys) // the last version written or deleted: nothing older may appear
			key := make([]byte, 6)
			shared := []byte("shared")
			buf := make([]byte, 0, 16000)
			fail := func(format string, args ...any) {
				errs <- fmt.Errorf("goroutine %d: "+format, append([]any{g}, args...)...)
			}
			for i := range ops {
				k := rng.IntN(keys)
				binary.LittleEndian.PutUint16(key, uint16(g))
				binary.LittleEndian.PutUint32(key[2:], uint32(k))
				check := func(v []byte) bool {
					if !stressValueOK(key, v) {
						fail("key %d: a value that is not whole or not its own", k)
						return false
					}
					if got := binary.LittleEndian.Uint32(v); got < version[k] {
						fail("key %d: version %d after %d", k, got, version[k])
						return false
					}
					return true
				}
				switch op := rng.IntN(100); {
				case op < 35:
					version[k]++
					n := 4 + rng.IntN(600)
					if rng.IntN(40) == 0 {
						n = 4 + rng.IntN(12000)
					}
					if err := c.Set(key, stressValue(buf, key, version[k], n)); errors.Is(err, ErrBusy) {
						version[k]-- // every segment was held by Views: nothing stored
					} else if err != nil {
						fail("Set: %v", err)
						return
					}
				case op < 60:
					if v, ok := c.Get(buf[:0], key); ok && !check(v) {
						return
					}
				case op < 75:
					bad := false
					c.View(key, func(v []byte) {
						before := bytes.Clone(v)
						runtime.Gosched() // others write, evict and compact meanwhile
						if !bytes.Equal(before, v) {
							fail("key %d: viewed bytes changed", k)
							bad = true
							return
						}
						bad = !check(v)
					})
					if bad {
						return
					}
				case op < 85:
					version[k]++ // whatever comes back after the Delete must be newer
					c.Delete(key)
					if v, ok := c.Get(buf[:0], key); ok {
						fail("key %d: %d bytes back right after Delete", k, len(v))
						return
					}
				case op < 95:
					// A key all goroutines write: its values must be whole.
					if rng.IntN(2) == 0 {
						_ = c.Set(shared, stressValue(buf, shared, uint32(g), 100+g))
					} else if v, ok := c.Get(buf[:0], shared); ok && !stressValueOK(shared, v) {
						fail("shared key: a value that is not whole")
						return
					}
				case op < 99:
					c.Has(key)
					c.TTL(key)
					c.Len()
					if st := c.Stats(); st.UsedBytes > st.Capacity {
						fail("UsedBytes %d over Capacity %d", st.UsedBytes, st.Capacity)
						return
					}
				default:
					if i%50 == 0 {
						c.Reset()
						// Every key may be gone now; none may come back older.
					}
				}
			}
			errs <- nil
		}()
	}
	wg.Wait()
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mustCheck(t, c, "after the stress")
	for i := range c.e.shards {
		require.Zero(t, c.e.shards[i].q.Retired(), "shard %d: a retired segment outlived its views", i)
	}
	require.Zero(t, c.e.views.Load())
}

// cacheHolder keeps a Cache by value, as a user's struct might.
type cacheHolder struct{ cache Cache }

// copyCache makes a cache, stores one entry, and returns a copy of the Cache struct; the
// original *Cache is unreachable once it returns.
//
//go:noinline
func copyCache(t *testing.T) (*cacheHolder, *engine) {
	c, err := New(Config{Capacity: 4 << 20})
	require.NoError(t, err)
	require.NoError(t, c.Set([]byte("k"), []byte("v")))
	return &cacheHolder{cache: *c}, c.e
}

// gcCycles runs n garbage collections and waits, each time, until the cleanups queued by that
// collection had their turn: a sentinel object dropped before it gets a cleanup of its own,
// which signals a channel.
func gcCycles(n int) {
	for range n {
		done := make(chan struct{})
		sentinel := new([16]byte)
		runtime.AddCleanup(sentinel, func(ch chan struct{}) { close(ch) }, done)
		sentinel = nil
		runtime.GC()
		<-done
	}
}

// TestCopiedCache: a copy of the Cache struct is the same cache, kept alive by any copy; the
// cleanup runs only once the last copy is unreachable. Before, the cleanup sat on the struct
// that New returned, and closed the cache under a copy still in use.
func TestCopiedCache(t *testing.T) {
	leakCheck(t)
	before := liveMappings.Load()
	h, e := copyCache(t)
	gcCycles(3)
	require.False(t, e.closed.Load(), "the original's cleanup closed the cache under its copy")
	v, ok := h.cache.Get(nil, []byte("k"))
	require.True(t, ok)
	require.Equal(t, "v", string(v))
	require.NoError(t, h.cache.Set([]byte("k2"), []byte("v2")))
	runtime.KeepAlive(h)
	// Now the last copy goes: the cleanup unmaps.
	h = nil
	require.NoError(t, settle(before, janitorGoroutines(), 30*time.Second))
	require.True(t, e.released.Load())
}

// TestZeroCache: a zero Cache, and a nil *Cache, behave as closed caches: no panic.
func TestZeroCache(t *testing.T) {
	var zero Cache
	var nilCache *Cache
	for _, c := range []*Cache{&zero, nilCache} {
		assertClosed(t, c)
		require.ErrorIs(t, c.Set(nil, nil), ErrClosed)
		st := c.Stats()
		require.Zero(t, st.Capacity)
		require.Zero(t, st.Entries)
		c.Reset()
		require.NoError(t, c.Close())
		require.NoError(t, c.Close())
	}
}
