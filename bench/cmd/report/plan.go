package main

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/measure"
	"github.com/mmcache/mmcache/bench/internal/report"
	"github.com/mmcache/mmcache/bench/internal/speed"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// planner builds the list of jobs of a run and the Data they fill in.
type planner struct {
	s       report.Settings
	d       *report.Data
	jobs    []job
	filter  func(cache string) bool
	section func(name string) bool
}

// add appends a job whose response is stored as an Outcome in list.
func add[K, P, R any](pl *planner, list *[]report.Outcome[K, R], kind string, key K, name string, weight float64, params func() (P, string)) *job {
	pl.jobs = append(pl.jobs, job{
		name: name, weight: weight, kind: kind,
		params: func() (any, string) { return params() },
		store: func(resp response) {
			o := report.Outcome[K, R]{Key: key, Skip: resp.Skip, Err: resp.Err}
			if resp.Result != nil {
				var r R
				if err := json.Unmarshal(resp.Result, &r); err != nil {
					o.Err = err.Error()
				} else {
					o.Result = &r
				}
			}
			*list = append(*list, o)
		},
	})
	return &pl.jobs[len(pl.jobs)-1]
}

// fixed wraps constant parameters.
func fixed[P any](p P) func() (P, string) { return func() (P, string) { return p, "" } }

func (pl *planner) peers(list []caches.Peer) []caches.Peer {
	return slices.DeleteFunc(slices.Clone(list), func(p caches.Peer) bool { return !pl.filter(p.Name) })
}

func (pl *planner) planSpeed() {
	for _, name := range speed.Contenders {
		if !pl.filter(name) {
			continue
		}
		p := measure.SpeedParams{Cache: name, Keys: pl.s.SpeedKeys, Runs: pl.s.SpeedRuns, BenchTime: pl.s.SpeedBenchTime}
		w := 1 + float64(pl.s.SpeedRuns)*4*0.6
		if pl.s.Quick {
			w = 0.5
		}
		add(pl, &pl.d.Speed, "speed", report.SpeedKey{Cache: name}, "speed "+name, w, fixed(p))
	}
}

func (pl *planner) planThroughput() {
	s := pl.s
	bigN, bigV := slices.Max(s.KeyCounts), slices.Max(s.ValueSizes)
	for _, v := range s.ValueSizes {
		for _, n := range s.KeyCounts {
			for _, p := range pl.peers(caches.All()) {
				if n == bigN && v == bigV && !slices.Contains(s.BigCaches, p.Name) {
					continue
				}
				params := measure.ThroughputParams{
					Cache: p.Name, ValueSize: v, Keys: n,
					Dists:    []workload.Dist{workload.Zipf099, workload.Uniform},
					ReadPcts: s.ReadPcts, Goroutines: s.Goroutines, Runs: s.Runs, Cell: s.Cell, SeqLen: s.SeqLen,
				}
				cells := float64(len(params.Dists) * len(s.ReadPcts) * len(s.Goroutines) * s.Runs)
				w := cells*s.Cell.Seconds() + float64(n)*float64(v+100)/1.5e9 + 0.3
				key := report.ThroughputKey{Cache: p.Name, ValueSize: v, Keys: n}
				j := add(pl, &pl.d.Throughput, "throughput", key, fmt.Sprintf("throughput %s %s×%dB", p.Name, count(n), v), w, fixed(params))
				j.late = n == bigN
			}
		}
	}
}

func (pl *planner) planGC() {
	s := pl.s
	for _, n := range s.GCEntries {
		// Tuned configurations size tables and buffers; the heap they leave the GC is the same
		// (the report says so), and the Go-heap caches' GC jobs are the longest of the run.
		for _, p := range pl.peers(caches.Defaults()) {
			params := measure.GCParams{Cache: p.Name, Entries: n, ValueSize: 64, ForcedGCs: s.ForcedGCs, AllocRuns: s.AllocRuns, AllocBytes: s.AllocBytes, GCTimeCap: s.GCTimeCap}
			w := float64(n)/1e6 + float64(s.AllocRuns)*float64(s.AllocBytes)/2e9 + 0.2
			if p.Bound != caches.Bytes {
				w += float64(2*s.ForcedGCs) * float64(n) / 1e7
			}
			j := add(pl, &pl.d.GC, "gc", report.GCKey{Cache: p.Name, Entries: n}, fmt.Sprintf("gc %s %s", p.Name, count(n)), w, fixed(params))
			j.late = n == slices.Max(s.GCEntries)
		}
	}
}

func (pl *planner) planMemory() {
	s := pl.s
	for _, v := range s.MemValues {
		for _, b := range s.MemBudgets {
			for _, p := range pl.peers(caches.All()) {
				params := measure.MemoryParams{Cache: p.Name, Budget: b, ValueSize: v}
				w := float64(b)/float64(16+v)*3/2e6 + 0.3
				key := report.MemoryKey{Cache: p.Name, Budget: b, ValueSize: v}
				add(pl, &pl.d.Memory, "memory", key, fmt.Sprintf("memory %s %dMiB 16+%dB", p.Name, b>>20, v), w, fixed(params))
			}
		}
	}
}

// hitPeers are the caches with a size bound, and the LRU baseline.
func (pl *planner) hitPeers() []caches.Peer {
	return slices.DeleteFunc(pl.peers(caches.WithBaseline()), func(p caches.Peer) bool { return p.Bound == caches.Unbounded })
}

