// Package report turns the measurements of a report run into docs/benchmarks.md and its charts.
// Every number it writes comes from the Data it is given; nothing is typed in by hand.
package report

import (
	"time"

	"github.com/mmcache/mmcache/bench/internal/measure"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
)

// Data is everything one run of the report command measured.
type Data struct {
	Machine     sysinfo.Machine
	LoadAvgEnd  string
	Settings    Settings
	Started     time.Time
	WallSeconds float64
	Limit       time.Duration // jobs were not started after this much time (0: no limit)
	Overrun     int           // jobs skipped because of the limit
	Peers       []PeerInfo
	TraceDir    string `json:"-"` // "" when the traces were not found; a local path, not saved
	TraceNote   string // why trace workloads were skipped, if they were

	Speed      []Outcome[SpeedKey, measure.SpeedResult]
	Throughput []Outcome[ThroughputKey, measure.ThroughputResult]
	GC         []Outcome[GCKey, measure.GCResult]
	Memory     []Outcome[MemoryKey, measure.MemoryResult]
	Hit        []Outcome[HitKey, measure.HitResult]
	HitMem     []Outcome[HitMemKey, HitMemData]
	Latency    []Outcome[LatencyKey, measure.LatencyResult]
}

// Outcome is one job's identity and what came of it: a result, a skip reason or an error.
type Outcome[K, R any] struct {
	Key    K
	Result *R     `json:",omitempty"`
	Skip   string `json:",omitempty"`
	Err    string `json:",omitempty"`
}

// PeerInfo describes a cache in the configuration table.
type PeerInfo struct {
	Name string
	// Setup is "defaults" or "tuned" ("" in data saved before configurations were told apart).
	Setup                  string
	Module, Version, Bound string
	TTL, Baseline          bool
	MinBudget              int64 // smallest size the cache honours (0: none)
}

// SpeedKey identifies a speed job.
type SpeedKey struct{ Cache string }

// ThroughputKey identifies a throughput group.
type ThroughputKey struct {
	Cache     string
	ValueSize int
	Keys      int
}

// GCKey identifies a GC-cost job.
type GCKey struct {
	Cache   string
	Entries int
}

// MemoryKey identifies a memory-efficiency job.
type MemoryKey struct {
	Cache     string
	Budget    int64
	ValueSize int
}

// HitKey identifies a hit-ratio curve.
type HitKey struct{ Cache, Workload string }

// HitMemKey identifies an equal-memory hit-ratio job.
type HitMemKey struct{ Cache, Workload string }

// HitMemData is the calibration and replay of an equal-memory hit-ratio job.
type HitMemData struct {
	RSSBudget int64
	EntrySize int
	Tries     []RSSTry // calibration fills: configuration parameter and RSS it reached
	Param     int64    // the parameter used for the replay
	Replay    measure.HitMemResult
}

// RSSTry is one calibration fill.
type RSSTry struct {
	Param, RSS int64
}

// LatencyKey identifies a latency job.
type LatencyKey struct {
	Cache string
	TTL   bool
}

// Settings are the sizes and durations of a run, as the report describes them.
type Settings struct {
	Quick bool

	SpeedKeys      int
	SpeedRuns      int
	SpeedBenchTime string

	ValueSizes  []int
	KeyCounts   []int
	ReadPcts    []int
	Goroutines  []int
	Runs        int
	Cell        time.Duration
	SeqLen      int
	BigCaches   []string // the caches run at the largest key count with the largest values
	GCEntries   []int
	ForcedGCs   int
	AllocRuns   int
	AllocBytes  int64
	GCTimeCap   time.Duration
	MemBudgets  []int64
	MemValues   []int
	HitLimit    int
	HitSizes    int // sizes per workload (0: all)
	RSSBudget   int64
	LatBudget   int64
	LatValue    int
	LatRate     int
	LatRuns     int
	LatDuration time.Duration
	LatTTL      time.Duration
}
