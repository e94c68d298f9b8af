package measure

import (
	"runtime"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// MemoryParams is one memory-efficiency measurement: how many entries of 16+ValueSize bytes a
// cache keeps in Budget bytes, and what it costs in RSS.
type MemoryParams struct {
	Cache     string
	Budget    int64
	ValueSize int
}

// MemoryResult reports entries kept and resident memory.
type MemoryResult struct {
	Config   string
	Inserted int // distinct keys written
	Kept     int // of those, found by Get afterwards
	// RSS deltas over the process before the cache was made, in bytes.
	RSSFull        int64 // after filling, GC'd and scavenged
	PeakRSS        int64 // VmHWM over the run, including garbage made while filling
	RSSAfterReset  int64 // after Reset/Clear and two GCs
	RSSAfterFree   int64 // ... and debug.FreeOSMemory
	HeapLiveFull   uint64
	UnboundedLimit bool // the cache has no bound: filling stopped when RSS reached Budget
}

// RunMemory fills a cache with distinct keys and measures what it keeps and what it costs.
// A bounded cache gets three budgets' worth of entries; an unbounded one is filled until the
// process's RSS has grown by Budget.
func RunMemory(p MemoryParams) (MemoryResult, error) {
	var res MemoryResult
	kv := workload.KeySize + p.ValueSize
	sysinfo.Settle()
	base := sysinfo.RSS()
	spec := caches.Spec{Budget: p.Budget, Entries: int(p.Budget / int64(kv)), KeySize: workload.KeySize, ValueSize: p.ValueSize}
	c, peer, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config = desc
	value := workload.Value(p.ValueSize)
	var kb [workload.KeySize]byte

	if peer.Bound == caches.Unbounded {
		res.UnboundedLimit = true
		for sysinfo.RSS()-base < p.Budget {
			for range 4096 {
				c.Set(workload.Key(kb[:], uint64(res.Inserted)), value)
				res.Inserted++
			}
		}
	} else {
		res.Inserted = int(3 * p.Budget / int64(kv))
		for id := range res.Inserted {
			c.Set(workload.Key(kb[:], uint64(id)), value)
		}
	}
	syncCache(c)
	sysinfo.Settle()
	res.RSSFull = sysinfo.RSS() - base
	res.HeapLiveFull = sysinfo.ReadRuntime().HeapLive
	res.Kept = countPresent(c, 0, uint64(res.Inserted))
	res.PeakRSS = sysinfo.PeakRSS() - base

	c.Reset()
	syncCache(c)
	runtime.GC()
	runtime.GC()
	res.RSSAfterReset = sysinfo.RSS() - base
	sysinfo.Settle()
	res.RSSAfterFree = sysinfo.RSS() - base
	runtime.KeepAlive(c)
	return res, nil
}
