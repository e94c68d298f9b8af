package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/measure"
)

// cell finds a throughput cell.
func (w *doc) cell(cache string, v, n int, dist string, read, g int) *measure.ThroughputCell {
	o := find(w.d.Throughput, ThroughputKey{Cache: cache, ValueSize: v, Keys: n})
	if o == nil || o.Result == nil {
		return nil
	}
	for i := range o.Result.Cells {
		c := &o.Result.Cells[i]
		if c.Dist == dist && c.ReadPct == read && c.Goroutines == g {
			return c
		}
	}
	return nil
}

func (w *doc) dists() []string {
	var out []string
	for _, o := range w.d.Throughput {
		if o.Result != nil {
			for _, c := range o.Result.Cells {
				if !slices.Contains(out, c.Dist) {
					out = append(out, c.Dist)
				}
			}
		}
	}
	return out
}

func groupName(n, v int) string { return fmt.Sprintf("%s keys × 16+%d B", count(n), v) }

func (w *doc) throughput() {
	s := w.d.Settings
	if len(w.d.Throughput) == 0 {
		return
	}
	w.heading(2, "Throughput")
	cells := len(w.dists()) * len(s.ReadPcts) * len(s.Goroutines)
	w.para("Mixed Get/Set on 16-byte keys with %s-byte values, %s keys preloaded, zipf 0.99 and uniform key choice from precomputed sequences, read shares %s, on %s goroutines. "+
		"Each of the %d cells of a (cache, value size, key count) group ran %s, for %s each, in one process, after a preload of every key; writes overwrite existing keys. "+
		"Byte-bounded caches get a budget of %g × (key + value + %d B) per key (at least their minimum), weight-bounded ones %g × (key + value) per key, so every key fits. "+
		"Tables show median M ops/s and, in parentheses, the ratio peer ÷ mmcache (above 1: the peer is faster); † marks a cell where the peer's Get hit rate was more than a point below mmcache's: it had lost keys it was given room for, and a miss is a cheaper Get. Allocations per operation, hit rates and spreads are in the full table at the end of the section.",
		joinInts(s.ValueSizes, " and "), joinCounts(s.KeyCounts), joinPcts(s.ReadPcts), joinInts(s.Goroutines, " and "), cells, times(s.Runs), s.Cell, caches.FitHeadroom, caches.FitOverhead, caches.FitHeadroom)
	bigN, bigV := slices.Max(s.KeyCounts), slices.Max(s.ValueSizes)
	var left []string
	for _, c := range w.caches() {
		if !slices.Contains(s.BigCaches, c) {
			left = append(left, c)
		}
	}
	w.para("**Reduced set:** with %s keys and %d-byte values only %s were run. That group is %s of raw keys and values per cache (%.1f GiB of memory on this machine). "+
		"The byte-bounded caches hold it in one allocation or mapping with little per-entry overhead; the Go-heap caches (%s) would need it plus their per-entry objects, "+
		"and up to twice that under the GC's default heap goal, which does not fit in memory beside the rest of the run nor in its 30-minute budget, so they were left out of that group.",
		count(bigN), bigV, joinList(s.BigCaches, " and "), bytes(float64(bigN)*float64(16+bigV)), w.d.Machine.MemoryGiB, joinList(left, " and "))

	won, total := 0, 0
	for _, v := range s.ValueSizes {
		for _, n := range s.KeyCounts {
			if !w.anyGroup(v, n) {
				continue
			}
			w.heading(3, groupName(n, v))
			for _, dist := range w.dists() {
				file := fmt.Sprintf("throughput-%s-%d-%s.png", count(n), v, slug(dist))
				file = strings.ReplaceAll(file, " ", "")
				g := slices.Max(s.Goroutines)
				w.chart(file, "throughput "+groupName(n, v)+" "+dist, func(dir string) error {
					return w.throughputChart(dir, file, v, n, dist, g)
				})
				for _, g := range s.Goroutines {
					w.printf("**%s, %d goroutine%s** (M ops/s; ratio to mmcache)\n\n", dist, g, plural(g))
					head := []string{"Cache"}
					for _, r := range s.ReadPcts {
						head = append(head, fmt.Sprintf("%d%% reads", r))
					}
					t := newTable(head...)
					for _, c := range w.caches() {
						o := find(w.d.Throughput, ThroughputKey{Cache: c, ValueSize: v, Keys: n})
						if o == nil {
							continue
						}
						row := []string{c}
						for _, r := range s.ReadPcts {
							row = append(row, w.cellText(c, v, n, dist, r, g, &won, &total))
						}
						t.row(row...)
					}
					w.table(t)
				}
			}
		}
	}
	w.throughputLosses(won, total)
	w.details("Full throughput table: medians, spread, allocations per operation, hit rate", w.throughputFull)
}

func (w *doc) anyGroup(v, n int) bool {
	for _, o := range w.d.Throughput {
		if o.Key.ValueSize == v && o.Key.Keys == n {
			return true
		}
	}
	return false
}

