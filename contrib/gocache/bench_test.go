package gocache

// Side-by-side measurement of gocache's chain (a local store, then the Redis store) over a real
// redis-server: this package's Store against gocache's ristretto store, the one its chain
// example uses, each in a process of its own:
//
//	cd contrib/gocache
//	for t in all/mmcache all/ristretto tenth/mmcache tenth/ristretto; do
//		go test -run '^$' -bench "^BenchmarkChain/$t\$" -benchtime 400000x -count 1 .
//	done
//
// 100,000 keys of 10-11 bytes, with values of 200 bytes, are loaded into Redis (TTL 1 h). The
// chain then reads them on GOMAXPROCS goroutines: once each in turn and 100,000 times more
// from a Zipf distribution (s = 1.01) to warm up, then -benchtime times from the same
// distribution, measured. "all" gives each local store room for every key (mmcache 64 MiB;
// ristretto a MaxCost of 64 MiB counting each value's bytes, NumCounters 10 per entry);
// "tenth" for about a tenth (2.5 MiB each). The Redis store's client is PreciseTTL under
// mmcache, as this package recommends, and the bare client under ristretto, as gocache's
// docs have it: both read a key's TTL in a second round trip after its GET.
//
// Reported besides ns/op: gets/s; local-hit-% (reads the local store answered, the rest went
// to Redis: GET, then TTL or PTTL); redis-rt/op (round trips per read); and, after the run
// and a forced GC, heap-objs (the process's live heap objects), gc-us (the least wall time of
// 10 forced runtime.GC() calls), gc-cpu-us (the GC's CPU time per forced call) and rss-MiB
// (the process's resident memory; Linux only). local-entries is the entries mmcache held.

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

	"github.com/dgraph-io/ristretto"
	"github.com/eko/gocache/lib/v4/cache"
	redis_store "github.com/eko/gocache/store/redis/v4"
	ristretto_store "github.com/eko/gocache/store/ristretto/v4"
	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/contrib/internal/memstat"
	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/go-redis/v9"
)

const (
	benchKeys  = 100_000
	benchValue = 200
	benchZipfS = 1.01
)

// benchHook counts round trips and GET commands, leaving out the handshake of new connections.
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

type benchChain struct {
	chain *cache.ChainCache[string]
	hook  *benchHook
	local *Store // nil for ristretto
	close func()
}

func benchKey(buf []byte, i uint64) []byte {
	return strconv.AppendUint(append(buf[:0], "key:"...), i, 10)
}

// BenchmarkChain runs the chain over each local store; see the top of this file.
func BenchmarkChain(b *testing.B) {
	srv := redistest.Start(b)
	load := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer load.Close()
	ctx := context.Background()
	value := strings.Repeat("v", benchValue)
	for i := 0; i < benchKeys; i += 1000 {
		pipe := load.Pipeline()
		for j := i; j < min(i+1000, benchKeys); j++ {
			pipe.Set(ctx, string(benchKey(nil, uint64(j))), value, time.Hour)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}

	chains := map[string]*benchChain{} // made on a sub-benchmark's first run, kept for its next
	defer func() {
		for _, c := range chains {
			c.close()
		}
	}()
	for _, size := range []struct {
		name     string
		capacity int
	}{
		{"all", 64 << 20},
		{"tenth", 5 << 19},
	} {
		for _, kind := range []string{"mmcache", "ristretto"} {
			name := size.name + "/" + kind
			b.Run(name, func(b *testing.B) {
				c := chains[name]
				if c == nil {
					c = newBenchChain(b, srv.Addr, kind, size.capacity)
					chains[name] = c
				}
				runChain(b, c)
			})
		}
	}
}

func newBenchChain(b *testing.B, addr, kind string, capacity int) *benchChain {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	c := &benchChain{hook: new(benchHook)}
	rdb.AddHook(c.hook)
	switch kind {
	case "mmcache":
		local, err := New(Config{Cache: mmcache.Config{Capacity: capacity}})
		if err != nil {
			b.Fatal(err)
		}
		c.local = local
		c.chain = cache.NewChain[string](cache.New[string](local), cache.New[string](redis_store.NewRedis(PreciseTTL{Cmdable: rdb})))
		c.close = func() { _ = c.chain.Close(); _ = local.Close(); _ = rdb.Close() }
	case "ristretto":
		rc, err := ristretto.NewCache(&ristretto.Config{
			NumCounters: int64(capacity) / benchValue * 10,
			MaxCost:     int64(capacity),
			BufferItems: 64,
			Cost:        func(v any) int64 { return int64(len(v.(string))) },
		})
		if err != nil {
			b.Fatal(err)
		}
		c.chain = cache.NewChain[string](cache.New[string](ristretto_store.NewRistretto(rc)), cache.New[string](redis_store.NewRedis(rdb)))
		c.close = func() { _ = c.chain.Close(); rc.Close(); _ = rdb.Close() }
	}
	// Warm up: every key once, then as many Zipf reads.
	var next atomic.Uint64
	parallel(func(int) {
		var buf []byte
		for i := next.Add(1) - 1; i < benchKeys; i = next.Add(1) - 1 {
			buf = benchKey(buf, i)
			if _, err := c.chain.Get(context.Background(), string(buf)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	var left atomic.Int64
	left.Store(benchKeys)
	parallel(func(g int) {
		z := newZipf(uint64(1000 + g))
		var buf []byte
		for left.Add(-1) >= 0 {
			buf = benchKey(buf, z.Uint64())
			if _, err := c.chain.Get(context.Background(), string(buf)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	return c
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

func runChain(b *testing.B, c *benchChain) {
	ctx := context.Background()
	trips, gets := c.hook.trips.Load(), c.hook.gets.Load()
	var seeds atomic.Uint64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		z := newZipf(seeds.Add(1))
		var buf []byte
		for pb.Next() {
			buf = benchKey(buf, z.Uint64())
			if _, err := c.chain.Get(ctx, string(buf)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	trips, gets = c.hook.trips.Load()-trips, c.hook.gets.Load()-gets
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "gets/s")
	b.ReportMetric(100*(1-float64(gets)/float64(b.N)), "local-hit-%")
	b.ReportMetric(float64(trips)/float64(b.N), "redis-rt/op")
	memstat.Report(b)
	if c.local != nil {
		b.ReportMetric(float64(c.local.Stats().Cache.Entries), "local-entries")
	}
}
