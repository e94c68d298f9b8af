package report

import (
	"fmt"
	"strings"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

// speedOp returns the runs of one op of a contender, or nil.
func (w *doc) speedOp(cache, op string) *measure.SpeedOp {
	o := find(w.d.Speed, SpeedKey{Cache: cache})
	if o == nil || o.Result == nil {
		return nil
	}
	for i := range o.Result.Ops {
		if o.Result.Ops[i].Op == op {
			return &o.Result.Ops[i]
		}
	}
	return nil
}

// speedRatios returns, for each op, the ops/s ratio mmcache/peer for each peer.
func (w *doc) speedRatio(op, peer string) (float64, bool) {
	m, p := w.speedOp("mmcache", op), w.speedOp(peer, op)
	if m == nil || p == nil {
		return 0, false
	}
	return summarize(p.NsPerOp).Median / summarize(m.NsPerOp).Median, true
}

var speedOps = []string{"Get", "GetParallel", "Set", "SetParallel"}
var speedPeers = []string{"fastcache", "freecache"}

func (w *doc) speed() {
	s := w.d.Settings
	if len(w.d.Speed) == 0 {
		return
	}
	w.heading(2, "Issue 2 speed target: mmcache against fastcache and freecache")
	w.para("The Go benchmarks in [bench/speed_test.go](../bench/speed_test.go), run by this command through `testing.Benchmark` with the same code, every cache on its defaults (for mmcache, with 16+64 B entries, they are also its tuned configuration): %s keys of 16+64 bytes preloaded, keys chosen by zipf 0.99 from a precomputed sequence, Get into a buffer with room, Set of existing keys; single goroutine and `b.RunParallel` with GOMAXPROCS = %d. Each benchmark ran %s, for %s each; the table gives medians. To run them yourself: `cd bench && go test -run '^$' -bench . -benchtime 1s -count 5 .`",
		count(s.SpeedKeys), w.d.Machine.GOMAXPROCS, times(s.SpeedRuns), s.SpeedBenchTime)
	head := []string{"Benchmark"}
	for _, c := range append([]string{"mmcache"}, speedPeers...) {
		head = append(head, c+" ns/op", c+" allocs/op")
	}
	for _, p := range speedPeers {
		head = append(head, "mmcache ÷ "+p+" (ops/s)")
	}
	head = append(head, "target met")
	t := newTable(head...)
	met := 0
	var misses []string
	for _, op := range speedOps {
		row := []string{op}
		for _, c := range append([]string{"mmcache"}, speedPeers...) {
			so := w.speedOp(c, op)
			if so == nil {
				row = append(row, "–", "–")
				continue
			}
			sm := summarize(so.NsPerOp)
			row = append(row, fmt.Sprintf("%s %s", sig(sm.Median), spread(sm.Spread())), sig(summarize(so.AllocsPerOp).Median))
		}
		ok := true
		for _, p := range speedPeers {
			r, have := w.speedRatio(op, p)
			if !have {
				row = append(row, "–")
				ok = false
				continue
			}
			row = append(row, ratio(r))
			if r < 1 {
				ok = false
				misses = append(misses, fmt.Sprintf("%s vs %s: mmcache reaches %s of %s's ops/s", op, p, pct(r), p))
				w.lose(loss{section: "Issue 2 speed", what: op + ", 1 M keys, 16+64 B, zipf", peer: p, ratio: 1 / r, metric: "ops/s", noise: w.speedNoise(op, p, r)})
			}
		}
		if ok {
			met++
			row = append(row, "yes")
		} else {
			row = append(row, "**no**")
		}
		t.row(row...)
	}
	w.table(t)
	if met == len(speedOps) {
		w.para("mmcache is at least as fast as both fastcache and freecache in all %d cases.", len(speedOps))
	} else {
		w.para("mmcache is at least as fast as both in %d of %d cases. **It is slower in:** %s.", met, len(speedOps), strings.Join(misses, "; "))
	}
	w.chart("speed.png", "issue 2 speed benchmarks", func(dir string) error {
		var ss []series
		for _, c := range append([]string{"mmcache"}, speedPeers...) {
			sr := series{name: c}
			for _, op := range speedOps {
				v := nan
				if so := w.speedOp(c, op); so != nil {
					v = 1e3 / summarize(so.NsPerOp).Median
				}
				sr.ys = append(sr.ys, v)
			}
			ss = append(ss, sr)
		}
		return barChart(dir, chartSpec{file: "speed.png", title: fmt.Sprintf("Issue 2 speed: %s keys, 16+64 B, zipf 0.99", count(s.SpeedKeys)), yLabel: "M ops/s (higher is better)"}, speedOps, ss)
	})
}

// speedNoise reports whether a speed loss is within the runs' spread.
func (w *doc) speedNoise(op, peer string, r float64) bool {
	m, p := w.speedOp("mmcache", op), w.speedOp(peer, op)
	sp := max(summarize(m.NsPerOp).Spread(), summarize(p.NsPerOp).Spread())
	return 1/r-1 <= sp
}
