package goredis

// Side-by-side measurement of the host's local tiers over a real redis-server: this package's
// Local against go-redis/cache's own TinyLFU, each in a process of its own:
//
//	cd contrib/goredis
//	for t in all/mmcache all/tinylfu tenth/mmcache tenth/tinylfu; do
//		go test -run '^$' -bench "^BenchmarkTiers/$t\$" -benchtime 400000x -count 1 .
//	done
//
// 100,000 keys of 10-11 bytes, with values of 200 bytes, are loaded into Redis (TTL 1 h). The
// host then reads them, through its local tier, on GOMAXPROCS goroutines: once each in turn and
// 100,000 times more from a Zipf distribution (s = 1.01) to warm up, then -benchtime times from
// the same distribution, measured. "all" gives each local tier room for every key (TinyLFU
// 100,000 entries, mmcache 64 MiB); "tenth" for about a tenth (TinyLFU 10,000 entries,
// mmcache 2.5 MiB, which holds about as many). Each local copy lives at most a minute.
//
// Reported besides ns/op: gets/s; local-hit-% (reads the local tier answered, the rest went
// to Redis: one GET, or this package's GET+PTTL in one MULTI/EXEC); redis-rt/op (round
// trips per read); and, after the run and a forced GC, heap-objs (the process's live heap
// objects), gc-us (the least wall time of 10 forced runtime.GC() calls), gc-cpu-us (the GC's
// CPU time per forced call) and rss-MiB (the process's resident memory; Linux only).
// local-entries is the entries mmcache held.

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/internal/memstat"
	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/go-redis/v9"
)

const (
	benchKeys  = 100_000
	benchValue = 200
	benchZipfS = 1.01
	benchTTL   = time.Minute // the local tiers'
)

// benchHook counts round trips and GET commands (inside pipelines too), leaving out the
// handshake of new connections.
type benchHook struct{ trips, gets atomic.Int64 }

func (h *benchHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *benchHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.trips.Add(1)
			if cmd.Name() == "get" {
				h.gets.Add(1)
			}
		}
		return next(ctx, cmd)
	}
}

func (h *benchHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && !handshake(cmds[0]) {
			h.trips.Add(1)
			for _, c := range cmds {
				if c.Name() == "get" {
					h.gets.Add(1)
				}
			}
		}
		return next(ctx, cmds)
	}
}

type benchTier struct {
	host  *gocache.Cache
	local *Local // nil for TinyLFU
	rdb   *redis.Client
	hook  *benchHook
}

func benchKey(buf []byte, i uint64) []byte {
	return strconv.AppendUint(append(buf[:0], "key:"...), i, 10)
}

// BenchmarkTiers runs the host over each local tier; see the top of this file.
func BenchmarkTiers(b *testing.B) {
	srv := redistest.Start(b)
	load := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer load.Close()
	ctx := context.Background()
	value := []byte(strings.Repeat("v", benchValue))
	for i := 0; i < benchKeys; i += 1000 {
		pipe := load.Pipeline()
		for j := i; j < min(i+1000, benchKeys); j++ {
			pipe.Set(ctx, string(benchKey(nil, uint64(j))), value, time.Hour)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}

	tiers := map[string]*benchTier{} // made on a sub-benchmark's first run, kept for its next
	defer func() {
		for _, t := range tiers {
			_ = t.rdb.Close()
			if t.local != nil {
				_ = t.local.Close()
			}
		}
	}()
	for _, size := range []struct {
		name     string
		entries  int
		capacity int
	}{
		{"all", benchKeys, 64 << 20},
		{"tenth", benchKeys / 10, 5 << 19},
	} {
		for _, kind := range []string{"mmcache", "tinylfu"} {
			name := size.name + "/" + kind
			b.Run(name, func(b *testing.B) {
				t := tiers[name]
				if t == nil {
					t = newBenchTier(b, srv.Addr, kind, size.entries, size.capacity)
					tiers[name] = t
				}
				runTier(b, t)
			})
		}
	}
}

func newBenchTier(b *testing.B, addr, kind string, entries, capacity int) *benchTier {
	// Closed by BenchmarkTiers: b is the sub-benchmark's first run, which ends before the next.
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t := &benchTier{rdb: rdb, hook: new(benchHook)}
	rdb.AddHook(t.hook)
	switch kind {
	case "mmcache":
		local, err := New(Config{Cache: mmcache.Config{Capacity: capacity}, TTL: benchTTL})
		if err != nil {
			b.Fatal(err)
		}
		t.local = local
		t.host = gocache.New(&gocache.Options{Redis: local.Redis(rdb), LocalCache: local})
	case "tinylfu":
		t.host = gocache.New(&gocache.Options{Redis: rdb, LocalCache: gocache.NewTinyLFU(entries, benchTTL)})
	}
	// Warm up: every key once, then as many Zipf reads.
	var next atomic.Uint64
	parallel(func(int) {
		var buf []byte
		var dst []byte
		for i := next.Add(1) - 1; i < benchKeys; i = next.Add(1) - 1 {
			buf = benchKey(buf, i)
			if err := t.host.Get(context.Background(), string(buf), &dst); err != nil {
				b.Error(err)
				return
			}
		}
	})
	var left atomic.Int64
	left.Store(benchKeys)
	parallel(func(g int) {
		z := newZipf(uint64(1000 + g))
		var buf, dst []byte
		for left.Add(-1) >= 0 {
			buf = benchKey(buf, z.Uint64())
			if err := t.host.Get(context.Background(), string(buf), &dst); err != nil {
				b.Error(err)
				return
			}
		}
	})
	return t
}

func newZipf(seed uint64) *rand.Zipf {
	return rand.NewZipf(rand.New(rand.NewPCG(seed, seed)), benchZipfS, 1, benchKeys-1)
}

// parallel runs fn on GOMAXPROCS goroutines, numbered, and waits for them.
func parallel(fn func(g int)) {
	var wg sync.WaitGroup
	for g := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(g)
		}()
	}
	wg.Wait()
}

func runTier(b *testing.B, t *benchTier) {
	ctx := context.Background()
	trips, gets := t.hook.trips.Load(), t.hook.gets.Load()
	var seeds atomic.Uint64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		z := newZipf(seeds.Add(1))
		var buf, dst []byte
		for pb.Next() {
			buf = benchKey(buf, z.Uint64())
			if err := t.host.Get(ctx, string(buf), &dst); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	trips, gets = t.hook.trips.Load()-trips, t.hook.gets.Load()-gets
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "gets/s")
	b.ReportMetric(100*(1-float64(gets)/float64(b.N)), "local-hit-%")
	b.ReportMetric(float64(trips)/float64(b.N), "redis-rt/op")
	memstat.Report(b)
	if t.local != nil {
		b.ReportMetric(float64(t.local.Stats().Cache.Entries), "local-entries")
	}
}
