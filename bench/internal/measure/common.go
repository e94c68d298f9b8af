// Package measure runs one measurement at a time against one cache: throughput cells, GC cost,
// memory efficiency, hit ratio, and tail latency. Each Run function is meant to execute in a
// process of its own (the report command re-executes itself for every job), so that one cache's
// heap, mappings and garbage never land on another's bill.
package measure

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// Skip is returned when a cache cannot take part in a measurement (for example a TTL workload
// against a cache without expiry); its message goes into the report.
type Skip struct{ Reason string }

// Error returns the reason.
func (s *Skip) Error() string { return s.Reason }

// SameAsDefaults is the reason given when a tuned configuration is not measured because, for
// the workload, it sets exactly what the cache's defaults set.
const SameAsDefaults = "same configuration as on its defaults for this workload"

// AsSkip returns the Skip inside err, if any.
func AsSkip(err error) (*Skip, bool) {
	var s *Skip
	ok := errors.As(err, &s)
	return s, ok
}

// open opens the named cache for spec, turning an unsupported configuration into a Skip.
func open(name string, spec caches.Spec) (caches.Cache, caches.Peer, string, error) {
	p, ok := caches.ByName(name)
	if !ok {
		return nil, p, "", fmt.Errorf("unknown cache %q", name)
	}
	if spec.TTL > 0 && !p.TTL {
		return nil, p, "", &Skip{name + " has no expiry"}
	}
	if p.Bound != caches.Unbounded && p.MinBudget > 0 && spec.Budget < p.MinBudget {
		return nil, p, "", &Skip{fmt.Sprintf("%s's minimum size is %d MiB, above the %.1f MiB budget", name, p.MinBudget>>20, float64(spec.Budget)/(1<<20))}
	}
	c, desc, err := p.Open(spec)
	if errors.Is(err, caches.ErrSameAsDefaults) {
		return nil, p, "", &Skip{SameAsDefaults}
	}
	if errors.Is(err, caches.ErrUnsupported) {
		return nil, p, "", &Skip{err.Error()}
	}
	if err != nil {
		return nil, p, "", fmt.Errorf("%s: %w", name, err)
	}
	return c, p, desc, nil
}

// sync waits for asynchronous writes, for the caches that have them.
func syncCache(c caches.Cache) {
	if s, ok := c.(caches.Syncer); ok {
		s.Sync()
	}
}

// preload stores ids [0, n) with value v, using GOMAXPROCS goroutines on disjoint ranges.
func preload(c caches.Cache, n int, v []byte) {
	g := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range g {
		lo, hi := n*w/g, n*(w+1)/g
		wg.Add(1)
		go func() {
			defer wg.Done()
			var kb [workload.KeySize]byte
			for id := lo; id < hi; id++ {
				k := workload.Key(kb[:], uint64(id))
				if !c.Set(k, v) {
					// A cache with asynchronous writes (ristretto) drops a Set when its buffers
					// are full; the preload waits for them and tries once more.
					syncCache(c)
					c.Set(k, v)
				}
			}
		}()
	}
	wg.Wait()
	syncCache(c)
}

// countPresent probes ids [lo, hi) and counts those found.
func countPresent(c caches.Cache, lo, hi uint64) int {
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, 64<<10)
	n := 0
	for id := lo; id < hi; id++ {
		var ok bool
		if buf, ok = c.Get(buf[:0], workload.Key(kb[:], id)); ok {
			n++
		}
	}
	return n
}
