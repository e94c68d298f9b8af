package main

import (
	"runtime"
	"time"

	"github.com/mmcache/mmcache/bench/internal/report"
)

// fullSettings sizes the full run to finish in under 30 minutes on 2 cores.
func fullSettings() report.Settings {
	return report.Settings{
		SpeedKeys: 1_000_000, SpeedRuns: 5, SpeedBenchTime: "300ms",

		ValueSizes: []int{64, 1024},
		KeyCounts:  []int{1_000_000, 10_000_000},
		ReadPcts:   []int{100, 90, 75, 50, 0},
		Goroutines: goroutines(),
		Runs:       5,
		Cell:       50 * time.Millisecond,
		SeqLen:     1 << 21,
		BigCaches:  []string{"mmcache", "mmcache (tuned)", "freecache", "fastcache", "bigcache"},

		GCEntries: []int{1_000_000, 5_000_000, 10_000_000},
		ForcedGCs: 7, AllocRuns: 4, AllocBytes: 256 << 20, GCTimeCap: 10 * time.Second,

		MemBudgets: []int64{64 << 20, 256 << 20},
		MemValues:  []int{64, 1024},

		HitLimit:  0,
		RSSBudget: 64 << 20,

		LatBudget: 64 << 20, LatValue: 64, LatRate: 200_000, LatRuns: 5, LatDuration: 700 * time.Millisecond, LatTTL: time.Second,
	}
}

// quickSettings runs every workload tiny, to check that it works.
func quickSettings() report.Settings {
	s := fullSettings()
	s.Quick = true
	s.SpeedKeys, s.SpeedRuns, s.SpeedBenchTime = 20_000, 1, "2000x"
	s.KeyCounts = []int{10_000, 40_000}
	s.Runs, s.Cell, s.SeqLen = 1, 5*time.Millisecond, 1<<14
	s.GCEntries = []int{10_000, 50_000, 100_000}
	s.ForcedGCs, s.AllocRuns, s.AllocBytes = 3, 1, 8<<20
	s.MemBudgets = []int64{4 << 20, 8 << 20}
	s.HitLimit, s.HitSizes, s.RSSBudget = 20_000, 2, 8<<20
	s.LatBudget, s.LatRate, s.LatRuns, s.LatDuration = 4<<20, 50_000, 1, 100*time.Millisecond
	return s
}

// goroutines is 1 and GOMAXPROCS (just 1 on a single-P machine).
func goroutines() []int {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}
