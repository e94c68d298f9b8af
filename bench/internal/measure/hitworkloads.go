package measure

import (
	"fmt"

	"github.com/mmcache/mmcache/bench/internal/workload"
)

// HitWorkload is a key stream for the hit-ratio measurements: a recorded trace or a zipf
// sequence, with the cache sizes (in entries) to try and the entry size to give each key.
type HitWorkload struct {
	Name string
	// Trace is the name of a workload.TraceFile, or "" for a synthetic zipf stream.
	Trace string
	// S is the zipf exponent of a synthetic stream.
	S float64
	// Sizes are the cache capacities in entries.
	Sizes []int
	// EntrySize is key+value bytes per entry: large enough that the smallest size is above the
	// byte-bounded caches' minimum budgets where that is possible.
	EntrySize int
}

// Synthetic zipf streams: ZipfKeys distinct ids, ZipfAccesses accesses.
const (
	ZipfKeys     = 1 << 20
	ZipfAccesses = 2_000_000
)

// HitWorkloads lists the hit-ratio workloads in report order.
var HitWorkloads = []HitWorkload{
	{Name: "oltp", Trace: "oltp", Sizes: []int{250, 500, 1000, 1500, 2000}, EntrySize: 4096},
	{Name: "p3", Trace: "p3", Sizes: []int{25_000, 50_000, 100_000, 200_000, 400_000}, EntrySize: 128},
	{Name: "loop", Trace: "loop", Sizes: []int{256, 512, 768, 1024}, EntrySize: 8192},
	{Name: "gli", Trace: "gli", Sizes: []int{250, 500, 1000, 1500, 2000}, EntrySize: 4096},
	{Name: "vault", Trace: "vault", Sizes: []int{5_000, 10_000, 20_000, 40_000, 80_000}, EntrySize: 512},
	{Name: "scarab", Trace: "scarab", Sizes: []int{25_000, 50_000, 100_000, 200_000}, EntrySize: 128},
	{Name: "zipf 0.8", S: 0.8, Sizes: []int{10_000, 20_000, 40_000, 80_000, 160_000}, EntrySize: 256},
	{Name: "zipf 0.99", S: 0.99, Sizes: []int{10_000, 20_000, 40_000, 80_000, 160_000}, EntrySize: 256},
	{Name: "zipf 1.2", S: 1.2, Sizes: []int{10_000, 20_000, 40_000, 80_000, 160_000}, EntrySize: 256},
}

// HitWorkloadByName finds a workload.
func HitWorkloadByName(name string) (HitWorkload, bool) {
	for _, w := range HitWorkloads {
		if w.Name == name {
			return w, true
		}
	}
	return HitWorkload{}, false
}

// LoadKeys returns the workload's key stream, at most limit keys (all when limit <= 0).
func (w HitWorkload) LoadKeys(traceDir string, limit int) ([]uint64, error) {
	if w.Trace == "" {
		n := ZipfAccesses
		if limit > 0 {
			n = min(n, limit)
		}
		seq := workload.Sequence(workload.Dist{Name: "zipf", S: w.S}, ZipfKeys, n, 99)
		keys := make([]uint64, len(seq))
		for i, id := range seq {
			keys[i] = uint64(id)
		}
		return keys, nil
	}
	for _, tf := range workload.TraceFiles {
		if tf.Name == w.Trace {
			return workload.LoadTrace(traceDir, tf, limit)
		}
	}
	return nil, fmt.Errorf("unknown trace %q", w.Trace)
}
