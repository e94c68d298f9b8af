package mmrueidis

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmcache/mmcache/contrib/internal/redistest"
	"github.com/redis/rueidis"
)

// Benchmarks of the hit path. The side-by-side numbers for docs/integrations.md, with heap
// objects, GC and RSS, come from cmd/csbench, which runs each store in a process of its own.
//
//	go test -run '^$' -bench . -benchtime 2s

const benchKeys = 10_000

func benchKey(i int) string { return "key:" + strconv.Itoa(i) }

// BenchmarkFlightHit is the store alone: a hit on a 200-byte reply, without rueidis around it.
func BenchmarkFlightHit(b *testing.B) {
	cache, err := New(Config{Capacity: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	s := cache.NewStore(rueidis.CacheStoreOption{}).(*store)
	defer s.Close(nil)
	now := time.Now()
	value := strings.Repeat("v", 200)
	for i := range benchKeys {
		s.Flight(benchKey(i), "GET", time.Hour, now)
		s.Update(benchKey(i), "GET", reply(value, 0))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			if v, _ := s.Flight(benchKey(rng.IntN(benchKeys)), "GET", time.Hour, now); !v.IsCacheHit() {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkDoCacheHit is DoCache through a real client whose cache holds every key, with
// rueidis' default store and with this one.
func BenchmarkDoCacheHit(b *testing.B) {
	srv := redistest.Start(b)
	for _, name := range []string{"default", "mmrueidis"} {
		b.Run(name, func(b *testing.B) {
			opt := rueidis.ClientOption{InitAddress: []string{srv.Addr}}
			if name == "mmrueidis" {
				cache, err := New(Config{})
				if err != nil {
					b.Fatal(err)
				}
				opt.NewCacheStoreFn = cache.NewStore
			}
			c, err := rueidis.NewClient(opt)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			keys := make([]string, benchKeys)
			for i := range keys {
				keys[i] = benchKey(i)
				if err := c.Do(ctx, c.B().Set().Key(keys[i]).Value(strings.Repeat("v", 200)).Build()).Error(); err != nil {
					b.Fatal(err)
				}
				if err := c.DoCache(ctx, c.B().Get().Key(keys[i]).Cache(), time.Hour).Error(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
				for pb.Next() {
					m, err := c.DoCache(ctx, c.B().Get().Key(keys[rng.IntN(len(keys))]).Cache(), time.Hour).ToMessage()
					if err != nil || !m.IsCacheHit() {
						b.Errorf("not a hit: %v", err)
						return
					}
				}
			})
		})
	}
}
