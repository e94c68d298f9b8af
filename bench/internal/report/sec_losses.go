package report

import (
	"fmt"
	"math"
	"sort"

	"github.com/mmcache/mmcache/bench/internal/stats"
)

var lossSections = []string{"Issue 2 speed", "Throughput", "GC cost", "Memory", "Hit ratio (equal entries)", "Hit ratio (equal memory)", "Tail latency"}

func (l loss) text() string {
	s := fmt.Sprintf("**%s**: %s — %s for %s", l.peer, l.what, ratio(l.ratio), l.metric)
	if math.IsInf(l.ratio, 1) && l.points == 0 {
		s = fmt.Sprintf("**%s**: %s — the peer spent none at all", l.peer, l.what)
	}
	if l.points > 0 {
		s = fmt.Sprintf("**%s**: %s — %.1f points higher", l.peer, l.what, l.points)
		if !math.IsInf(l.ratio, 0) {
			s += fmt.Sprintf(" (%s)", ratio(l.ratio))
		}
	}
	if l.noise {
		s += " (within noise)"
	}
	return s
}

// lossesSection lists every workload where a peer beats mmcache.
func (w *doc) lossesSection() {
	w.heading(2, "Where mmcache loses")
	if len(w.losses) == 0 {
		w.para("In this run no peer beat mmcache on any measured workload.")
		return
	}
	w.para("Every workload of this run where a peer did better than mmcache, with the peer's advantage as a ratio (how many times more ops/s, hit ratio, or how many times less time, memory or objects). These are the next work. %d in all.", len(w.losses))
	for _, sec := range lossSections {
		var ls []loss
		for _, l := range w.losses {
			if l.section == sec {
				ls = append(ls, l)
			}
		}
		if len(ls) == 0 {
			continue
		}
		sort.SliceStable(ls, func(i, j int) bool {
			if ls[i].points != ls[j].points {
				return ls[i].points > ls[j].points
			}
			return ls[i].ratio > ls[j].ratio
		})
		w.heading(3, fmt.Sprintf("%s (%d)", sec, len(ls)))
		if sec == "Throughput" {
			w.throughputLossSummary(ls)
			w.details("All throughput cells where a peer is faster", func() {
				for _, l := range ls {
					w.printf("- %s\n", l.text())
				}
				w.printf("\n")
			})
			continue
		}
		for _, l := range ls {
			w.printf("- %s\n", l.text())
		}
		w.printf("\n")
	}
}

func (w *doc) throughputLossSummary(ls []loss) {
	t := newTable("Peer", "cells faster than mmcache", "beyond noise", "median ratio", "largest ratio", "where largest")
	for _, c := range w.caches() {
		var rs []float64
		beyond := 0
		var worst loss
		for _, l := range ls {
			if l.peer != c {
				continue
			}
			rs = append(rs, l.ratio)
			if !l.noise {
				beyond++
			}
			if l.ratio > worst.ratio {
				worst = l
			}
		}
		if len(rs) == 0 {
			continue
		}
		t.row(c, fmt.Sprint(len(rs)), fmt.Sprint(beyond), ratio(stats.Summarize(rs).Median), ratio(worst.ratio), worst.what)
	}
	w.table(t)
}
