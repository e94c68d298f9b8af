package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/mmcache/mmcache/bench/internal/stats"
)

// header prints what was run, where, and how.
func header(r *run) {
	m, s := r.Machine, r.Settings
	fmt.Printf("# Caches on their defaults, side by side\n\n")
	fmt.Printf("`cd bench && %s`, %s. mmcache at %s.\n\n", r.Command, m.Time.Format("2006-01-02 15:04 UTC"), r.MmcacheAt)
	fmt.Printf("Machine: %s, %d logical cores, GOMAXPROCS %d, %.1f GiB of memory, %s, %s/%s. Load average at the start: %s.\n\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.MemoryGiB, m.GoVersion, m.OS, m.Arch, m.LoadAvg)
	fmt.Printf("Every cache on its defaults, sized at twice its payload, 2 × N × (16 + value) bytes (mmcache: `Config{Capacity}` only). "+
		"%d goroutines; 16-byte keys, all N preloaded; zipf %g key choice; Sets overwrite existing keys. "+
		"Each cell ran %d times for %s after one untimed run of %s; the table gives the median ns/op (wall time over the operations of all goroutines) and ±half the range of the runs. "+
		"The last column is mmcache's ns/op over the best (lowest) of %s in the same cell: under 1 means mmcache is faster.\n\n",
		s.Goroutines, s.ZipfS, s.Runs, s.Cell, s.Warm, strings.Join(rivals, " and "))
}

// printCombo prints the table of one combination, and what is worth knowing beside it.
func printCombo(c *combo, s settings) {
	mode := "All caches preloaded in processes of their own and their runs interleaved, cell by cell, in a rotating order"
	if c.Alone {
		mode = "**One cache at a time**, each in a fresh process (they do not fit in memory together), its runs interleaved across the three cells; a cache's later runs follow its earlier Set runs"
	}
	fmt.Printf("## %s keys × (16 + %d B), %s per cache\n\n%s. Load average before / after: %s.\n\n", count(c.Keys), c.ValueSize, size(c.Budget), mode, c.LoadAvg)
	head := []string{"Cell"}
	for _, r := range c.Results {
		head = append(head, r.Cache+" ns/op")
	}
	head = append(head, "mmcache ÷ best of "+strings.Join(rivals, ", "))
	fmt.Printf("| %s |\n|---|%s\n", strings.Join(head, " | "), strings.Repeat("---:|", len(head)-1))
	for ci, cl := range cells {
		row := []string{cl.Name}
		var mm, best float64 = math.NaN(), math.NaN()
		bestName := ""
		for _, r := range c.Results {
			if len(r.NsPerOp[ci]) == 0 {
				row = append(row, "–")
				continue
			}
			sm := stats.Summarize(r.NsPerOp[ci])
			txt := fmt.Sprintf("%.1f ±%.0f%%", sm.Median, 100*sm.Spread())
			if sm.N < s.Runs {
				txt += fmt.Sprintf(" (%d runs)", sm.N)
			}
			row = append(row, txt)
			if r.Cache == "mmcache" {
				mm = sm.Median
			}
			for _, rv := range rivals {
				if r.Cache == rv && (math.IsNaN(best) || sm.Median < best) {
					best, bestName = sm.Median, rv
				}
			}
		}
		if math.IsNaN(mm) || math.IsNaN(best) {
			row = append(row, "–")
		} else {
			row = append(row, fmt.Sprintf("%.2f (%s)", mm/best, bestName))
		}
		fmt.Printf("| %s |\n", strings.Join(row, " | "))
	}
	fmt.Println()
	var notes []string
	for _, r := range c.Results {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", r.Cache, r.Note))
		}
		for ci, cl := range cells {
			if cl.ReadPct == 0 || len(r.HitRate[ci]) == 0 {
				continue
			}
			if h := stats.Summarize(r.HitRate[ci]).Median; h < 0.999 {
				notes = append(notes, fmt.Sprintf("%s: Get hit rate %.1f%% in the %s cell (a miss is a cheaper Get)", r.Cache, 100*h, cl.Name))
			}
		}
	}
	for _, n := range notes {
		fmt.Printf("- %s\n", n)
	}
	if len(notes) > 0 {
		fmt.Println()
	}
	fmt.Printf("<details><summary>Configurations, preload and memory</summary>\n\n")
	fmt.Printf("| Cache | configuration | preload | entries after preload | largest RSS |\n|---|---|---:|---:|---:|\n")
	for _, r := range c.Results {
		if r.Config == "" {
			continue
		}
		n := "–"
		if r.Len >= 0 {
			n = fmt.Sprint(r.Len)
		}
		fmt.Printf("| %s | `%s` | %.1f s | %s | %s |\n", r.Cache, r.Config, r.PreloadSeconds, n, size(r.MaxRSS))
	}
	fmt.Printf("\n</details>\n\n")
}

// size formats bytes in GiB from 1 GiB up, else in MiB.
func size(n int64) string {
	if n >= 1<<30 {
		return gib(n)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}
