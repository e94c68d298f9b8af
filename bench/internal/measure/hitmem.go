package measure

import (
	"math/bits"
	"runtime"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// MemEntrySize picks the entry size for a hit-ratio run at an RSS budget: the power of two
// (between 64 B and 32 KiB) at which the budget's worth of raw key+value bytes holds about
// half of the workload's distinct keys, so the budget is neither trivial nor hopeless.
func MemEntrySize(rssBudget int64, unique int) int {
	per := rssBudget / int64(max(unique/2, 1))
	if per < 64 {
		return 64
	}
	p := 1 << (bits.Len64(uint64(per)) - 1)
	return min(p, 32<<10)
}

// RSSFillParams asks what RSS a cache configured with Param grows to once full.
type RSSFillParams struct {
	Cache     string
	Param     int64 // the Spec.Budget given to the cache
	EntrySize int
}

// RSSFillResult is the RSS growth of a full cache.
type RSSFillResult struct {
	Config string
	RSS    int64 // RSS growth after filling with three budgets' worth of distinct keys, GC'd
}

// RunRSSFill fills a cache configured with Param and measures the RSS growth it causes.
func RunRSSFill(p RSSFillParams) (RSSFillResult, error) {
	var res RSSFillResult
	sysinfo.Settle()
	base := sysinfo.RSS()
	spec := memSpec(p.Param, p.EntrySize)
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config = desc
	fill(c, calibrationBase, int(3*p.Param/int64(p.EntrySize)), spec.ValueSize)
	sysinfo.Settle()
	res.RSS = sysinfo.RSS() - base
	return res, nil
}

func memSpec(param int64, entrySize int) caches.Spec {
	return caches.Spec{Budget: param, Entries: int(param / int64(entrySize)), KeySize: workload.KeySize, ValueSize: entrySize - workload.KeySize}
}

// HitMemParams replays a workload against a cache configured with Param (found so that its
// RSS when full matches the budget), then tops the cache up to full and measures its RSS.
type HitMemParams struct {
	Cache     string
	Workload  string
	TraceDir  string
	Limit     int
	Param     int64
	EntrySize int
}

// HitMemResult is the hit count at the given configuration and the RSS it was measured at.
type HitMemResult struct {
	Config   string
	Accesses int
	Hits     int
	RSS      int64 // RSS growth of the full cache, GC'd
}

// RunHitMem replays the workload with the cache configured by Param.
func RunHitMem(p HitMemParams) (HitMemResult, error) {
	var res HitMemResult
	_, keys, err := loadHitKeys(p.Workload, p.TraceDir, p.Limit)
	if err != nil {
		return res, err
	}
	sysinfo.Settle()
	base := sysinfo.RSS()
	spec := memSpec(p.Param, p.EntrySize)
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config, res.Accesses = desc, len(keys)
	res.Hits = replay(c, keys, spec.ValueSize)
	fill(c, calibrationBase, int(3*p.Param/int64(p.EntrySize)), spec.ValueSize)
	sysinfo.Settle()
	res.RSS = sysinfo.RSS() - base
	runtime.KeepAlive(keys) // loaded before base was read: it must not be freed before the last read
	return res, nil
}
