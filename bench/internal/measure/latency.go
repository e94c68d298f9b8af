package measure

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/stats"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// LatencyParams measures Get latency while a writer churns the cache.
type LatencyParams struct {
	Cache     string
	Budget    int64 // cache budget
	ValueSize int
	TTL       time.Duration // 0: entries never expire, keys outnumber the capacity two to one
	WriteRate int           // Sets per second by the writer
	Runs      int
	Duration  time.Duration // per run
}

// LatencyRun is one run's percentiles in nanoseconds.
type LatencyRun struct {
	P50, P99, P999, Max float64
	Gets                int
	HitRate             float64
	Sets                int // Sets the writer managed (it may fall behind its rate)
}

// LatencyResult is the runs of one cache.
type LatencyResult struct {
	Config string
	Keys   int
	Runs   []LatencyRun
	// TimerNs is the cost of the timing itself: the median over runs of an empty timed region.
	TimerNs float64
}

// RunLatency fills the cache, then runs a paced writer beside a reader that times each Get.
// Without TTL the key space is twice what the budget holds, so the writer keeps evicting;
// with TTL every entry lives TTL and the key space is two seconds of writes, so entries
// expire and are replaced steadily.
func RunLatency(p LatencyParams) (LatencyResult, error) {
	var res LatencyResult
	kv := workload.KeySize + p.ValueSize
	keys := int(2 * p.Budget / int64(kv))
	if p.TTL > 0 {
		keys = 2 * p.WriteRate
	}
	res.Keys = keys
	spec := caches.Spec{Budget: p.Budget, Entries: int(p.Budget / int64(kv)), KeySize: workload.KeySize, ValueSize: p.ValueSize, TTL: p.TTL}
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config = desc
	value := workload.Value(p.ValueSize)
	preload(c, keys, value)

	writes := workload.Sequence(workload.Uniform, uint64(keys), 1<<20, 11)
	reads := workload.Sequence(workload.Zipf099, uint64(keys), 1<<20, 12)
	for run := range p.Runs {
		res.Runs = append(res.Runs, latencyRun(c, reads, writes, value, p, run))
	}
	res.TimerNs = timerCost()
	return res, nil
}

// timerCost measures what timing an empty region with time.Now and time.Since costs.
func timerCost() float64 {
	h := stats.NewHistogram()
	for range 100_000 {
		t0 := time.Now()
		h.Record(int64(time.Since(t0)))
	}
	return h.Quantile(0.5)
}

func latencyRun(c caches.Cache, reads, writes []uint32, value []byte, p LatencyParams, run int) LatencyRun {
	var stop atomic.Bool
	var wg sync.WaitGroup
	var sets int
	wg.Add(1)
	go func() { // the writer: WriteRate/1000 Sets every millisecond, catching up when late
		defer wg.Done()
		var kb [workload.KeySize]byte
		perMs := max(p.WriteRate/1000, 1)
		start := time.Now()
		i := run * 7919
		for !stop.Load() {
			due := int(time.Since(start)/time.Millisecond+1) * perMs
			for ; sets < due && !stop.Load(); sets++ {
				c.Set(workload.Key(kb[:], uint64(writes[i&(len(writes)-1)])), value)
				i++
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	h := stats.NewHistogram()
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, len(value)+64)
	hits, gets := 0, 0
	i := run * 104729
	end := time.Now().Add(p.Duration)
	for gets&1023 != 0 || time.Now().Before(end) {
		key := workload.Key(kb[:], uint64(reads[i&(len(reads)-1)]))
		t0 := time.Now()
		var ok bool
		buf, ok = c.Get(buf[:0], key)
		h.Record(int64(time.Since(t0)))
		if ok {
			hits++
		}
		gets++
		i++
	}
	stop.Store(true)
	wg.Wait()
	return LatencyRun{
		P50: h.Quantile(0.5), P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Quantile(1),
		Gets: gets, HitRate: float64(hits) / float64(max(gets, 1)), Sets: sets,
	}
}
