package measure

import (
	"runtime"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// GCParams is one GC-cost measurement: a cache holding Entries entries of 16+ValueSize bytes.
type GCParams struct {
	Cache      string
	Entries    int
	ValueSize  int
	ForcedGCs  int   // forced collections timed (the median is reported)
	AllocRuns  int   // runs of the allocating workload
	AllocBytes int64 // bytes the allocating workload allocates per run
}

// GCResult is what the process looked like with the cache full, and what the GC cost.
type GCResult struct {
	Config string
	Budget int64
	Kept   int // entries reported by the cache (or probed when it cannot tell)

	ForcedGCEmpty []float64 // seconds per forced GC before the cache was made
	ForcedGC      []float64 // seconds per forced GC with the cache full

	HeapObjectsEmpty, HeapObjects uint64
	HeapGoal, HeapLive            uint64
	RSSEmpty, RSS                 int64

	// Per run of the allocating workload:
	GCCPU     []float64 // /cpu/classes/gc/total:cpu-seconds
	GCCPUIdle []float64 // of which /cpu/classes/gc/mark/idle (spare CPU)
	GCCycles  []float64
	Wall      []float64
}

// node is the allocating workload's garbage: 64 bytes with a pointer, as typical request data.
type node struct {
	next *node
	pad  [7]uint64
}

// RunGC measures the GC cost of a cache holding Entries entries.
func RunGC(p GCParams) (GCResult, error) {
	var res GCResult
	res.ForcedGCEmpty = timeForcedGC(p.ForcedGCs)
	sysinfo.Settle()
	rt := sysinfo.ReadRuntime()
	res.HeapObjectsEmpty, res.RSSEmpty = rt.HeapObjects, sysinfo.RSS()

	peer, _ := caches.ByName(p.Cache)
	kv := workload.KeySize + p.ValueSize
	spec := caches.Spec{Budget: caches.FitBudget(peer, p.Entries, kv), Entries: p.Entries, KeySize: workload.KeySize, ValueSize: p.ValueSize}
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config, res.Budget = desc, spec.Budget
	preload(c, p.Entries, workload.Value(p.ValueSize))
	if res.Kept = c.Len(); res.Kept < 0 {
		res.Kept = countPresent(c, 0, uint64(p.Entries))
	}

	sysinfo.Settle()
	res.ForcedGC = timeForcedGC(p.ForcedGCs)
	rt = sysinfo.ReadRuntime()
	res.HeapObjects, res.HeapGoal, res.HeapLive, res.RSS = rt.HeapObjects, rt.HeapGoal, rt.HeapLive, sysinfo.RSS()

	seq := workload.Sequence(workload.Zipf099, uint64(p.Entries), 1<<16, 7)
	for range p.AllocRuns {
		before := readGCCPU()
		t0 := time.Now()
		allocate(c, seq, p.AllocBytes)
		wall := time.Since(t0).Seconds()
		after := readGCCPU()
		res.GCCPU = append(res.GCCPU, after.total-before.total)
		res.GCCPUIdle = append(res.GCCPUIdle, after.idle-before.idle)
		res.GCCycles = append(res.GCCycles, float64(after.cycles-before.cycles))
		res.Wall = append(res.Wall, wall)
	}
	runtime.KeepAlive(c)
	return res, nil
}

// timeForcedGC times n forced collections.
func timeForcedGC(n int) []float64 {
	runtime.GC()
	out := make([]float64, n)
	for i := range out {
		t0 := time.Now()
		runtime.GC()
		out[i] = time.Since(t0).Seconds()
	}
	return out
}

// allocate is the fixed allocating workload: it allocates bytes in 64-byte pointerful
// objects, keeping the last 64 Ki of them live (4 MiB), and reads the cache once every 16
// allocations, as a service that allocates per request beside its cache would.
func allocate(c caches.Cache, seq []uint32, bytes int64) {
	const live = 1 << 16
	ring := make([]*node, live)
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, 1<<10)
	n := int(bytes / 64)
	for i := range n {
		ring[i&(live-1)] = &node{next: ring[(i-1)&(live-1)]}
		if i&15 == 0 {
			buf, _ = c.Get(buf[:0], workload.Key(kb[:], uint64(seq[(i>>4)&(len(seq)-1)])))
		}
	}
	runtime.KeepAlive(ring)
}

type gcCPU struct {
	total, idle float64
	cycles      uint64
}

func readGCCPU() gcCPU {
	rt := sysinfo.ReadRuntime()
	return gcCPU{total: rt.GCCPU, idle: rt.GCCPUIdle, cycles: rt.GCCycles}
}
