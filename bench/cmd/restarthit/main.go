// Command restarthit measures what a warm restart is worth in hit ratio. It replays recorded
// access traces (../shared/traces, read by the bench's workload package) through an mmcache
// cache over a file on tmpfs (Config.Path), as a read-through cache would: Get each key, and on a
// miss Set it with a fixed-size value. At the trace's midpoint the process "restarts":
//
//   - warm: the cache is closed and New maps the same file again, every entry in place;
//   - cold: a new, empty cache of the same Config over another file;
//   - no restart, for reference: a third cache of the same Config replays the whole trace
//     without closing.
//
// It prints, for each, the hit ratio over the first minute of requests after the restart and
// over the rest of the trace. Traces carry no timestamps, so the minute is a stated number of
// requests: 60 × -rate (60,000 at the default 1,000 requests/s), or what is left of the trace if
// that is less.
//
// Each cache is sized in bytes, the Capacity at which mmcache holds -fraction of the trace's
// distinct keys as entries of a 16-byte key and a -value byte value (found by filling it with
// distinct keys and counting those Get still finds, as the report's hit-ratio section sizes
// byte-bounded caches); the table states that Capacity and the entries held at the restart.
//
// This is a command of its own rather than a flag of cmd/snapshot: it measures hit ratios on
// traces, not times on synthetic entries, so it shares neither the workload nor the flags, and
// it runs in seconds where cmd/snapshot takes minutes.
//
// The key streams, sizes and restart points are fixed, and JanitorInterval is negative so that
// no background goroutine makes a replay depend on timing. mmcache seeds its hash at random for
// each new cache (a reattached one keeps its file's seed), which moves keys between shards and
// so the hit ratios by a little from run to run: each cell is the median of -runs runs, and the
// largest spread over the runs is printed under the table.
//
//	cd bench && go run ./cmd/restarthit
//	cd bench && go run ./cmd/restarthit -workloads oltp,p3,scarab,vault -fraction 0.25 -rate 1000 -runs 3
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/measure"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

func main() {
	traceDir := flag.String("traces", "", "folder holding the access traces (default: ../shared/traces relative to the repository root)")
	names := flag.String("workloads", "oltp,p3,scarab,vault", "comma-separated traces to replay: "+traceNames())
	dir := flag.String("dir", "/dev/shm", "directory for the cache files (tmpfs)")
	fraction := flag.Float64("fraction", 0.25, "entries the cache holds, as a fraction of the trace's distinct keys")
	valueSize := flag.Int("value", 64, "value size in bytes given to every key")
	rate := flag.Int("rate", 1000, "requests per second that define the minute after the restart")
	runs := flag.Int("runs", 3, "runs of each replay; each cell is their median")
	flag.Parse()
	if *fraction <= 0 || *valueSize < 0 || *rate <= 0 || *runs <= 0 {
		fail(fmt.Errorf("-fraction, -rate and -runs must be positive, -value not negative"))
	}
	if *traceDir == "" {
		*traceDir = workload.DefaultTraceDir()
	}
	tdir, err := workload.FindTraces(*traceDir)
	check(err)

	m := sysinfo.Describe()
	minute := 60 * *rate
	fmt.Printf("Machine: %s, %d logical cores, GOMAXPROCS %d, %s; mmcache %s.\n\n", m.CPU, m.Cores, runtime.GOMAXPROCS(0), m.GoVersion, caches.Version(caches.Peer{Module: "github.com/mmcache/mmcache"}))
	fmt.Printf("Read-through replay (Get, and Set on a miss) of each trace, keys of %d B and values of %d B, through mmcache with Config.Path in %s and JanitorInterval -1; "+
		"Capacity sized to hold %.0f%% of the trace's distinct keys. Restart at the trace's midpoint. "+
		"The first minute is the first %s requests after the restart (a minute at %s requests/s); the rest is every later request. Median of %d runs.\n\n",
		workload.KeySize, *valueSize, *dir, *fraction*100, thousands(minute), thousands(*rate), *runs)

	var rows []row
	for _, name := range strings.Split(*names, ",") {
		tf, ok := traceByName(name)
		if !ok {
			fail(fmt.Errorf("unknown trace %q (known: %s)", name, traceNames()))
		}
		fmt.Fprintf(os.Stderr, "restarthit: %s\n", name)
		r, err := measureTrace(tdir, tf, *dir, *fraction, *valueSize, minute, *runs)
		check(err)
		rows = append(rows, r)
	}
	printTable(rows, minute)
}