func (pl *planner) planHit(accesses map[string]int) {
	for _, w := range measure.HitWorkloads {
		n, ok := accesses[w.Name]
		if !ok {
			continue
		}
		sizes := w.Sizes
		if pl.s.HitSizes > 0 {
			sizes = sizes[:min(pl.s.HitSizes, len(sizes))]
		}
		for _, p := range pl.hitPeers() {
			params := measure.HitParams{Cache: p.Name, Workload: w.Name, TraceDir: pl.d.TraceDir, Limit: pl.s.HitLimit, Sizes: sizes}
			wt := float64(n*len(sizes))/4e6 + 0.3
			if p.Bound == caches.Bytes {
				wt += float64(len(sizes)) * float64(slices.Max(sizes)) * 9 / 4e6
			}
			add(pl, &pl.d.Hit, "hit", report.HitKey{Cache: p.Name, Workload: w.Name}, fmt.Sprintf("hit ratio %s %s", p.Name, w.Name), wt, fixed(params))
		}
	}
}

// planHitMem plans, per workload and cache, two calibration fills and a replay at the
// configuration whose RSS matches the budget.
func (pl *planner) planHitMem(accesses, unique map[string]int) {
	budget := pl.s.RSSBudget
	for _, w := range measure.HitWorkloads {
		if _, ok := accesses[w.Name]; !ok {
			continue
		}
		es := measure.MemEntrySize(budget, unique[w.Name])
		for _, p := range pl.hitPeers() {
			st := &report.HitMemData{RSSBudget: budget, EntrySize: es}
			var skip string
			name := fmt.Sprintf("equal-memory %s %s", p.Name, w.Name)
			for try := range 2 {
				pl.jobs = append(pl.jobs, job{
					name: name + " (calibrate)", weight: float64(budget)/float64(es)*3/2e6 + 0.5, kind: "rssfill",
					params: func() (any, string) {
						if skip != "" {
							return nil, skip
						}
						return measure.RSSFillParams{Cache: p.Name, Param: nextParam(st, budget, try), EntrySize: es}, ""
					},
					store: func(resp response) {
						var r measure.RSSFillResult
						switch {
						case resp.Skip != "":
							skip = resp.Skip
						case resp.Err != "":
							skip = "calibration failed: " + resp.Err
						case json.Unmarshal(resp.Result, &r) != nil || r.RSS <= 0:
							skip = "RSS did not grow measurably"
						default:
							st.Tries = append(st.Tries, report.RSSTry{Param: nextParam(st, budget, try), RSS: r.RSS})
						}
					},
				})
			}
			key := report.HitMemKey{Cache: p.Name, Workload: w.Name}
			pl.jobs = append(pl.jobs, job{
				name: name, weight: float64(accesses[w.Name])/4e6 + 0.5, kind: "hitmem",
				params: func() (any, string) {
					if skip != "" {
						return nil, skip
					}
					st.Param = nextParam(st, budget, 2)
					return measure.HitMemParams{Cache: p.Name, Workload: w.Name, TraceDir: pl.d.TraceDir, Limit: pl.s.HitLimit, Param: st.Param, EntrySize: es}, ""
				},
				store: func(resp response) {
					o := report.Outcome[report.HitMemKey, report.HitMemData]{Key: key, Skip: resp.Skip, Err: resp.Err}
					if resp.Result != nil {
						if err := json.Unmarshal(resp.Result, &st.Replay); err != nil {
							o.Err = err.Error()
						} else {
							o.Result = st
						}
					}
					pl.d.HitMem = append(pl.d.HitMem, o)
				},
			})
		}
	}
}

// nextParam is the configuration parameter of calibration step i: the budget itself first,
// then a proportional correction; the replay then interpolates between the two fills when they
// fall on either side of the budget, and otherwise corrects the one that came closer.
func nextParam(st *report.HitMemData, budget int64, i int) int64 {
	switch {
	case i == 0 || len(st.Tries) == 0:
		return budget
	case i == 1 || len(st.Tries) == 1:
		return scale(st.Tries[0], budget)
	}
	a, b := st.Tries[0], st.Tries[1]
	if (a.RSS-budget)*(b.RSS-budget) < 0 {
		return b.Param + int64(float64(budget-b.RSS)*float64(b.Param-a.Param)/float64(b.RSS-a.RSS))
	}
	if abs(a.RSS-budget) < abs(b.RSS-budget) {
		return scale(a, budget)
	}
	return scale(b, budget)
}

// scale corrects a try's parameter in proportion to how far its RSS missed the budget.
func scale(t report.RSSTry, budget int64) int64 {
	return max(int64(float64(t.Param)*float64(budget)/float64(t.RSS)), 1)
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (pl *planner) planLatency() {
	s := pl.s
	for _, ttl := range []bool{false, true} {
		for _, p := range pl.peers(caches.All()) {
			params := measure.LatencyParams{Cache: p.Name, Budget: s.LatBudget, ValueSize: s.LatValue, WriteRate: s.LatRate, Runs: s.LatRuns, Duration: s.LatDuration}
			mode := "churn"
			if ttl {
				params.TTL, mode = s.LatTTL, "TTL"
			}
			w := float64(s.LatRuns)*s.LatDuration.Seconds() + float64(s.LatBudget)/1e8 + 0.3
			add(pl, &pl.d.Latency, "latency", report.LatencyKey{Cache: p.Name, TTL: ttl}, fmt.Sprintf("latency %s %s", p.Name, mode), w, fixed(params))
		}
	}
}

// count formats a key count as 10k, 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
