package mmcache

import "sync/atomic"

// Test hooks: internals exposed to the package's tests without widening the API.

// newTestCache is New with a fake clock (nil for the real one) and a hash remap (nil for the
// real hash), for deterministic TTLs and forced collisions. With a remap, the hash seed is 0,
// so that a test can compute the real hash of its keys (hashKey(key, 0)) and remap them.
func newTestCache(cfg Config, clock func() int64, remap func(uint64) uint64) (*Cache, error) {
	e, err := newEngine(cfg, clock)
	if err != nil {
		return nil, err
	}
	if remap != nil {
		e.seed, e.hashRemap = 0, remap
	}
	return newCache(e), nil
}

// check verifies the invariants of every shard; see shard.checkLocked.
func (c *Cache) check() error {
	e := c.engine()
	for i := range e.shards {
		s := &e.shards[i]
		s.lock()
		var err error
		if !s.closed {
			err = s.checkLocked()
		}
		s.unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// janitorPass runs one janitor pass now, as the background goroutine would.
func (c *Cache) janitorPass() { c.engine().janitorPass() }

// fakeClock is a clock tests move by hand, in nanoseconds.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock() *fakeClock {
	f := &fakeClock{}
	f.t.Store(1)
	return f
}

func (f *fakeClock) now() int64            { return f.t.Load() }
func (f *fakeClock) advance(d int64) int64 { return f.t.Add(d) }
