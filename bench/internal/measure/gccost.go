package measure

import (
	"runtime"
	"runtime/debug"
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
	// GCTimeCap bounds the time spent on forced collections and on the allocating workload:
	// past it, no more than three collections and two runs are done.
	GCTimeCap time.Duration
}

// GCResult is what the process looked like with the cache full, and what the GC cost.
type GCResult struct {
	Config string
	Budget int64
	Kept   int // entries reported by the cache (or probed when it cannot tell)

	ForcedGCEmpty []float64 // seconds per forced GC with the cache made but still empty
	ForcedGC      []float64 // seconds per forced GC with the cache full

	HeapObjectsEmpty, HeapObjects uint64
	HeapGoal, HeapLive            uint64
	RSSBase, RSSEmpty, RSS        int64 // before the cache was made, with it empty, with it full

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

// sentinel is what every node points to, so that nodes do not chain and die when dropped.
var sentinel = &node{}

// RunGC measures the GC cost of a cache holding Entries entries.
func RunGC(p GCParams) (GCResult, error) {
	var res GCResult
	peer, _ := caches.ByName(p.Cache)
	kv := workload.KeySize + p.ValueSize
	spec := caches.Spec{Budget: caches.FitBudget(peer, p.Entries, kv), Entries: p.Entries, KeySize: workload.KeySize, ValueSize: p.ValueSize}
	sysinfo.Settle()
	res.RSSBase = sysinfo.RSS()
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return res, err
	}
	defer c.Close()
	res.Config, res.Budget = desc, spec.Budget
	sysinfo.Settle()
	res.ForcedGCEmpty = timeForcedGC(p.ForcedGCs, p.GCTimeCap)
	rt := sysinfo.ReadRuntime()
	res.HeapObjectsEmpty, res.RSSEmpty = rt.HeapObjects, sysinfo.RSS()

	preload(c, p.Entries, workload.Value(p.ValueSize))
	if res.Kept = c.Len(); res.Kept < 0 {
		res.Kept = countPresent(c, 0, uint64(p.Entries))
	}

	debug.FreeOSMemory() // one full collection, and freed memory back to the OS
	res.ForcedGC = timeForcedGC(p.ForcedGCs, p.GCTimeCap)
	rt = sysinfo.ReadRuntime()
	res.HeapObjects, res.HeapGoal, res.HeapLive, res.RSS = rt.HeapObjects, rt.HeapGoal, rt.HeapLive, sysinfo.RSS()

	seq := workload.Sequence(workload.Zipf099, uint64(p.Entries), 1<<16, 7)
	var spent time.Duration
	for run := 0; run < p.AllocRuns && (run < 2 || spent < p.GCTimeCap); run++ {
		before := readGCCPU()
		t0 := time.Now()
		allocate(c, seq, p.AllocBytes)
		wall := time.Since(t0)
		spent += wall
		after := readGCCPU()
		res.GCCPU = append(res.GCCPU, after.total-before.total)
		res.GCCPUIdle = append(res.GCCPUIdle, after.idle-before.idle)
		res.GCCycles = append(res.GCCycles, float64(after.cycles-before.cycles))
		res.Wall = append(res.Wall, wall.Seconds())
	}
	runtime.KeepAlive(c)
	return res, nil
}

// timeForcedGC times up to n forced collections, stopping after three once they have taken
// more than limit together.
func timeForcedGC(n int, limit time.Duration) []float64 {
	var out []float64
	var spent time.Duration
	for i := 0; i < n && (i < 3 || spent < limit); i++ {
		t0 := time.Now()
		runtime.GC()
		d := time.Since(t0)
		spent += d
		out = append(out, d.Seconds())
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
		ring[i&(live-1)] = &node{next: sentinel}
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
