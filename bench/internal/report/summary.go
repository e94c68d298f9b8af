package report

import (
	"fmt"
	"slices"
)

// summaryTable is the small comparison table meant for the README.
func (w *doc) summaryTable() string {
	s := w.d.Settings
	n1, v1 := slices.Min(s.KeyCounts), slices.Min(s.ValueSizes)
	g := slices.Max(s.Goroutines)
	gcN := slices.Max(s.GCEntries)
	memB := slices.Max(s.MemBudgets)
	zipf := "zipf 0.99"
	hitSize := 0
	for _, hw := range w.hitWorkloads() {
		if hw.Name == zipf {
			sizes := w.hitSizes(hw)
			hitSize = sizes[len(sizes)/2]
		}
	}
	head := []string{"Cache",
		fmt.Sprintf("Get, M ops/s (%s keys, %d goroutines)", count(n1), g),
		fmt.Sprintf("Set, M ops/s (%s keys, %d goroutines)", count(n1), g),
		fmt.Sprintf("forced GC with %s entries", count(gcN)),
		fmt.Sprintf("heap objects with %s entries", count(gcN)),
		fmt.Sprintf("RSS per entry (%s, 16+%d B)", bytes(float64(memB)), v1),
	}
	if hitSize > 0 {
		head = append(head, fmt.Sprintf("hit ratio, %s, %s entries", zipf, count(hitSize)))
	}
	head = append(head, "Get p99.9 under churn")
	t := newTable(head...)
	for _, c := range w.caches() {
		row := []string{c}
		for _, r := range []int{100, 0} {
			v := "–"
			if cl := w.cell(c, v1, n1, "zipf 0.99", r, g); cl != nil {
				v = mops(summarize(cl.OpsPerSec).Median)
			}
			row = append(row, v)
		}
		if r := w.gcResult(c, gcN); r != nil {
			row = append(row, dur(summarize(r.ForcedGC).Median), num(float64(r.HeapObjects)))
		} else {
			row = append(row, "–", "–")
		}
		if r := w.memResult(c, memB, v1); r != nil && r.Kept > 0 {
			row = append(row, fmt.Sprintf("%.0f B", float64(r.RSSFull)/float64(r.Kept)))
		} else {
			row = append(row, "–")
		}
		if hitSize > 0 {
			h, _ := w.hitAt(c, zipf, hitSize)
			if h == h {
				row = append(row, pct(h))
			} else {
				row = append(row, "–")
			}
		}
		if o := find(w.d.Latency, LatencyKey{Cache: c}); o != nil && o.Result != nil {
			row = append(row, ns(summarize(runsOf(o.Result, latencyStats[2].get)).Median))
		} else {
			row = append(row, "–")
		}
		t.row(row...)
	}
	return t.String()
}

func (w *doc) summary() string {
	intro := fmt.Sprintf("Generated from the run of %s on %d cores (%s); see docs/benchmarks.md for how each number was measured. Every cache runs on its defaults, as a user would set it up; \"(tuned)\" rows are the same cache with settings fitted to the workload, and a dash marks what was not measured (a tuned configuration is not run where it equals the defaults, nor in the GC section). Unbounded caches (go-cache, map+RWMutex, sync.Map) have no hit ratio: they never evict.",
		w.d.Started.Format("2006-01-02"), w.d.Machine.Cores, w.d.Machine.CPU)
	return intro + "\n\n" + w.summaryTable()
}
