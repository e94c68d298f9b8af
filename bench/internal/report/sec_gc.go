package report

import (
	"fmt"
	"slices"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

func (w *doc) gcResult(c string, n int) *measure.GCResult {
	if o := find(w.d.GC, GCKey{Cache: c, Entries: n}); o != nil {
		return o.Result
	}
	return nil
}

// gcMetrics are the compared GC quantities, lower is better.
var gcMetrics = []struct {
	name string
	get  func(r *measure.GCResult) (median, spread float64)
}{
	{"forced GC time", func(r *measure.GCResult) (float64, float64) { s := summarize(r.ForcedGC); return s.Median, s.Spread() }},
	{"heap objects", func(r *measure.GCResult) (float64, float64) { return float64(r.HeapObjects), 0 }},
	{"GC CPU during the allocating workload", func(r *measure.GCResult) (float64, float64) {
		s := summarize(r.GCCPU)
		return s.Median, s.Spread()
	}},
}

func (w *doc) gc() {
	s := w.d.Settings
	if len(w.d.GC) == 0 {
		return
	}
	w.heading(2, "GC cost")
	w.para("Each cache in its own process, filled with N entries of 16+64 bytes (N = %s). With the cache full and the heap settled: the wall time of a forced `runtime.GC()` (median of %d; the same measured in that process before the cache was made is the \"empty\" baseline), heap objects (`/gc/heap/objects`), heap goal, and RSS growth over the empty process. "+
		"Then a fixed allocating workload runs beside the cache, %s: it allocates %s in 64-byte objects that hold a pointer, keeps the last 64 Ki of them live, and reads the cache once every 16 allocations. GC CPU is the growth of `/cpu/classes/gc/total:cpu-seconds` over one run (median over the runs; \"idle\" is the part done on otherwise idle CPUs, `/cpu/classes/gc/mark/idle`). Lower is better everywhere; ratios are peer ÷ mmcache.",
		joinCounts(s.GCEntries), s.ForcedGCs, times(s.AllocRuns), bytes(float64(s.AllocBytes)))
	for _, n := range s.GCEntries {
		w.heading(3, fmt.Sprintf("N = %s", count(n)))
		t := newTable("Cache", "entries", "forced GC", "ratio", "empty process", "heap objects", "ratio", "heap goal", "RSS growth", "GC CPU per run", "of which idle", "GC cycles per run")
		m := w.gcResult("mmcache", n)
		for _, c := range w.caches() {
			o := find(w.d.GC, GCKey{Cache: c, Entries: n})
			if o == nil {
				continue
			}
			r := o.Result
			if r == nil {
				t.row(c, note(o))
				continue
			}
			fg, fge, cpu := summarize(r.ForcedGC), summarize(r.ForcedGCEmpty), summarize(r.GCCPU)
			rfg, rho := "–", "–"
			if m != nil && c != "mmcache" {
				rfg = ratio(fg.Median / summarize(m.ForcedGC).Median)
				rho = ratio(float64(r.HeapObjects) / float64(m.HeapObjects))
				for _, g := range gcMetrics {
					pv, ps := g.get(r)
					mv, ms := g.get(m)
					if pv < mv && pv > 0 {
						w.lose(loss{section: "GC cost", what: fmt.Sprintf("%s at N = %s", g.name, count(n)), peer: c, ratio: mv / pv, metric: "lower " + g.name, noise: mv/pv-1 <= max(ps, ms)})
					}
				}
			}
			t.row(c, count(r.Kept), dur(fg.Median)+" "+spread(fg.Spread()), rfg, dur(fge.Median), num(float64(r.HeapObjects)), rho,
				bytes(float64(r.HeapGoal)), bytes(float64(r.RSS-r.RSSEmpty)), dur(cpu.Median)+" "+spread(cpu.Spread()),
				dur(summarize(r.GCCPUIdle).Median), sig(summarize(r.GCCycles).Median))
		}
		w.table(t)
	}
	w.gcTarget()
	w.chart("gc-forced.png", "forced GC time against N", func(dir string) error {
		return w.gcChart(dir, "gc-forced.png", "Forced runtime.GC() wall time (lower is better)", "ms", func(r *measure.GCResult) float64 { return summarize(r.ForcedGC).Median * 1e3 })
	})
	w.chart("gc-objects.png", "heap objects against N", func(dir string) error {
		return w.gcChart(dir, "gc-objects.png", "Heap objects with the cache full (lower is better)", "objects", func(r *measure.GCResult) float64 { return float64(r.HeapObjects) })
	})
	w.chart("gc-cpu.png", "GC CPU against N", func(dir string) error {
		return w.gcChart(dir, "gc-cpu.png", fmt.Sprintf("GC CPU while allocating %s beside the cache (lower is better)", bytes(float64(s.AllocBytes))), "ms of CPU", func(r *measure.GCResult) float64 { return summarize(r.GCCPU).Median * 1e3 })
	})
}

func (w *doc) gcChart(dir, file, title, unit string, f func(*measure.GCResult) float64) error {
	var ss []series
	for _, c := range w.caches() {
		sr := series{name: c}
		for _, n := range w.d.Settings.GCEntries {
			sr.xs = append(sr.xs, float64(n)/1e6)
			y := nan
			if r := w.gcResult(c, n); r != nil {
				y = f(r)
			}
			sr.ys = append(sr.ys, y)
		}
		ss = append(ss, sr)
	}
	return lineChart(dir, chartSpec{file: file, title: title, xLabel: "entries (millions)", yLabel: unit + " (log scale)", logY: true}, ss)
}

// gcTarget checks issue 2's GC target at the middle N: fewer than 1,000 heap objects added,
// and a forced GC within ±50% of the empty process's.
func (w *doc) gcTarget() {
	ns := w.d.Settings.GCEntries
	n := ns[len(ns)/2]
	if slices.Contains(ns, 5_000_000) {
		n = 5_000_000
	}
	r := w.gcResult("mmcache", n)
	if r == nil {
		return
	}
	added := int64(r.HeapObjects) - int64(r.HeapObjectsEmpty)
	fr := summarize(r.ForcedGC).Median / summarize(r.ForcedGCEmpty).Median
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	w.para("Issue 2's GC target at N = %s: the cache added %d heap objects to the empty process (target: fewer than 1,000: %s), and a forced GC took %s of the empty process's time (target: within ±50%%: %s).",
		count(n), added, verdict(added < 1000), pct(fr), verdict(fr >= 0.5 && fr <= 1.5))
}
