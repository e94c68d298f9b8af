package bench_test

import (
	"sync"
	"testing"

	"github.com/mmcache/mmcache/bench/internal/speed"
)

// fixtures holds one preloaded cache per contender, shared by the four benchmarks.
var fixtures sync.Map // name -> *speed.Fixture

func fixture(b *testing.B, name string) *speed.Fixture {
	if f, ok := fixtures.Load(name); ok {
		return f.(*speed.Fixture)
	}
	f, err := speed.Prepare(name, speed.Keys(testing.Short()))
	if err != nil {
		b.Fatal(err)
	}
	fixtures.Store(name, f)
	return f
}

func run(b *testing.B, op func(*testing.B, *speed.Fixture)) {
	for _, name := range speed.Contenders {
		b.Run(name, func(b *testing.B) {
			f := fixture(b, name)
			op(b, f)
		})
	}
}

// BenchmarkGet is issue 2's single-goroutine Get: zipf 0.99 over the preloaded keys, into a
// buffer with room.
func BenchmarkGet(b *testing.B) { run(b, speed.Get) }

// BenchmarkGetParallel is Get on GOMAXPROCS goroutines.
func BenchmarkGetParallel(b *testing.B) { run(b, speed.GetParallel) }

// BenchmarkSet is issue 2's single-goroutine Set of existing keys.
func BenchmarkSet(b *testing.B) { run(b, speed.Set) }

// BenchmarkSetParallel is Set on GOMAXPROCS goroutines.
func BenchmarkSetParallel(b *testing.B) { run(b, speed.SetParallel) }
