package mmcache

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var soakFor = flag.Duration("soak", 3*time.Second, "how long TestSoak runs (CI runs it for a minute)")

// TestSoak runs every operation from 2×GOMAXPROCS goroutines at once for -soak, with TTLs,
// overwrites, deletes and Resets, on a cache small enough to evict all the time. Each goroutine
// owns its keys, so it knows the newest value of each and when it expires: a hit must return
// exactly that value and never an expired one. RSS, sampled every second, must stay within
// Capacity; at the end the cache's invariants hold and no goroutine is left behind.
func TestSoak(t *testing.T) {
	leakCheck(t)
	const capacity = 16 << 20
	goroutinesBefore := runtime.NumGoroutine()
	c, err := New(Config{Capacity: capacity, JanitorInterval: 50 * time.Millisecond, MaxEntrySize: 64 << 10})
	require.NoError(t, err)

	stop := make(chan struct{})
	var samplers sync.WaitGroup
	// The bound is on what the cache adds: the resident part of its mapping. The process's RSS
	// also carries the test's own heap and, under -race, the detector's shadow memory.
	rssMax := int64(0)
	samplers.Add(1)
	go func() {
		defer samplers.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				rssMax = max(rssMax, regionRSS(t, c))
			}
		}
	}()

	workers := 2 * runtime.GOMAXPROCS(0)
	deadline := time.Now().Add(*soakFor)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- soakWorker(c, w, deadline)
		}()
	}
	wg.Wait()
	close(stop)
	samplers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rssMax = max(rssMax, regionRSS(t, c))
	st := c.Stats()
	t.Logf("%d workers for %v: %+v; the mapping's RSS peaked at %d KiB", workers, *soakFor, st, rssMax>>10)
	require.Positive(t, st.Evictions, "the soak should run the cache full")
	require.LessOrEqual(t, st.UsedBytes, capacity)
	require.LessOrEqual(t, rssMax, int64(capacity), "the mapping's RSS beyond Capacity")
	require.NoError(t, c.check())
	require.NoError(t, c.Close())
	// A goroutine that ran wg.Done (or closed janitorDone) in a deferred call is still counted
	// until it has returned, a moment later: give the count a second to come down.
	for end := time.Now().Add(time.Second); runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(end); {
		runtime.Gosched()
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), goroutinesBefore, "goroutines left behind")
}

type soakKey struct {
	version uint32
	expire  time.Time // zero: never
	present bool      // set and not deleted since (it may still be evicted)
}

// soakWorker runs random operations on the keys it owns until deadline and returns the first
// wrong answer.
func soakWorker(c *Cache, w int, deadline time.Time) error {
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	const keys = 20000
	model := make([]soakKey, keys)
	key := make([]byte, 12)
	value := make([]byte, 0, 70<<10)
	var buf []byte
	makeKey := func(i int) []byte {
		binary.LittleEndian.PutUint32(key[0:], uint32(w))
		binary.LittleEndian.PutUint64(key[4:], uint64(i))
		return key
	}
	makeValue := func(i int, version uint32) []byte {
		// Size from the key and version; contents from both, so a torn or misplaced value shows.
		n := int((uint32(i)*2654435761 ^ version*40503) % 2048) // modulo first: int(uint32) is negative on 32-bit
		if version%97 == 0 {
			n = 60 << 10 // now and then a large one
		}
		value = value[:0]
		for len(value) < n {
			value = binary.LittleEndian.AppendUint64(value, uint64(i)<<32|uint64(version))
		}
		return value[:n]
	}
	for ops := 0; ; ops++ {
		if ops%256 == 0 && time.Now().After(deadline) {
			return nil
		}
		i := rng.IntN(keys)
		k := makeKey(i)
		m := &model[i]
		switch op := rng.IntN(100); {
		case op < 40:
			m.version++
			var ttl time.Duration
			if rng.IntN(4) == 0 {
				ttl = time.Duration(1+rng.IntN(200)) * time.Millisecond
			}
			if err := c.SetWithTTL(k, makeValue(i, m.version), ttl); err != nil {
				return fmt.Errorf("worker %d: Set: %w", w, err)
			}
			m.present, m.expire = true, time.Time{}
			if ttl > 0 {
				m.expire = time.Now().Add(ttl)
			}
		case op < 50:
			c.Delete(k)
			m.present = false
		case op < 99:
			before := time.Now()
			var ok bool
			if op < 75 {
				buf, ok = c.Get(buf[:0], k)
			} else {
				ok = c.View(k, func(v []byte) { buf = append(buf[:0], v...) })
			}
			if !ok {
				continue
			}
			switch {
			case !m.present:
				return fmt.Errorf("worker %d: key %d deleted but found", w, i)
			case !m.expire.IsZero() && before.After(m.expire):
				return fmt.Errorf("worker %d: key %d expired %v ago but found", w, i, before.Sub(m.expire))
			case !bytes.Equal(buf, makeValue(i, m.version)):
				return fmt.Errorf("worker %d: key %d: got %d bytes, not version %d", w, i, len(buf), m.version)
			}
		default:
			if rng.IntN(2000) == 0 {
				c.Reset() // rare: it empties everyone's keys, which may then only miss
			}
		}
	}
}
