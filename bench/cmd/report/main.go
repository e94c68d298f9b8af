// Command report runs mmcache's benchmarks against its peers and writes docs/benchmarks.md,
// its charts (docs/img/*.png), a summary table for the README (docs/summary.md) and the raw
// measurements (docs/benchmarks.json).
//
//	cd bench && go run ./cmd/report -out ../docs          # the full run, under 30 minutes on 2 cores
//	cd bench && go run ./cmd/report -quick -out /tmp/x    # every workload tiny: checks that it all works
//
// Each measurement runs in a fresh process of this binary (started with a hidden -worker
// argument), so that no cache's heap or mappings affect another's numbers.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/measure"
	"github.com/mmcache/mmcache/bench/internal/report"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// sections lists the parts of a run, in order.
var sections = []string{"speed", "throughput", "gc", "memory", "hit", "hitmem", "latency"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == workerFlag {
		runWorker()
		return
	}
	out := flag.String("out", "../docs", "directory to write benchmarks.md, summary.md, benchmarks.json and img/ into")
	quick := flag.Bool("quick", false, "run every workload tiny, only to check that it works (for CI)")
	traces := flag.String("traces", "", "folder holding the access traces (default: ../shared/traces relative to the repository root)")
	only := flag.String("only", "", "comma-separated sections to run: "+strings.Join(sections, ","))
	cacheList := flag.String("caches", "", "comma-separated caches to run (default: all)")
	limit := flag.Duration("limit", 0, "start no job after this much time (default: 28m for a full run, none with -quick); skipped jobs are listed in the report")
	verbose := flag.Bool("v", false, "list the slowest jobs at the end")
	from := flag.String("from", "", "render the report from a saved benchmarks.json instead of measuring")
	flag.Parse()

	if *from != "" {
		d, err := load(*from)
		check(err)
		check(report.Write(d, *out))
		fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(*out, "benchmarks.md"))
		return
	}

	s := fullSettings()
	if *quick {
		s = quickSettings()
	}
	exe, err := os.Executable()
	check(err)
	check(os.MkdirAll(*out, 0o755))
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("mmcache-report-%d.log", os.Getpid()))
	logFile, err := os.Create(logPath)
	check(err)
	defer logFile.Close()

	d := &report.Data{Machine: sysinfo.Describe(), Settings: s, Started: time.Now().UTC()}
	for _, p := range caches.WithBaseline() {
		d.Peers = append(d.Peers, report.PeerInfo{Name: p.Name, Setup: p.Setup(), Module: p.Module, Version: caches.Version(p), Bound: p.Bound.String(), TTL: p.TTL, Baseline: p.Baseline, MinBudget: p.MinBudget})
	}
	pl := &planner{s: s, d: d, filter: listFilter(*cacheList), section: listFilter(*only)}

	accesses, unique := map[string]int{}, map[string]int{}
	if pl.section("hit") || pl.section("hitmem") {
		dir := *traces
		if dir == "" {
			dir = workload.DefaultTraceDir()
		}
		if d.TraceDir, err = workload.FindTraces(dir); err != nil {
			d.TraceNote = fmt.Sprintf("The trace folder was not found (%v), so the trace workloads were skipped; the zipf workloads ran.", err)
			fmt.Fprintln(os.Stderr, "note: "+d.TraceNote)
		}
		fmt.Fprintln(os.Stderr, "reading the hit-ratio workloads...")
		for _, w := range measure.HitWorkloads {
			if w.Trace != "" && d.TraceDir == "" {
				continue
			}
			keys, err := w.LoadKeys(d.TraceDir, s.HitLimit)
			check(err)
			accesses[w.Name], unique[w.Name] = len(keys), workload.Unique(keys)
		}
	}

	plan := map[string]func(){
		"speed": pl.planSpeed, "throughput": pl.planThroughput, "gc": pl.planGC, "memory": pl.planMemory,
		"hit": func() { pl.planHit(accesses) }, "hitmem": func() { pl.planHitMem(accesses, unique) }, "latency": pl.planLatency,
	}
	for _, sec := range sections {
		if pl.section(sec) {
			plan[sec]()
		}
	}
	start := time.Now()
	r := newRunner(exe, logFile, pl.jobs)
	if *limit == 0 && !*quick {
		*limit = 28 * time.Minute
	}
	if *limit > 0 {
		r.deadline = start.Add(*limit)
	}
	r.runAll(pl.jobs)
	d.WallSeconds = time.Since(start).Seconds()
	d.Limit, d.Overrun = *limit, r.overrun
	if *verbose {
		r.slowest(os.Stderr, 25)
	}
	d.LoadAvgEnd = sysinfo.LoadAvg()

	check(save(d, filepath.Join(*out, "benchmarks.json")))
	check(report.Write(d, *out))
	fmt.Fprintf(os.Stderr, "%d jobs in %s; wrote %s\n", len(pl.jobs), time.Duration(d.WallSeconds*float64(time.Second)).Round(time.Second), filepath.Join(*out, "benchmarks.md"))
	if r.overrun > 0 {
		fmt.Fprintf(os.Stderr, "%d jobs were skipped for the time limit\n", r.overrun)
	}
	if r.failed > 0 {
		fmt.Fprintf(os.Stderr, "%d jobs failed; worker output is in %s\n", r.failed, logPath)
		os.Exit(1)
	}
}

// listFilter returns a predicate accepting every name in a comma-separated list, or all
// names when the list is empty.
func listFilter(list string) func(string) bool {
	if list == "" {
		return func(string) bool { return true }
	}
	names := strings.Split(list, ",")
	return func(n string) bool { return slices.Contains(names, n) }
}

func save(d *report.Data, path string) error {
	data, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func load(path string) (*report.Data, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := new(report.Data)
	return d, json.Unmarshal(data, d)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}
