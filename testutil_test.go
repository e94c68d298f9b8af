package mmcache

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain runs the tests, then checks that they left no cache behind: no mapping alive and
// no janitor goroutine running. A cache dropped without Close is released by its cleanup after
// a garbage collection, so the check collects until the counts settle, within a deadline.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !lockLeftHeld.Load() {
		if err := settle(0, 0, 30*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "leak check after all tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// janitorGoroutines counts the goroutines running a cache's janitor, from a dump of all stacks.
func janitorGoroutines() int {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return bytes.Count(buf[:n], []byte("mmcache.(*engine).runJanitor("))
		}
		buf = make([]byte, 2*len(buf))
	}
}

// settle waits until liveMappings and the janitor goroutines are down to at most the given counts,
// collecting garbage so that the cleanups of dropped caches run. It polls; it never sleeps.
func settle(mappings int64, janitors int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		m, j := liveMappings.Load(), janitorGoroutines()
		if m <= mappings && j <= janitors {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d mappings alive (want %d), %d janitor goroutines (want %d)", within, m, mappings, j, janitors)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

// leakCheck records the live mappings and janitor goroutines now, and at the end of the test
// (after the caches it registered are closed) checks that they are back where they were. Tests
// that start caches call it first.
func leakCheck(t testing.TB) {
	t.Helper()
	mappings, janitors := liveMappings.Load(), janitorGoroutines()
	goroutines := runtime.NumGoroutine()
	t.Cleanup(func() {
		if t.Failed() || lockLeftHeld.Load() {
			// A failed test may have left a cache open; a panicking one must get to report its
			// panic, which a FailNow here would swallow.
			return
		}
		if err := settle(mappings, janitors, 30*time.Second); err != nil {
			t.Errorf("caches left behind: %v", err)
			return
		}
		// Other goroutines the test started must be gone too.
		deadline := time.Now().Add(30 * time.Second)
		for runtime.NumGoroutine() > goroutines {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
				return
			}
			runtime.Gosched()
		}
	})
}

// lockLeftHeld records that a test ended with a shard lock held, after a panic: the caches of
// the run can no longer be closed, so the leak checks stand down.
var lockLeftHeld atomic.Bool

// newCacheT makes a cache for a test with an optional fake clock and hash remap (see
// newTestCache), checks its invariants at the end of the test and closes it.
func newCacheT(t testing.TB, cfg Config, clock *fakeClock, hash func(uint64) uint64) *Cache {
	t.Helper()
	var now func() int64
	if clock != nil {
		now = clock.now
	}
	c, err := newTestCache(cfg, now, hash)
	require.NoError(t, err)
	t.Cleanup(func() {
		// At the end of a test only the janitor may hold a shard lock, briefly; a panic under a
		// lock (cleanups run before the panic is reported) leaves it held for good.
		if !shardsUnlocked(c, 2*time.Second) {
			// A panic under a shard lock leaves it held: checking or closing would hang.
			lockLeftHeld.Store(true)
			t.Errorf("a shard lock is still held at the end of the test; the cache is left open")
			return
		}
		// No FailNow in a cleanup: it would swallow a panic of the test.
		assert.NoError(t, c.check(), "invariants at the end of the test")
		assert.NoError(t, c.Close())
	})
	return c
}

// shardsUnlocked reports whether every shard lock of c can be taken within the given time.
func shardsUnlocked(c *Cache, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for i := range c.e.shards {
		s := &c.e.shards[i]
		for !s.mu.TryLock() {
			if time.Now().After(deadline) {
				return false
			}
			runtime.Gosched()
		}
		s.mu.Unlock()
	}
	return true
}

// mustCheck fails the test if an invariant of c is broken.
func mustCheck(t testing.TB, c *Cache, format string, args ...any) {
	t.Helper()
	if err := c.check(); err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// valueFor is a value that names its key and version, so a value returned under the wrong key
// or an old version is recognised; n sets its length (padded or cut).
func valueFor(key []byte, version, n int) []byte {
	v := make([]byte, n)
	fillValue(v, key, version)
	return v
}

func fillValue(v, key []byte, version int) {
	h := uint32(version)*2654435761 + 1
	for _, b := range key {
		h = h*16777619 ^ uint32(b)
	}
	for i := range v {
		h ^= h << 13
		h ^= h >> 17
		h ^= h << 5
		v[i] = byte(h)
	}
}

// procRSS returns the resident set size of the process in bytes, from /proc/self/status
// (Linux only).
func procRSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS line in /proc/self/status")
	return 0
}

// entryBytes is the part of UsedBytes in the segments of entries: UsedBytes less the pages of
// the shards' indexes.
func entryBytes(c *Cache) int {
	n := 0
	for i := range c.e.shards {
		s := &c.e.shards[i]
		s.mu.RLock()
		if !s.closed {
			n += s.usedBytes() - int(s.idx.hdr.pages)*indexPageSize
		}
		s.mu.RUnlock()
	}
	return n
}

// heldSegments is the number of segments of s's group held for index pages (arena.Take): the
// shards' indexes share the pool with their entries.
func heldSegments(s *shard) int {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	return s.g.ar.Held()
}

// entrySegments is the number of segments of s's group that are not held for index pages: all
// the shards of the group can queue for their entries. A shard's s.ar.Len() is the group's.
func entrySegments(s *shard) int { return s.ar.Len() - heldSegments(s) }

// freeSegments is the number of segments of s's group in its pool, free or fresh.
func freeSegments(s *shard) int {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	return s.g.ar.Free()
}

// queuedSegments is the number of segments queued by all the shards of s's group.
func queuedSegments(s *shard) int {
	n := 0
	for i := range s.g.shards {
		o := &s.g.shards[i]
		o.mu.RLock()
		n += o.queued()
		o.mu.RUnlock()
	}
	return n
}

// holdViews starts one goroutine per key, each holding a View of its key until end is called.
// It returns once every View is running. end lets them return, waits for them, and returns
// what went wrong: a View that missed, or the error check gave for the bytes it held (check
// runs on them after the release, before the View ends; nil checks nothing).
func holdViews(c *Cache, keys [][]byte, check func(key, value []byte) error) (end func() []error) {
	release := make(chan struct{})
	errs := make(chan error, len(keys))
	var started, ended sync.WaitGroup
	for _, k := range keys {
		started.Add(1)
		ended.Add(1)
		go func() {
			defer ended.Done()
			ok := c.View(k, func(v []byte) {
				started.Done()
				<-release
				if check != nil {
					if err := check(k, v); err != nil {
						errs <- err
					}
				}
			})
			if !ok {
				started.Done()
				errs <- fmt.Errorf("View of %q missed", k)
			}
		}()
	}
	started.Wait()
	return func() []error {
		close(release)
		ended.Wait()
		close(errs)
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		return all
	}
}

// checkPools verifies every group's pool as a whole (group.checkPool): each segment queued by
// one shard, free, held for pages or retired, and the index pages accounted for. It takes
// every shard's write lock in turn, so it must not run under one.
func checkPools(c *Cache) error {
	e := c.engine()
	for gi := range e.groups {
		g := &e.groups[gi]
		for i := range g.shards {
			g.shards[i].lock()
		}
		var err error
		if !g.shards[0].closed {
			err = g.checkPool()
		}
		for i := range g.shards {
			g.shards[i].unlock()
		}
		if err != nil {
			return fmt.Errorf("group %d: %w", gi, err)
		}
	}
	return nil
}