// row is one trace's outcome.
type row struct {
	name             string
	accesses, unique int
	capacity         int
	held             []int // entries at the restart, per run
	minute           int   // requests in the first minute (less than asked if the trace is short)
	// Hit ratios, one per run, over the first minute and over the rest of the trace.
	warmMinute, coldMinute, noneMinute []float64
	warmRest, coldRest, noneRest       []float64
}

// measureTrace replays trace tf runs times with a warm restart, a cold one and none.
func measureTrace(tdir string, tf workload.TraceFile, dir string, fraction float64, valueSize, minute, runs int) (row, error) {
	keys, err := workload.LoadTrace(tdir, tf, 0)
	if err != nil {
		return row{}, err
	}
	r := row{name: tf.Name, accesses: len(keys), unique: workload.Unique(keys)}
	spec := caches.Spec{Entries: max(int(fraction*float64(r.unique)), 1), KeySize: workload.KeySize, ValueSize: valueSize}
	budget, _, err := measure.Calibrate("mmcache", spec)
	if _, ok := measure.AsSkip(err); ok {
		// Below mmcache's minimum size: the smallest cache it makes, which holds more.
		budget, err = mmcache.MinCapacity, nil
	}
	if err != nil {
		return r, err
	}
	r.capacity = max(int(budget), mmcache.MinCapacity)
	mid := len(keys) / 2
	r.minute = min(minute, len(keys)-mid)
	value := workload.Value(valueSize)

	warmPath := filepath.Join(dir, "mmcache-restarthit-warm.cache")
	coldPath := filepath.Join(dir, "mmcache-restarthit-cold.cache")
	nonePath := filepath.Join(dir, "mmcache-restarthit-none.cache")
	defer removeAll(warmPath, coldPath, nonePath)
	for range runs {
		removeAll(warmPath, coldPath, nonePath)
		cfg := mmcache.Config{Capacity: r.capacity, JanitorInterval: -1}

		// The first half, then the restart.
		cfg.Path = warmPath
		c, err := mmcache.New(cfg)
		if err != nil {
			return r, err
		}
		replay(c, keys[:mid], value)
		r.held = append(r.held, c.Len())
		if err := c.Close(); err != nil {
			return r, err
		}

		// Warm: the same file mapped again.
		m, rest, err := second(cfg, keys[mid:], r.minute, value)
		if err != nil {
			return r, err
		}
		r.warmMinute, r.warmRest = append(r.warmMinute, m), append(r.warmRest, rest)

		// Cold: an empty cache of the same Config over another file.
		cfg.Path = coldPath
		m, rest, err = second(cfg, keys[mid:], r.minute, value)
		if err != nil {
			return r, err
		}
		r.coldMinute, r.coldRest = append(r.coldMinute, m), append(r.coldRest, rest)

		// No restart: the whole trace through one cache.
		cfg.Path = nonePath
		c, err = mmcache.New(cfg)
		if err != nil {
			return r, err
		}
		replay(c, keys[:mid], value)
		hits := replay(c, keys[mid:], value, r.minute)
		if err := c.Close(); err != nil {
			return r, err
		}
		r.noneMinute = append(r.noneMinute, ratio(hits[0], r.minute))
		r.noneRest = append(r.noneRest, ratio(hits[1], len(keys)-mid-r.minute))
		removeAll(warmPath, coldPath, nonePath)
	}
	return r, nil
}

