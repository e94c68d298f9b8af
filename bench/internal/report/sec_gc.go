package report

import (
	"fmt"
	"math"
	"slices"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

func (w *doc) gcResult(c string, n int) *measure.GCResult {
	if o := find(w.d.GC, GCKey{Cache: c, Entries: n}); o != nil {
		return o.Result
	}
	return nil
}

// gcCPUPerGiB is the GC CPU seconds per GiB the allocating workload allocated, over all runs.
func (w *doc) gcCPUPerGiB(r *measure.GCResult) float64 {
	return sum(r.GCCPU) / (float64(len(r.GCCPU)) * float64(w.d.Settings.AllocBytes) / (1 << 30))
}

func (w *doc) gcCyclesPerGiB(r *measure.GCResult) float64 {
	return sum(r.GCCycles) / (float64(len(r.GCCycles)) * float64(w.d.Settings.AllocBytes) / (1 << 30))
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// gcMetric is a compared GC quantity; lower is better.
type gcMetric struct {
	name string
	get  func(r *measure.GCResult) (value, spread float64)
}

func (w *doc) gcMetrics() []gcMetric {
	return []gcMetric{
		{"forced GC time", func(r *measure.GCResult) (float64, float64) { s := summarize(r.ForcedGC); return s.Median, s.Spread() }},
		{"heap objects", func(r *measure.GCResult) (float64, float64) { return float64(r.HeapObjects), 0 }},
		{"GC CPU per GiB allocated beside the cache", func(r *measure.GCResult) (float64, float64) { return w.gcCPUPerGiB(r), 0 }},
	}
}

func (w *doc) gc() {
	s := w.d.Settings
	if len(w.d.GC) == 0 {
		return
	}
	w.heading(2, "GC cost")
	w.para("Each cache in its own process, filled with N entries of 16+64 bytes (N = %s). With the cache full and the heap collected: the wall time of a forced `runtime.GC()` (median of %d, or of at least 3 where they took over %s together, as the n column says; the same measured with the cache made but still empty is the \"empty cache\" column), heap objects (`/gc/heap/objects`), the heap goal, and the RSS growth over the process before the cache was made. "+
		"Then a fixed allocating workload runs beside the cache, %s (at least twice where the runs took over %s): each allocates %s in 64-byte objects that hold a pointer, keeps the last 64 Ki of them live, and reads the cache once every 16 allocations. "+
		"GC CPU is the growth of `/cpu/classes/gc/total:cpu-seconds` over the runs, per GiB allocated (\"idle\" is the part done on otherwise idle CPUs, `/cpu/classes/gc/mark/idle`), and GC cycles likewise per GiB. Lower is better everywhere; ratios are peer ÷ mmcache.",
		joinCounts(s.GCEntries), s.ForcedGCs, s.GCTimeCap, times(s.AllocRuns), s.GCTimeCap, bytes(float64(s.AllocBytes)))
	w.para("How to read GC CPU: a cache on the Go heap raises the heap goal (GOGC=100 lets the heap grow by as much as is live), so the same allocation triggers fewer collections, each of which marks the whole cache; a cache off the heap leaves the heap goal at the application's own size, so collections are more frequent but each marks only the application. Both columns, cycles and CPU, are shown for that reason.")
	for _, n := range s.GCEntries {
		w.heading(3, fmt.Sprintf("N = %s", count(n)))
		t := newTable("Cache", "entries", "forced GC", "n", "ratio", "empty cache", "heap objects", "ratio", "heap goal", "RSS growth", "GC CPU per GiB", "of which idle", "GC cycles per GiB")
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
			fg, fge := summarize(r.ForcedGC), summarize(r.ForcedGCEmpty)
			rfg, rho := "–", "–"
			if m != nil && c != "mmcache" {
				rfg = ratio(fg.Median / summarize(m.ForcedGC).Median)
				rho = ratio(float64(r.HeapObjects) / float64(m.HeapObjects))
				for _, g := range w.gcMetrics() {
					pv, ps := g.get(r)
					mv, ms := g.get(m)
					if pv < mv && pv >= 0 {
						rt := math.Inf(1) // the peer needed none at all
						if pv > 0 {
							rt = mv / pv
						}
						w.lose(loss{section: "GC cost", what: fmt.Sprintf("%s at N = %s (mmcache %s, %s %s)", g.name, count(n), w.gcFmt(g.name, mv), c, w.gcFmt(g.name, pv)), peer: c, ratio: rt, metric: "lower " + g.name, noise: rt-1 <= max(ps, ms)})
					}
				}
			}
			idle := sum(r.GCCPUIdle) / (float64(len(r.GCCPUIdle)) * float64(s.AllocBytes) / (1 << 30))
			t.row(c, count(r.Kept), dur(fg.Median)+" "+spread(fg.Spread()), fmt.Sprint(fg.N), rfg, dur(fge.Median), num(float64(r.HeapObjects)), rho,
				bytes(float64(r.HeapGoal)), bytes(float64(r.RSS-r.RSSBase)), dur(w.gcCPUPerGiB(r)), dur(idle), sig(w.gcCyclesPerGiB(r)))
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
		return w.gcChart(dir, "gc-cpu.png", "GC CPU per GiB allocated beside the cache (lower is better)", "ms of CPU", func(r *measure.GCResult) float64 { return w.gcCPUPerGiB(r) * 1e3 })
	})
}

// gcFmt formats a GC metric's value.
func (w *doc) gcFmt(metric string, v float64) string {
	if metric == "heap objects" {
		return num(v)
	}
	return dur(v)
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
	w.para("Issue 2's GC target at N = %s: filling the cache added %d heap objects (target: fewer than 1,000: %s), and a forced GC took %s of the time it took with the cache empty (target: no longer, within 50%%: %s).",
		count(n), added, verdict(added < 1000), pct(fr), verdict(fr <= 1.5))
}
