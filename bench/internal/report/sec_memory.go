package report

import (
	"fmt"
	"slices"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

func (w *doc) memResult(c string, b int64, v int) *measure.MemoryResult {
	if o := find(w.d.Memory, MemoryKey{Cache: c, Budget: b, ValueSize: v}); o != nil {
		return o.Result
	}
	return nil
}

func (w *doc) bound(c string) string {
	for _, p := range w.d.Peers {
		if p.Name == c {
			return p.Bound
		}
	}
	return ""
}

func (w *doc) memory() {
	s := w.d.Settings
	if len(w.d.Memory) == 0 {
		return
	}
	w.heading(2, "Memory efficiency")
	w.para("Each cache in its own process gets a budget B and is filled with 3 × B ÷ (key+value) distinct keys; afterwards every key is looked up and the ones found are counted as kept. " +
		"Byte-bounded caches take B as their size; weight-bounded ones (ristretto, otter) as their maximum key+value weight, so they keep B ÷ (key+value) entries by construction and their RSS shows what that costs; the unbounded maps are filled until the process's RSS has grown by B. " +
		"RSS is the growth of VmRSS over the process before the cache was made, after two GCs and `debug.FreeOSMemory`; peak RSS is the growth of VmHWM, which includes garbage made while filling. " +
		"\"After Reset\" is after the cache's Reset/Clear/Flush and two GCs; \"returned\" also calls `debug.FreeOSMemory`. Fewer bytes per entry is better.")
	var groups []string
	per := map[string][]float64{}
	for _, v := range s.MemValues {
		w.heading(3, fmt.Sprintf("16+%d B entries", v))
		t := newTable("Cache", "budget", "entries kept", "of raw capacity", "RSS", "RSS ÷ budget", "RSS per entry", "ratio", "peak RSS", "after Reset", "returned")
		for _, b := range s.MemBudgets {
			groups = append(groups, fmt.Sprintf("%s, 16+%d B", bytes(float64(b)), v))
			m := w.memResult("mmcache", b, v)
			for _, c := range w.caches() {
				o := find(w.d.Memory, MemoryKey{Cache: c, Budget: b, ValueSize: v})
				if o == nil {
					continue
				}
				r := o.Result
				if r == nil {
					t.row(c, bytes(float64(b)), note(o))
					per[c] = append(per[c], nan)
					continue
				}
				kv := float64(16 + v)
				rpe := float64(r.RSSFull) / float64(max(r.Kept, 1))
				per[c] = append(per[c], rpe-kv)
				rr := "–"
				if m != nil && c != "mmcache" && m.Kept > 0 {
					mpe := float64(m.RSSFull) / float64(m.Kept)
					rr = ratio(rpe / mpe)
					what := fmt.Sprintf("%s budget, 16+%d B", bytes(float64(b)), v)
					if rpe < mpe {
						w.lose(loss{section: "Memory", what: what, peer: c, ratio: mpe / rpe, metric: "fewer RSS bytes per entry"})
					}
					if w.bound(c) == "bytes" && r.Kept > m.Kept {
						w.lose(loss{section: "Memory", what: what, peer: c, ratio: float64(r.Kept) / float64(m.Kept), metric: "more entries kept in the same byte budget"})
					}
					if r.RSSAfterReset < m.RSSAfterReset && m.RSSAfterReset-r.RSSAfterReset > 1<<20 {
						w.lose(loss{section: "Memory", what: what, peer: c, ratio: float64(max(m.RSSAfterReset, 1)) / float64(max(r.RSSAfterReset, 1)), metric: "less RSS left after Reset"})
					}
				}
				kept := count(r.Kept)
				if r.UnboundedLimit {
					kept += " (no bound)"
				}
				t.row(c, bytes(float64(b)), kept, pct(float64(r.Kept)*kv/float64(b)), bytes(float64(r.RSSFull)), sig(float64(r.RSSFull)/float64(b)),
					fmt.Sprintf("%.1f B", rpe), rr, bytes(float64(r.PeakRSS)), bytes(float64(r.RSSAfterReset)), bytes(float64(r.RSSAfterFree)))
			}
		}
		w.table(t)
	}
	w.memTarget()
	w.chart("memory-per-entry.png", "RSS per entry beyond its key and value", func(dir string) error {
		var ss []series
		for _, c := range w.caches() {
			ss = append(ss, series{name: c, ys: per[c]})
		}
		return barChart(dir, chartSpec{file: "memory-per-entry.png", title: "RSS per entry kept, beyond its key and value (lower is better)", yLabel: "bytes of overhead per entry"}, groups, ss)
	})
}

// memTarget checks issue 2's memory targets at the largest budget.
func (w *doc) memTarget() {
	s := w.d.Settings
	b := slices.Max(s.MemBudgets)
	small, large := slices.Min(s.MemValues), slices.Max(s.MemValues)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	var parts []string
	if r := w.memResult("mmcache", b, small); r != nil {
		need := 2_600_000 * float64(b) / (256 << 20)
		parts = append(parts, fmt.Sprintf("with 16+%d B entries mmcache kept %s in %s (target %s: %s; %.1f bytes of overhead per entry)",
			small, count(r.Kept), bytes(float64(b)), count(int(need)), verdict(float64(r.Kept) >= need), float64(b)/float64(max(r.Kept, 1))-float64(16+small)))
		parts = append(parts, fmt.Sprintf("the process's RSS grew by %s, %s of the budget (target: at most the budget; the growth also counts the harness's own buffers, so 1%% of margin is allowed: %s)", bytes(float64(r.RSSFull)), pct(float64(r.RSSFull)/float64(b)), verdict(float64(r.RSSFull) <= 1.01*float64(b))))
	}
	if r := w.memResult("mmcache", b, large); r != nil {
		f := float64(r.Kept) * float64(16+large) / float64(b)
		parts = append(parts, fmt.Sprintf("with 16+%d B entries live keys and values filled %s of the budget (target 90%%: %s)", large, pct(f), verdict(f >= 0.9)))
	}
	if len(parts) > 0 {
		w.para("Issue 2's memory targets at %s: %s.", bytes(float64(b)), joinList(parts, "; and "))
	}
}