// second opens a cache of cfg (reattaching its file if there is one), replays the second half
// of a trace through it and closes it; it returns the hit ratios over the first minute requests
// and over the rest.
func second(cfg mmcache.Config, keys []uint64, minute int, value []byte) (float64, float64, error) {
	c, err := mmcache.New(cfg)
	if err != nil {
		return 0, 0, err
	}
	hits := replay(c, keys, value, minute)
	if err := c.Close(); err != nil {
		return 0, 0, err
	}
	return ratio(hits[0], minute), ratio(hits[1], len(keys)-minute), nil
}

// replay runs keys through c as a read-through cache would: Get, and Set value on a miss. The
// bounds split the stream into windows, [0, bounds[0]), [bounds[0], bounds[1]), ..., up to the
// end; it returns the hits in each.
func replay(c *mmcache.Cache, keys []uint64, value []byte, bounds ...int) []int {
	hits := make([]int, len(bounds)+1)
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, len(value)+64)
	w := 0
	for i, k := range keys {
		for w < len(bounds) && i >= bounds[w] {
			w++
		}
		key := workload.Key(kb[:], k)
		var ok bool
		if buf, ok = c.Get(buf[:0], key); ok {
			hits[w]++
		} else if err := c.Set(key, value); err != nil {
			fail(err)
		}
	}
	return hits
}

// printTable prints the rows as a markdown table, with the largest spread over the runs below.
func printTable(rows []row, minute int) {
	fmt.Println("| Trace | Accesses | Distinct keys | Capacity | Entries at the restart | Minute: warm | Minute: cold | Minute: no restart | Rest: warm | Rest: cold | Rest: no restart |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	spread, short := 0.0, false
	for _, r := range rows {
		held := medianInt(r.held)
		label := r.name
		if r.minute < minute {
			label += fmt.Sprintf(" (minute: %s requests)", thousands(r.minute))
			short = true
		}
		rest := []string{pct(r.warmRest), pct(r.coldRest), pct(r.noneRest)}
		if r.accesses-r.accesses/2 == r.minute {
			rest = []string{"–", "–", "–"}
		}
		fmt.Printf("| %s | %s | %s | %.1f MiB | %s (%.0f%%) | %s | %s | %s | %s | %s | %s |\n",
			label, thousands(r.accesses), thousands(r.unique), float64(r.capacity)/(1<<20), thousands(held), 100*float64(held)/float64(r.unique),
			pct(r.warmMinute), pct(r.coldMinute), pct(r.noneMinute), rest[0], rest[1], rest[2])
		for _, xs := range [][]float64{r.warmMinute, r.coldMinute, r.noneMinute, r.warmRest, r.coldRest, r.noneRest} {
			spread = max(spread, slices.Max(xs)-slices.Min(xs))
		}
	}
	fmt.Printf("\nLargest spread over the runs of any cell (max − min): %.2f points.\n", 100*spread)
	if short {
		fmt.Println("Where the second half of a trace is shorter than the minute, the minute is the whole second half and the rest is empty.")
	}
}

// ratio is hits over n, 0 when n is 0.
func ratio(hits, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(hits) / float64(n)
}

// pct formats the median of ratios as a percentage.
func pct(xs []float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	return fmt.Sprintf("%.1f%%", 100*s[len(s)/2])
}

// medianInt returns the median of xs.
func medianInt(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// thousands formats n with thousands separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// traceByName finds a trace the workload package knows.
func traceByName(name string) (workload.TraceFile, bool) {
	for _, tf := range workload.TraceFiles {
		if tf.Name == name {
			return tf, true
		}
	}
	return workload.TraceFile{}, false
}

// traceNames lists the traces the workload package knows.
func traceNames() string {
	var names []string
	for _, tf := range workload.TraceFiles {
		names = append(names, tf.Name)
	}
	return strings.Join(names, ",")
}

// removeAll removes the files at paths, ignoring those that do not exist.
func removeAll(paths ...string) {
	for _, p := range paths {
		_ = os.Remove(p)
	}
}

// check ends the program on a non-nil err.
func check(err error) {
	if err != nil {
		fail(err)
	}
}

// fail prints err and exits with status 1.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "restarthit:", err)
	os.Exit(1)
}
