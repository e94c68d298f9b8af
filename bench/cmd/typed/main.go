// Command typed measures mmcache's typed layer (mmcache.Typed) beside otter v2 and theine,
// two caches that keep Go values on the heap:
//
// A. Typed Get and Set, with the same 16-byte string keys, of a 10-field struct (Record: ints,
// strings, a float, a bool, a slice of strings) and of int64 values. mmcache stores the struct
// through JSONCodec and through BinaryCodec with Record's hand-written AppendBinary and
// UnmarshalBinary, and int64 through IntCodec; otter and theine hold the Go values as they are.
// For each entry count of -n, each cache and value kind runs in a fresh process of its own
// (this binary, started with a hidden -worker argument) that preloads the entries and then
// reports: live heap objects and forced-GC wall time (median of 5 runtime.GC calls), VmRSS,
// and Get and Set throughput on 2 goroutines (ns/op, wall time over all their operations) and
// allocations per operation, with zipf-distributed keys (s 1.01) by default. mmcache's
// Capacity is twice the payload (n × (16 + encoded value + 48) bytes), otter's MaximumSize and
// theine's size twice the entry count: no cache evicts during the preload, and the Get runs,
// which come first, all hit. The Set runs overwrite preloaded keys; where they overwrite faster
// than mmcache compacts, it evicts some entries, and the output says how many. The point to see: mmcache's heap objects and GC time stay
// flat as the entries grow from 100 k to 1 M, while the heap caches' grow with them.
//
// B. A stampede: 1,000 goroutines released together, each making 5 requests for keys picked at
// random among 100 keys that no cache holds yet, through mmcache's Typed.GetOrLoad, otter's
// Cache.Get with a Loader and theine's LoadingCache.Get, with a loader that sleeps 10 ms. It
// reports the loader calls (one per key is ideal: 100), the p50, p99 and maximum latency of the
// requests, and the wall time of each round.
//
// The output is plain-text tables on stdout, after a header line with the command and
// GOMAXPROCS; progress goes to stderr. About 2½ minutes on 2 cores (most of it the heap caches'
// preloads of 1 M entries, which their GCs slow down), with no process above 0.5 GiB resident.
//
//	cd bench && go run ./cmd/typed
//	cd bench && go run ./cmd/typed -n 100000          # one entry count, about 30 s
//
// Flags: -n (entry counts), -caches, -goroutines, -dist zipf|uniform, -zipf, -runs, -d (one
// timed run), -capx (mmcache's Capacity over its payload), and the stampede's -callers, -hot,
// -requests, -rounds and -delay.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// subject is one row of part A: a cache and the kind of value it stores.
type subject struct {
	Cache string
	Value string // the worker's value kind
	Label string
}

var subjects = []subject{
	{"mmcache", "json", "struct, JSONCodec"},
	{"mmcache", "binary", "struct, BinaryCodec"},
	{"mmcache", "int64", "int64, IntCodec"},
	{"otter", "struct", "struct (Go value)"},
	{"otter", "int64", "int64"},
	{"theine", "struct", "struct (Go value)"},
	{"theine", "int64", "int64"},
}

// opsRow is one measured row of part A.
type opsRow struct {
	subject
	N   int
	Res opsResult
}

// stampedeRow is one measured row of part B.
type stampedeRow struct {
	Cache string
	Res   stampedeResult
}

