// Package memstat reports what a benchmark of the contrib modules measures besides time: live
// heap objects, the cost of a forced garbage collection, and the resident memory.
package memstat

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Report reports, after a GC, the live heap objects, the forced GC's wall time and CPU
// time, and the RSS. The wall time is the least of 10 runs: a forced GC of an empty heap takes
// 2 to 8 ms on a small VM, the noise being the scheduling of the GC's workers, which the least
// leaves out. The CPU time, the GC's own account, is the mean.
func Report(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapObjects), "heap-objs")
	const runs = 10
	cpu := GCCPU()
	least := time.Duration(1<<63 - 1)
	for range runs {
		start := time.Now()
		runtime.GC()
		least = min(least, time.Since(start))
	}
	b.ReportMetric(float64(least.Microseconds()), "gc-us")
	b.ReportMetric((GCCPU()-cpu)/runs*1e6, "gc-cpu-us")
	b.ReportMetric(RSSMiB(), "rss-MiB")
}

// GCCPU returns the CPU time the GC has used so far, in seconds.
func GCCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}

// RSSMiB returns the process's resident memory from /proc/self/status, 0 where there is none.
func RSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
