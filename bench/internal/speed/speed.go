// Package speed holds the bodies of issue 2's speed benchmarks: mmcache against fastcache and
// freecache, each on its defaults, Get and Set, on one goroutine and in parallel, with 16-byte
// keys, 64-byte values, a preloaded key space and zipf key choice from a precomputed sequence.
// The Go benchmarks in the bench module and the report command both run them. api.go holds
// those of GetWithTTL, SetIfAbsent and iteration, which only the Go benchmarks run.
package speed

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// Contenders are the caches issue 2's speed target compares.
var Contenders = []string{"mmcache", "fastcache", "freecache"}

const (
	// ValueSize is the value length of the speed benchmarks.
	ValueSize = 64
	// DefaultKeys is the number of keys preloaded.
	DefaultKeys = 1_000_000
	// ShortKeys is the number preloaded under go test -short.
	ShortKeys = 100_000
	// seqLen is the length of the precomputed key sequence, a power of two.
	seqLen = 1 << 20
	// ZipfS is the exponent of the key choice.
	ZipfS = 0.99
)

// KeysEnv names the environment variable that overrides the number of preloaded keys.
const KeysEnv = "MMCACHE_BENCH_KEYS"

// Keys returns the number of keys to preload: $MMCACHE_BENCH_KEYS when set, else ShortKeys
// when short is true, else DefaultKeys.
func Keys(short bool) int {
	if s := os.Getenv(KeysEnv); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if short {
		return ShortKeys
	}
	return DefaultKeys
}

// Fixture is a preloaded cache and the key sequence to replay against it.
type Fixture struct {
	Name  string
	Cache caches.Cache
	Seq   []uint32
	Value []byte
	Keys  int           // ids [0, Keys) are preloaded
	next  atomic.Uint64 // hands each parallel goroutine its own starting point
}

// Prepare opens the named cache sized for n entries and stores keys 0..n-1 in it.
func Prepare(name string, n int) (*Fixture, error) { return PrepareTTL(name, n, 0) }

// PrepareTTL is Prepare with the cache set up to store every entry with a time to live of ttl
// (0: none), as caches.Spec.TTL.
func PrepareTTL(name string, n int, ttl time.Duration) (*Fixture, error) {
	p, ok := caches.ByName(name)
	if !ok {
		return nil, fmt.Errorf("unknown cache %q", name)
	}
	kv := workload.KeySize + ValueSize
	spec := caches.Spec{Budget: caches.FitBudget(p, n, kv), Entries: n, KeySize: workload.KeySize, ValueSize: ValueSize, TTL: ttl}
	c, _, err := p.Open(spec)
	if err != nil {
		return nil, err
	}
	f := &Fixture{Name: name, Cache: c, Keys: n, Value: workload.Value(ValueSize), Seq: workload.Sequence(workload.Dist{Name: "zipf", S: ZipfS}, uint64(n), seqLen, 42)}
	var kb [workload.KeySize]byte
	for id := range uint64(n) {
		c.Set(workload.Key(kb[:], id), f.Value)
	}
	if s, ok := c.(caches.Syncer); ok {
		s.Sync()
	}
	return f, nil
}

// start returns a fresh position in the sequence for a goroutine.
func (f *Fixture) start() uint64 { return f.next.Add(7919*1024) % seqLen }

// Get benchmarks Get into a buffer with room on one goroutine.
func Get(b *testing.B, f *Fixture) {
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, 4*ValueSize)
	i := f.start()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf, _ = f.Cache.Get(buf[:0], workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])))
		i++
	}
}

// Set benchmarks Set of existing keys on one goroutine.
func Set(b *testing.B, f *Fixture) {
	var kb [workload.KeySize]byte
	i := f.start()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.Cache.Set(workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])), f.Value)
		i++
	}
}

// GetParallel benchmarks Get with b.RunParallel (GOMAXPROCS goroutines).
func GetParallel(b *testing.B, f *Fixture) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var kb [workload.KeySize]byte
		buf := make([]byte, 0, 4*ValueSize)
		i := f.start()
		for pb.Next() {
			buf, _ = f.Cache.Get(buf[:0], workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])))
			i++
		}
	})
}

// SetParallel benchmarks Set of existing keys with b.RunParallel.
func SetParallel(b *testing.B, f *Fixture) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var kb [workload.KeySize]byte
		i := f.start()
		for pb.Next() {
			f.Cache.Set(workload.Key(kb[:], uint64(f.Seq[i&(seqLen-1)])), f.Value)
			i++
		}
	})
}

// Op is one of the four speed benchmarks.
type Op struct {
	Name string
	Run  func(*testing.B, *Fixture)
}

// Ops lists the four benchmarks in report order.
var Ops = []Op{{"Get", Get}, {"GetParallel", GetParallel}, {"Set", Set}, {"SetParallel", SetParallel}}
