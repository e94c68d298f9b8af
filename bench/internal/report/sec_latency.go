package report

import (
	"fmt"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

// latencyStat picks a percentile from each run.
type latencyStat struct {
	name string
	get  func(measure.LatencyRun) float64
}

var latencyStats = []latencyStat{
	{"p50", func(r measure.LatencyRun) float64 { return r.P50 }},
	{"p99", func(r measure.LatencyRun) float64 { return r.P99 }},
	{"p99.9", func(r measure.LatencyRun) float64 { return r.P999 }},
}

func runsOf(r *measure.LatencyResult, f func(measure.LatencyRun) float64) []float64 {
	var out []float64
	for _, run := range r.Runs {
		out = append(out, f(run))
	}
	return out
}

func (w *doc) latency() {
	s := w.d.Settings
	if len(w.d.Latency) == 0 {
		return
	}
	w.heading(2, "Tail latency")
	w.para("One goroutine times every Get (zipf 0.99 key choice) while another writes at a paced %s Sets per second, with the cache at capacity: budget %s, 16+%d B entries. "+
		"*Churn*: the key space is twice what the budget holds, preloaded, so the writer keeps evicting (for mmcache, its janitor compacts at its default interval meanwhile); the unbounded maps hold every key. "+
		"*TTL*: every entry is written with a %s time to live and the key space is two seconds of writes, so entries keep expiring and being replaced; caches without expiry are n/a. "+
		"%s of %s; the table gives the median over runs of each percentile, and the spread of p99.9. Lower is better; the ratio is peer ÷ mmcache at p99.9.",
		num(float64(s.LatRate)), bytes(float64(s.LatBudget)), s.LatValue, s.LatTTL, runs(s.LatRuns), s.LatDuration)
	for _, ttl := range []bool{false, true} {
		mode := "Churn at capacity"
		if ttl {
			mode = fmt.Sprintf("Expiring entries (TTL %s)", s.LatTTL)
		}
		w.heading(3, mode)
		t := newTable("Cache", "p50", "p99", "p99.9", "p99.9 spread", "ratio", "max", "Get hit rate", "Gets per run", "writer Sets per run")
		m := find(w.d.Latency, LatencyKey{Cache: "mmcache", TTL: ttl})
		var ss []series
		for _, c := range w.caches() {
			o := find(w.d.Latency, LatencyKey{Cache: c, TTL: ttl})
			if o == nil {
				continue
			}
			if o.Result == nil {
				t.row(c, note(o))
				continue
			}
			r := o.Result
			sr := series{name: c}
			row := []string{c}
			for i, st := range latencyStats {
				sm := summarize(runsOf(r, st.get))
				sr.xs, sr.ys = append(sr.xs, float64(i)), append(sr.ys, sm.Median)
				row = append(row, ns(sm.Median))
				if m != nil && m.Result != nil && c != "mmcache" {
					mm := summarize(runsOf(m.Result, st.get))
					if sm.Median < mm.Median {
						w.lose(loss{section: "Tail latency", what: fmt.Sprintf("%s, Get %s (mmcache %s, %s %s)", mode, st.name, ns(mm.Median), c, ns(sm.Median)),
							peer: c, ratio: mm.Median / sm.Median, metric: "lower latency", noise: mm.Median/sm.Median-1 <= max(sm.Spread(), mm.Spread())})
					}
				}
			}
			p999 := summarize(runsOf(r, latencyStats[2].get))
			rt := "–"
			if m != nil && m.Result != nil && c != "mmcache" {
				rt = ratio(p999.Median / summarize(runsOf(m.Result, latencyStats[2].get)).Median)
			}
			row = append(row, spread(p999.Spread()), rt,
				ns(summarize(runsOf(r, func(x measure.LatencyRun) float64 { return x.Max })).Median),
				pct(summarize(runsOf(r, func(x measure.LatencyRun) float64 { return x.HitRate })).Median),
				num(summarize(runsOf(r, func(x measure.LatencyRun) float64 { return float64(x.Gets) })).Median),
				num(summarize(runsOf(r, func(x measure.LatencyRun) float64 { return float64(x.Sets) })).Median))
			t.row(row...)
			ss = append(ss, sr)
		}
		w.table(t)
		file := "latency-churn.png"
		if ttl {
			file = "latency-ttl.png"
		}
		w.chart(file, "Get latency percentiles, "+mode, func(dir string) error {
			return lineChart(dir, chartSpec{file: file, title: "Get latency, " + mode + " (lower is better)", yLabel: "ns (log scale)", logY: true,
				nominalX: []string{"p50", "p99", "p99.9"}}, ss)
		})
	}
}
