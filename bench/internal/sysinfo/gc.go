package sysinfo

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// Runtime is a snapshot of the Go runtime's heap and GC metrics.
type Runtime struct {
	HeapObjects uint64  // /gc/heap/objects:objects
	HeapLive    uint64  // /gc/heap/live:bytes, as of the last GC
	HeapGoal    uint64  // /gc/heap/goal:bytes
	GCCycles    uint64  // /gc/cycles/total:gc-cycles
	GCCPU       float64 // /cpu/classes/gc/total:cpu-seconds
	GCCPUIdle   float64 // /cpu/classes/gc/mark/idle:cpu-seconds
	Allocs      uint64  // /gc/heap/allocs:objects, cumulative
}

var runtimeNames = []string{
	"/gc/heap/objects:objects",
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/total:cpu-seconds",
	"/gc/heap/allocs:objects",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
}

// ReadRuntime samples the runtime metrics.
func ReadRuntime() Runtime {
	s := make([]metrics.Sample, len(runtimeNames))
	for i, n := range runtimeNames {
		s[i].Name = n
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	r := Runtime{HeapObjects: u(0), HeapLive: u(1), HeapGoal: u(2), GCCycles: u(3), Allocs: u(5)}
	if s[4].Value.Kind() == metrics.KindFloat64 {
		r.GCCPU = s[4].Value.Float64()
	}
	if s[6].Value.Kind() == metrics.KindFloat64 {
		r.GCCPUIdle = s[6].Value.Float64()
	}
	return r
}

// Allocs returns the cumulative count of heap allocations, cheaply.
func Allocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Settle runs the garbage collector twice and returns freed memory to the operating system,
// so that a following RSS reading counts live memory only.
func Settle() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}
