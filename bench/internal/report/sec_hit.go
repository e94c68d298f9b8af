package report

import (
	"fmt"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

// hitCaches are the caches in hit-ratio tables: the bounded ones and the baseline.
func (w *doc) hitCaches() []string {
	var out []string
	for _, p := range w.d.Peers {
		if p.Bound != "none" {
			out = append(out, p.Name)
		}
	}
	return out
}

func (w *doc) hitResult(c, wl string) *measure.HitResult {
	if o := find(w.d.Hit, HitKey{Cache: c, Workload: wl}); o != nil {
		return o.Result
	}
	return nil
}

// hitAt returns the hit ratio of a cache at a size, or NaN.
func (w *doc) hitAt(c, wl string, size int) (float64, *measure.HitPoint) {
	r := w.hitResult(c, wl)
	if r == nil || r.Accesses == 0 {
		return nan, nil
	}
	for i := range r.Points {
		p := &r.Points[i]
		if p.Size == size {
			if p.Skip != "" {
				return nan, p
			}
			return float64(p.Hits) / float64(r.Accesses), p
		}
	}
	return nan, nil
}

func (w *doc) hitWorkloads() []measure.HitWorkload {
	var out []measure.HitWorkload
	for _, hw := range measure.HitWorkloads {
		for _, o := range w.d.Hit {
			if o.Key.Workload == hw.Name {
				out = append(out, hw)
				break
			}
		}
	}
	return out
}

func (w *doc) hitRatio() {
	if len(w.d.Hit) == 0 && len(w.d.HitMem) == 0 {
		return
	}
	w.heading(2, "Hit ratio")
	if w.d.TraceNote != "" {
		w.para("%s", w.d.TraceNote)
	}
	w.para("A read-through replay: each key of the stream is looked up with Get and, on a miss, stored with Set. " +
		"Traces: `oltp` and `p3` from the ARC paper (N. Megiddo and D. S. Modha, \"ARC: A Self-Tuning, Low Overhead Replacement Cache\", USENIX FAST 2003), `loop` and `gli` from the LIRS paper (S. Jiang and X. Zhang, SIGMETRICS 2002), `vault` (Corda vault service) and `scarab` (Scarab Research recommendations); " +
		"zipf streams draw from 1 Mi keys. The unbounded maps (go-cache, map+RWMutex, sync.Map) keep everything and are left out; LRU is a plain LRU list written for these benchmarks, as the baseline. Higher is better.")
	if w.d.Settings.HitLimit > 0 {
		w.para("Each stream was cut to its first %s keys.", count(w.d.Settings.HitLimit))
	}
	w.heading(3, "At equal entry capacity")
	var mins []string
	for _, p := range w.d.Peers {
		if p.MinBudget > 0 {
			mins = append(mins, fmt.Sprintf("%s %s", p.Name, bytes(float64(p.MinBudget))))
		}
	}
	w.para("Every cache holds the same number of entries. Weight-bounded caches and LRU get size × (key+value) as their bound. A byte-bounded cache counts its own overhead in its budget, so it gets the budget at which it actually holds that many entries: found by filling it with distinct keys, counting how many Get still finds, and adjusting the budget until the count is within 1%% (at most five fills; the counts reached are in the detail table). "+
		"A cell is n/a where that budget is below the cache's minimum size (%s), or where the cache refuses the entry (freecache refuses entries over 1/1024 of its size).", joinList(mins, " and "))
	for _, hw := range w.hitWorkloads() {
		r := w.hitResult("LRU", hw.Name)
		if r == nil {
			r = w.hitResult("mmcache", hw.Name)
		}
		info := ""
		if r != nil {
			info = fmt.Sprintf(": %s accesses, %s distinct keys", count(r.Accesses), count(r.Unique))
		}
		w.heading(4, fmt.Sprintf("%s%s, %d B per entry", hw.Name, info, hw.EntrySize))
		sizes := w.hitSizes(hw)
		head := []string{"Cache"}
		for _, sz := range sizes {
			head = append(head, count(sz)+" entries")
		}
		t := newTable(head...)
		for _, c := range w.hitCaches() {
			o := find(w.d.Hit, HitKey{Cache: c, Workload: hw.Name})
			if o == nil {
				continue
			}
			row := []string{c}
			for _, sz := range sizes {
				h, p := w.hitAt(c, hw.Name, sz)
				switch {
				case o.Result == nil:
					row = append(row, note(o))
				case p == nil:
					row = append(row, "–")
				case p.Skip != "":
					row = append(row, "n/a")
				default:
					row = append(row, pct(h))
					if m, _ := w.hitAt("mmcache", hw.Name, sz); c != "mmcache" && h > m+0.001 {
						w.lose(loss{section: "Hit ratio (equal entries)", what: fmt.Sprintf("%s at %s entries (mmcache %s, %s %s)", hw.Name, count(sz), pct(m), c, pct(h)), peer: c, ratio: h / m, metric: "hit ratio", points: 100 * (h - m)})
					}
				}
			}
			t.row(row...)
		}
		w.table(t)
		file := "hit-" + slug(hw.Name) + ".png"
		w.chart(file, "hit ratio "+hw.Name, func(dir string) error {
			var ss []series
			for _, c := range w.hitCaches() {
				sr := series{name: c}
				for _, sz := range sizes {
					h, _ := w.hitAt(c, hw.Name, sz)
					sr.xs, sr.ys = append(sr.xs, float64(sz)), append(sr.ys, 100*h)
				}
				ss = append(ss, sr)
			}
			return lineChart(dir, chartSpec{file: file, title: fmt.Sprintf("Hit ratio on %s at equal entry capacity", hw.Name), xLabel: "cache size (entries)", yLabel: "hit ratio (%, higher is better)"}, ss)
		})
	}
	w.details("Hit-ratio details: budgets given and entries held", w.hitDetails)
	w.hitMem()
}

func (w *doc) hitSizes(hw measure.HitWorkload) []int {
	var sizes []int
	for _, c := range w.hitCaches() {
		if r := w.hitResult(c, hw.Name); r != nil {
			for _, p := range r.Points {
				if !containsInt(sizes, p.Size) {
					sizes = append(sizes, p.Size)
				}
			}
		}
	}
	return sizes
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (w *doc) hitDetails() {
	t := newTable("Workload", "Cache", "size", "budget", "held when filled", "hits", "hit ratio", "note")
	for _, o := range w.d.Hit {
		if o.Result == nil {
			t.row(o.Key.Workload, o.Key.Cache, "", "", "", "", "", o.Skip+o.Err)
			continue
		}
		for _, p := range o.Result.Points {
			held := "–"
			if p.Held >= 0 {
				held = count(p.Held)
			}
			hr := "–"
			if p.Skip == "" && o.Result.Accesses > 0 {
				hr = pct(float64(p.Hits) / float64(o.Result.Accesses))
			}
			t.row(o.Key.Workload, o.Key.Cache, count(p.Size), bytes(float64(p.Budget)), held, fmt.Sprint(p.Hits), hr, p.Skip)
		}
	}
	w.table(t)
}

func (w *doc) hitMem() {
	if len(w.d.HitMem) == 0 {
		return
	}
	w.heading(3, "At equal memory")
	w.para("Every cache gets the same RSS budget, %s, measured rather than assumed: a first fill at a configuration of exactly the budget measures the RSS it reaches, a second fill at the proportionally corrected configuration measures again, and the replay uses the configuration interpolated between the two fills when they fall on either side of the budget, or else corrected from the closer one. "+
		"After the replay the cache is filled to capacity and its RSS measured again: that is the RSS shown in parentheses, and it can differ from the budget where a cache keeps more after a real workload than after the calibration's plain fill. "+
		"The entry size for each workload is the power of two (64 B to 32 KiB) at which the budget's raw key+value bytes would hold about half of the workload's distinct keys. Higher hit ratio is better.", bytes(float64(w.d.Settings.RSSBudget)))
	head := []string{"Workload", "entry"}
	caches := w.hitCaches()
	head = append(head, caches...)
	t := newTable(head...)
	for _, hw := range measure.HitWorkloads {
		var row []string
		es := 0
		for _, c := range caches {
			o := find(w.d.HitMem, HitMemKey{Cache: c, Workload: hw.Name})
			switch {
			case o == nil:
				row = append(row, "–")
			case o.Result == nil:
				row = append(row, note(o))
			default:
				r := o.Result
				es = r.EntrySize
				h := float64(r.Replay.Hits) / float64(max(r.Replay.Accesses, 1))
				row = append(row, fmt.Sprintf("%s (%s)", pct(h), bytes(float64(r.Replay.RSS))))
				if m := find(w.d.HitMem, HitMemKey{Cache: "mmcache", Workload: hw.Name}); c != "mmcache" && m != nil && m.Result != nil {
					mh := float64(m.Result.Replay.Hits) / float64(max(m.Result.Replay.Accesses, 1))
					if h > mh+0.001 {
						w.lose(loss{section: "Hit ratio (equal memory)", what: fmt.Sprintf("%s in %s of RSS (mmcache %s, %s %s)", hw.Name, bytes(float64(r.RSSBudget)), pct(mh), c, pct(h)), peer: c, ratio: h / mh, metric: "hit ratio", points: 100 * (h - mh)})
					}
				}
			}
		}
		if es == 0 {
			continue
		}
		t.row(append([]string{hw.Name, bytes(float64(es))}, row...)...)
	}
	w.table(t)
	var skips []string
	for _, o := range w.d.HitMem {
		if o.Result == nil && o.Skip != "" {
			skips = append(skips, fmt.Sprintf("%s on %s: %s", o.Key.Cache, o.Key.Workload, o.Skip))
		}
	}
	if len(skips) > 0 {
		w.details("Equal-memory cells marked n/a, and why", func() {
			for _, s := range skips {
				w.printf("- %s\n", s)
			}
			w.printf("\n")
		})
	}
}