// cellText formats a cell and records a loss when a peer beats mmcache.
func (w *doc) cellText(c string, v, n int, dist string, r, g int, won, total *int) string {
	o := find(w.d.Throughput, ThroughputKey{Cache: c, ValueSize: v, Keys: n})
	if o.Result == nil {
		return note(o)
	}
	cl := w.cell(c, v, n, dist, r, g)
	if cl == nil {
		return "–"
	}
	sm := summarize(cl.OpsPerSec)
	if c == "mmcache" {
		return mops(sm.Median)
	}
	m := w.cell("mmcache", v, n, dist, r, g)
	if m == nil {
		return mops(sm.Median)
	}
	mm := summarize(m.OpsPerSec)
	rt := sm.Median / mm.Median
	if !rival(c) {
		return fmt.Sprintf("%s (%s)", mops(sm.Median), ratio(rt))
	}
	*total++
	// A peer that lost keys it had room for misses more, and a miss is a cheaper Get.
	ph, mh := summarize(cl.HitRate).Median, summarize(m.HitRate).Median
	missed := r > 0 && ph < mh-0.01
	mark := ""
	if missed {
		mark = " †"
	}
	if rt > 1 {
		what := fmt.Sprintf("%s, %s, %d%% reads, %d goroutine%s", groupName(n, v), dist, r, g, plural(g))
		if missed {
			what += fmt.Sprintf(" (%s's Get hit rate %s, mmcache's %s)", c, pct(ph), pct(mh))
		}
		w.lose(loss{section: "Throughput", what: what, peer: c, ratio: rt, metric: "ops/s", noise: rt-1 <= max(sm.Spread(), mm.Spread())})
	} else {
		*won++
	}
	return fmt.Sprintf("%s (%s)%s", mops(sm.Median), ratio(rt), mark)
}

func (w *doc) throughputChart(dir, file string, v, n int, dist string, g int) error {
	reads := slices.Clone(w.d.Settings.ReadPcts)
	sort.Ints(reads)
	var ss []series
	for _, c := range w.caches() {
		sr := series{name: c}
		for _, r := range reads {
			sr.xs = append(sr.xs, float64(r))
			y := nan
			if cl := w.cell(c, v, n, dist, r, g); cl != nil {
				y = summarize(cl.OpsPerSec).Median / 1e6
			}
			sr.ys = append(sr.ys, y)
		}
		ss = append(ss, sr)
	}
	return lineChart(dir, chartSpec{file: file, title: fmt.Sprintf("%s, %s, %d goroutines", groupName(n, v), dist, g),
		xLabel: "reads (%)", yLabel: "M ops/s (higher is better)", yFrom0: true}, ss)
}

// throughputLosses summarises, per peer, the cells where it beat mmcache.
func (w *doc) throughputLosses(won, total int) {
	type agg struct {
		n, noise int
		worst    loss
	}
	by := map[string]*agg{}
	for _, l := range w.losses {
		if l.section != "Throughput" {
			continue
		}
		a := by[l.peer]
		if a == nil {
			a = &agg{}
			by[l.peer] = a
		}
		a.n++
		if l.noise {
			a.noise++
		}
		if l.ratio > a.worst.ratio {
			a.worst = l
		}
	}
	w.heading(3, "Throughput: where mmcache is not the fastest")
	if total == 0 {
		w.para("No peer ran beside mmcache.")
		return
	}
	w.para("Of %d comparisons of a peer with mmcache in the same cell, mmcache was faster in %d and slower in %d.", total, won, total-won)
	if len(by) == 0 {
		return
	}
	t := newTable("Peer faster than mmcache", "cells", "within noise", "largest ratio", "in")
	for _, c := range w.caches() {
		if a := by[c]; a != nil {
			t.row(c, fmt.Sprint(a.n), fmt.Sprint(a.noise), ratio(a.worst.ratio), a.worst.what)
		}
	}
	w.table(t)
}

func (w *doc) throughputFull() {
	t := newTable("Cache", "Keys", "Value", "Dist", "Reads", "Goroutines", "M ops/s", "spread", "ratio", "allocs/op", "Get hit rate")
	for _, o := range w.d.Throughput {
		if o.Result == nil {
			t.row(o.Key.Cache, count(o.Key.Keys), fmt.Sprint(o.Key.ValueSize), "", "", "", note(&o), "", "", "", strings.TrimSpace(o.Skip+" "+o.Err))
			continue
		}
		for _, c := range o.Result.Cells {
			sm := summarize(c.OpsPerSec)
			rt := "–"
			if m := w.cell("mmcache", o.Key.ValueSize, o.Key.Keys, c.Dist, c.ReadPct, c.Goroutines); m != nil {
				rt = ratio(sm.Median / summarize(m.OpsPerSec).Median)
			}
			hit := "–"
			if c.ReadPct > 0 {
				hit = pct(summarize(c.HitRate).Median)
			}
			t.row(o.Key.Cache, count(o.Key.Keys), fmt.Sprint(o.Key.ValueSize), c.Dist, fmt.Sprintf("%d%%", c.ReadPct), fmt.Sprint(c.Goroutines),
				mops(sm.Median), spread(sm.Spread()), rt, sig(summarize(c.AllocsPerOp).Median), hit)
		}
	}
	w.table(t)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinInts(xs []int, last string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return joinList(s, last)
}

func joinCounts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = count(x)
	}
	return joinList(s, " and ")
}

func joinPcts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%d%%", x)
	}
	return joinList(s, " and ")
}

func joinList(s []string, last string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + last + s[len(s)-1]
}
