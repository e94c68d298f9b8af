package measure

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// ThroughputParams is one (cache, value size, key count) group of the throughput matrix.
type ThroughputParams struct {
	Cache      string
	ValueSize  int
	Keys       int
	Dists      []workload.Dist
	ReadPcts   []int
	Goroutines []int
	Runs       int
	Cell       time.Duration // duration of one measurement
	SeqLen     int           // length of each precomputed key sequence, a power of two
}

// ThroughputCell is the runs of one (distribution, read share, goroutines) cell.
type ThroughputCell struct {
	Dist        string
	ReadPct     int
	Goroutines  int
	OpsPerSec   []float64 // one per run
	AllocsPerOp []float64
	HitRate     []float64 // hits per Get, NaN-free: 0 when the cell has no Gets
}

// ThroughputResult is the outcome of a group.
type ThroughputResult struct {
	Config         string
	Budget         int64
	PreloadSeconds float64
	Cells          []ThroughputCell
}

// padded keeps per-goroutine counters on separate cache lines.
type padded struct {
	ops, gets, hits uint64
	_               [40]byte
}

// RunThroughput preloads the cache with Keys entries and measures every cell Runs times,
// interleaving the runs so that a noisy moment spreads over cells instead of hitting one.
func RunThroughput(p ThroughputParams) (ThroughputResult, error) {
	var res ThroughputResult
	peer, _ := caches.ByName(p.Cache)
	kv := workload.KeySize + p.ValueSize
	spec := caches.Spec{Budget: caches.FitBudget(peer, p.Keys, kv), Entries: p.Keys, KeySize: workload.KeySize, ValueSize: p.ValueSize}
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config, res.Budget = desc, spec.Budget
	value := workload.Value(p.ValueSize)

	t0 := time.Now()
	preload(c, p.Keys, value)
	res.PreloadSeconds = time.Since(t0).Seconds()

	seqs := make([][]uint32, len(p.Dists))
	for i, d := range p.Dists {
		seqs[i] = workload.Sequence(d, uint64(p.Keys), p.SeqLen, uint64(1000+i))
	}
	for _, d := range p.Dists {
		for _, r := range p.ReadPcts {
			for _, g := range p.Goroutines {
				res.Cells = append(res.Cells, ThroughputCell{Dist: d.String(), ReadPct: r, Goroutines: g})
			}
		}
	}
	runtime.GC()
	for run := range p.Runs {
		i := 0
		for di := range p.Dists {
			for _, r := range p.ReadPcts {
				for _, g := range p.Goroutines {
					ops, allocs, hit := runCell(c, seqs[di], value, r, g, p.Cell, uint64(run))
					cell := &res.Cells[i]
					cell.OpsPerSec = append(cell.OpsPerSec, ops)
					cell.AllocsPerOp = append(cell.AllocsPerOp, allocs)
					cell.HitRate = append(cell.HitRate, hit)
					i++
				}
			}
		}
	}
	return res, nil
}

// runCell runs g goroutines of the mixed workload for d and returns ops/s, heap allocations
// per operation (process-wide, so a cache's background goroutines count too) and the hit rate.
func runCell(c caches.Cache, seq []uint32, value []byte, readPct, g int, d time.Duration, salt uint64) (opsPerSec, allocsPerOp, hitRate float64) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	counts := make([]padded, g)
	mask := uint64(len(seq) - 1)
	allocs0 := sysinfo.Allocs()
	start := time.Now()
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var kb [workload.KeySize]byte
			buf := make([]byte, 0, 2*len(value)+64)
			i := (uint64(w)*uint64(len(seq))/uint64(g) + salt*7919) & mask
			opSalt := salt<<40 | uint64(w)<<32
			var ops, gets, hits uint64
			for !stop.Load() {
				for range 64 {
					key := workload.Key(kb[:], uint64(seq[i&mask]))
					if readPct == 100 || (readPct > 0 && workload.IsRead(opSalt+ops, readPct)) {
						var ok bool
						buf, ok = c.Get(buf[:0], key)
						gets++
						if ok {
							hits++
						}
					} else {
						c.Set(key, value)
					}
					i++
					ops++
				}
			}
			counts[w] = padded{ops: ops, gets: gets, hits: hits}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	allocs := sysinfo.Allocs() - allocs0
	var ops, gets, hits uint64
	for _, n := range counts {
		ops += n.ops
		gets += n.gets
		hits += n.hits
	}
	if gets > 0 {
		hitRate = float64(hits) / float64(gets)
	}
	return float64(ops) / elapsed, float64(allocs) / float64(max(ops, 1)), hitRate
}