// main runs part A for every entry count and part B, each cache and value kind in a worker
// process of its own, and prints the tables; with the hidden -worker argument it is a worker.
func main() {
	if len(os.Args) > 1 && os.Args[1] == workerFlag {
		runWorker()
		return
	}
	counts := flag.String("n", "100000,1000000", "comma-separated entry counts to preload (k and M suffixes allowed)")
	cacheList := flag.String("caches", "mmcache,otter,theine", "comma-separated caches")
	goroutines := flag.Int("goroutines", 2, "goroutines running Get and Set")
	dist := flag.String("dist", "zipf", "key choice for Get and Set: zipf or uniform")
	zipfS := flag.Float64("zipf", 1.01, "zipf exponent (above 1)")
	runs := flag.Int("runs", 3, "timed runs of Get and of Set, alternating")
	dur := flag.Duration("d", 500*time.Millisecond, "duration of one timed run")
	callers := flag.Int("callers", 1000, "stampede: goroutines")
	hot := flag.Int("hot", 100, "stampede: missing hot keys")
	requests := flag.Int("requests", 5, "stampede: requests per goroutine")
	rounds := flag.Int("rounds", 3, "stampede: rounds, each on a fresh cache")
	delay := flag.Duration("delay", 10*time.Millisecond, "stampede: the loader's sleep")
	seed := flag.Uint64("seed", 1, "seed of the key sequences")
	capx := flag.Float64("capx", 2, "mmcache's Capacity as a multiple of its payload, n × (16 + value + 48) bytes")
	flag.Parse()

	ns, err := parseCounts(*counts)
	if err != nil {
		fail(err)
	}
	if *dist != "zipf" && *dist != "uniform" {
		fail(fmt.Errorf("-dist %q: want zipf or uniform", *dist))
	}
	if *dist == "zipf" && *zipfS <= 1 {
		fail(fmt.Errorf("-zipf %g: must be above 1", *zipfS))
	}
	want := map[string]bool{}
	for _, c := range strings.Split(*cacheList, ",") {
		switch c {
		case "mmcache", "otter", "theine":
			want[c] = true
		default:
			fail(errUnknownCache(c))
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fail(err)
	}
	base := job{Goroutines: *goroutines, Dist: *dist, ZipfS: *zipfS, Runs: *runs, Dur: *dur, Seed: *seed, CapFactor: *capx,
		Callers: *callers, HotKeys: *hot, Requests: *requests, Rounds: *rounds, LoadDelay: *delay}

	start := time.Now()
	printHeader(base)
	var rows []opsRow
	for _, n := range ns {
		var these []opsRow
		for _, s := range subjects {
			if !want[s.Cache] {
				continue
			}
			j := base
			j.Kind, j.Cache, j.Value, j.N = "ops", s.Cache, s.Value, n
			row := opsRow{subject: s, N: n}
			t := time.Now()
			if err := runChild(exe, j, &row.Res); err != nil {
				row.Res.Err = err.Error()
			}
			progress("%s entries, %s %s: done in %s", count(n), s.Cache, s.Label, time.Since(t).Round(100*time.Millisecond))
			these = append(these, row)
		}
		printOps(base, n, these)
		rows = append(rows, these...)
	}
	if len(ns) > 1 {
		printGC(ns, rows)
	}
	var st []stampedeRow
	for _, c := range []string{"mmcache", "otter", "theine"} {
		if !want[c] {
			continue
		}
		j := base
		j.Kind, j.Cache = "stampede", c
		row := stampedeRow{Cache: c}
		if err := runChild(exe, j, &row.Res); err != nil {
			row.Res.Err = err.Error()
		}
		progress("stampede, %s: done", c)
		st = append(st, row)
	}
	printStampede(base, st)
	fmt.Printf("\nWall time %s. Load average at the end: %s.\n", time.Since(start).Round(time.Second), loadAvg())
}

// runChild runs j in a fresh process of this binary and decodes its result into out. The
// child's stderr goes to ours.
func runChild(exe string, j job, out any) error {
	in, err := json.Marshal(j)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, workerFlag)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return json.Unmarshal(stdout.Bytes(), out)
}

// parseCounts parses "100000,1M,250k".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "M"):
			f, mult = strings.TrimSuffix(f, "M"), 1_000_000
		case strings.HasSuffix(f, "k"):
			f, mult = strings.TrimSuffix(f, "k"), 1_000
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 || v*mult > 100_000_000 {
			return nil, fmt.Errorf("bad entry count %q (want 1 to 100M)", f)
		}
		out = append(out, v*mult)
	}
	return out, nil
}

// errUnknownCache is the error for a cache name this command does not know.
func errUnknownCache(name string) error {
	return fmt.Errorf("unknown cache %q (want mmcache, otter or theine)", name)
}

// moduleVersion returns the version of a dependency built into this binary, or "?".
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return "?"
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown"
}

// progress writes a line of progress on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "typed: "+format+"\n", args...)
}

// fail reports err and exits.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "typed:", err)
	os.Exit(2)
}

// gomaxprocs is the GOMAXPROCS of this process, which the workers inherit.
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
