package speed

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// The bodies of the benchmarks of mmcache's GetWithTTL, SetIfAbsent and All, each beside the
// plain call on the same fixture, and against the closest call of the peers that have one
// (the caches.ExpiryGetter, caches.AbsentSetter and caches.Walker adapters say which call).
// Same keys, values and key sequence as Get and Set above.

// APIContenders are the caches these benchmarks compare: mmcache and the peers that have a
// call close to GetWithTTL, SetIfAbsent and All.
var APIContenders = []string{"mmcache", "freecache", "otter"}

// AbsentBatch is how many absent keys SetAbsent and SetIfAbsentAbsent store between two
// untimed pauses in which they delete them again.
const AbsentBatch = 1 << 16

// sink keeps the expiries read and the iteration sums from being optimised away.
var sink atomic.Int64

func expiryGetter(b *testing.B, f *Fixture) caches.ExpiryGetter {
	g, ok := f.Cache.(caches.ExpiryGetter)
	if !ok {
		b.Skipf("%s has no Get that returns the expiry", f.Name)
	}
	return g
}

func absentSetter(b *testing.B, f *Fixture) caches.AbsentSetter {
	s, ok := f.Cache.(caches.AbsentSetter)
	if !ok {
		b.Skipf("%s has no SetIfAbsent", f.Name)
	}
	return s
}

// GetWithTTL is Get with the cache's Get-with-expiry call (caches.ExpiryGetter).
func GetWithTTL(b *testing.B, f *Fixture) {
	g := expiryGetter(b, f)
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, 4*ValueSize)
	var exp, sum int64
	i := f.start()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf, exp, _ = g.GetWithExpiry(buf[:0], workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])))
		sum += exp
		i++
	}
	sink.Add(sum)
}

// GetWithTTLParallel is GetWithTTL with b.RunParallel, as GetParallel.
func GetWithTTLParallel(b *testing.B, f *Fixture) {
	g := expiryGetter(b, f)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var kb [workload.KeySize]byte
		buf := make([]byte, 0, 4*ValueSize)
		var exp, sum int64
		i := f.start()
		for pb.Next() {
			buf, exp, _ = g.GetWithExpiry(buf[:0], workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])))
			sum += exp
			i++
		}
		sink.Add(sum)
	})
}

// SetIfAbsentPresent is SetIfAbsent of keys that are present (the preloaded ones, in Set's
// zipf sequence), which stores nothing. It reports stored/op, which should read 0.
func SetIfAbsentPresent(b *testing.B, f *Fixture) {
	s := absentSetter(b, f)
	var kb [workload.KeySize]byte
	stored := 0
	i := f.start()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if s.SetIfAbsent(workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])), f.Value) {
			stored++
		}
		i++
	}
	b.StopTimer()
	b.ReportMetric(float64(stored)/float64(b.N), "stored/op")
}

// SetAbsent is Set of keys that are absent: ids past the preloaded ones, AbsentBatch at a
// time, deleted again with the timer stopped after each batch, so that the cache keeps its
// size and every timed Set inserts.
func SetAbsent(b *testing.B, f *Fixture) {
	absent(b, f, f.Cache.Set)
}

// SetIfAbsentAbsent is SetIfAbsent of keys that are absent, as SetAbsent, which stores each.
// It reports stored/op, which should read 1.
func SetIfAbsentAbsent(b *testing.B, f *Fixture) {
	s := absentSetter(b, f)
	stored := absent(b, f, s.SetIfAbsent)
	b.ReportMetric(float64(stored)/float64(b.N), "stored/op")
}

// absent runs set on b.N keys absent from f's cache and returns how many it stored.
func absent(b *testing.B, f *Fixture, set func(key, value []byte) bool) (stored int) {
	d, ok := f.Cache.(caches.Deleter)
	if !ok {
		b.Skipf("%s has no Delete", f.Name)
	}
	var kb [workload.KeySize]byte
	base := uint64(f.Keys)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		m := min(AbsentBatch, b.N-done)
		for id := range uint64(m) {
			if set(workload.Key(kb[:], base+id), f.Value) {
				stored++
			}
		}
		done += m
		b.StopTimer()
		for id := range uint64(m) {
			d.Delete(workload.Key(kb[:], base+id))
		}
		if s, ok := f.Cache.(caches.Syncer); ok {
			s.Sync() // otter: apply the deletions now, not in the next timed batch
		}
		b.StartTimer()
	}
	b.StopTimer()
	return stored
}

// Walk iterates over all of f's entries with the cache's own iteration call
// (caches.Walker), once per op, and fails if it sees any number of entries but f.Keys. It
// reports ns/entry and allocs/entry besides ns/op and allocs/op, which are per whole pass.
func Walk(b *testing.B, f *Fixture) {
	w, ok := f.Cache.(caches.Walker)
	if !ok {
		b.Skipf("%s cannot iterate", f.Name)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n, sum := w.Walk()
		if n != f.Keys {
			b.Fatalf("%s: iterated over %d entries, want %d", f.Name, n, f.Keys)
		}
		sink.Add(int64(sum))
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	entries := float64(b.N) * float64(f.Keys)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/entries, "ns/entry")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/entries, "allocs/entry")
}
