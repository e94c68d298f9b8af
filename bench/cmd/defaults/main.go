// Command defaults compares caches side by side on their defaults, as a user would set them
// up: the scenario of issue 9. Two goroutines, N keys of 16 bytes preloaded with values of 64 B
// and of 1 KiB, zipf 1.01 key popularity, every cache sized at twice its payload
// (2 × N × (16+value) bytes) and otherwise left on its defaults, and three cells per
// combination: Get only, 75% Get / 25% Set, Set only (Sets overwrite existing keys).
//
//	cd bench && go run ./cmd/defaults                  # 1 M and 10 M keys, about 10 minutes on 2 cores
//	cd bench && go run ./cmd/defaults -keys 1M         # 1 M keys only, about 3 minutes
//
// Each cache lives in a process of its own (this binary, started with a hidden -worker
// argument). Where the caches of a combination fit in memory together, they are all preloaded
// first and their runs interleaved, run by run and cell by cell, with the caches taken in a
// rotating order, so that a noisy moment of the machine hits every cache alike. Where they do
// not fit together (10 M keys of 1 KiB values: about 20 GiB per cache), each cache runs alone
// in a fresh process, its runs interleaved across the three cells, and the report says so.
// Every worker stops itself if the machine's available memory falls under a floor (-floor).
//
// The result is a markdown table per combination on stdout: the median ns/op of the runs (wall
// time over the operations of both goroutines together, as testing's RunParallel reports it),
// their spread, and the ratio of mmcache's ns/op to the best of freecache and fastcache.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// cell is one column of operations: readPct% Gets, the rest Sets.
type cell struct {
	Name    string
	ReadPct int
}

var cells = []cell{{"Get", 100}, {"75% Get / 25% Set", 75}, {"Set", 0}}

// rivals are the caches mmcache's ratio is taken against: the best of them in each cell.
var rivals = []string{"freecache", "fastcache"}

// settings are the flags of a run.
type settings struct {
	Keys       []int
	Values     []int
	Caches     []string
	Runs       int
	Cell       time.Duration
	Warm       time.Duration
	Goroutines int
	ZipfS      float64
	SeqLen     int
	Floor      int64
}

// result is what one cache did in one combination.
type result struct {
	Cache          string
	Config         string `json:",omitempty"`
	PreloadSeconds float64
	Len            int
	MaxRSS         int64
	NsPerOp        [][]float64 // per cell, one value per run
	HitRate        [][]float64
	Note           string `json:",omitempty"` // why it did not run, or stopped early
}

// combo is one (keys, value size) combination.
type combo struct {
	Keys, ValueSize int
	Budget          int64
	Alone           bool   // the caches ran one at a time rather than side by side
	LoadAvg         string // load averages before and after the combination ran
	Results         []*result
}

// run is the whole output, also saved with -json.
type run struct {
	Command     string
	Machine     sysinfo.Machine
	MmcacheAt   string
	Settings    settings
	LoadAvgEnd  string
	WallSeconds float64
	Combos      []*combo
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == workerFlag {
		runWorker()
		return
	}
	keys := flag.String("keys", "1M,10M", "comma-separated key counts (k and M suffixes)")
	values := flag.String("values", "64,1024", "comma-separated value sizes in bytes")
	cacheList := flag.String("caches", "mmcache,freecache,fastcache,bigcache,otter", "comma-separated caches, each on its defaults")
	runs := flag.Int("runs", 5, "timed runs of each cell")
	cellDur := flag.Duration("cell", time.Second, "duration of one timed run")
	warm := flag.Duration("warm", 300*time.Millisecond, "untimed run of each cell before the timed ones")
	goroutines := flag.Int("goroutines", 2, "goroutines running each cell")
	zipfS := flag.Float64("zipf", 1.01, "zipf exponent of the key choice")
	floor := flag.Int64("floor", 2048, "MiB of available machine memory under which a worker stops")
	jsonOut := flag.String("json", "", "also write the raw runs to this file")
	flag.Parse()

	s := settings{Runs: *runs, Cell: *cellDur, Warm: *warm, Goroutines: *goroutines, ZipfS: *zipfS, SeqLen: 1 << 22, Floor: *floor << 20}
	var err error
	if s.Keys, err = parseCounts(*keys); err != nil {
		fail(err)
	}
	if s.Values, err = parseCounts(*values); err != nil {
		fail(err)
	}
	for _, name := range strings.Split(*cacheList, ",") {
		if _, ok := caches.ByName(name); !ok {
			fail(fmt.Errorf("unknown cache %q", name))
		}
		s.Caches = append(s.Caches, name)
	}
	exe, err := os.Executable()
	if err != nil {
		fail(err)
	}
	mm, _ := caches.ByName("mmcache")
	r := &run{Command: "go run ./cmd/defaults " + strings.Join(os.Args[1:], " "), Machine: sysinfo.Describe(), MmcacheAt: caches.Version(mm), Settings: s}
	start := time.Now()
	header(r)
	for _, n := range s.Keys {
		for _, v := range s.Values {
			t0 := time.Now()
			c := measureCombo(exe, s, n, v)
			progress("%s × 16+%d B done in %s", count(n), v, time.Since(t0).Round(time.Second))
			r.Combos = append(r.Combos, c)
			printCombo(c, s)
		}
	}
	r.WallSeconds, r.LoadAvgEnd = time.Since(start).Seconds(), sysinfo.LoadAvg()
	fmt.Printf("Load average at the end: %s. Wall time %s.\n", r.LoadAvgEnd, time.Duration(r.WallSeconds*float64(time.Second)).Round(time.Second))
	if *jsonOut != "" {
		data, err := json.MarshalIndent(r, "", " ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(data, '\n'), 0o644)
		}
		if err != nil {
			fail(err)
		}
	}
}

// measureCombo runs every cache of one combination, side by side where they fit in memory
// together and one at a time where they do not.
func measureCombo(exe string, s settings, n, v int) *combo {
	c := &combo{Keys: n, ValueSize: v, Budget: 2 * int64(n) * int64(workload.KeySize+v), LoadAvg: sysinfo.LoadAvg()}
	defer func() { c.LoadAvg += " / " + sysinfo.LoadAvg() }()
	var need int64
	for _, name := range s.Caches {
		need += memoryNeed(name, n, v, c.Budget)
	}
	avail := sysinfo.MemAvailable()
	c.Alone = avail >= 0 && need > avail-s.Floor
	for _, name := range s.Caches {
		c.Results = append(c.Results, &result{Cache: name, NsPerOp: make([][]float64, len(cells)), HitRate: make([][]float64, len(cells))})
	}
	if c.Alone {
		progress("%s × 16+%d B: about %s for all caches together, %s available: one cache at a time", count(n), v, gib(need), gib(avail))
		for _, res := range c.Results {
			w := startWorker(exe, s, c, res)
			if w == nil {
				continue
			}
			warmUp(s, []*worker{w})
			for run := range s.Runs {
				for ci := range cells {
					w.measure(s, ci, run)
				}
			}
			w.close()
		}
		return c
	}
	progress("%s × 16+%d B: about %s for all caches together, %s available: side by side", count(n), v, gib(need), gib(avail))
	var ws []*worker
	for _, res := range c.Results {
		if w := startWorker(exe, s, c, res); w != nil {
			ws = append(ws, w)
		}
	}
	warmUp(s, ws)
	for run := range s.Runs {
		for ci := range cells {
			for k := range ws {
				ws[(k+run)%len(ws)].measure(s, ci, run)
			}
		}
	}
	for _, w := range ws {
		w.close()
	}
	return c
}

// memoryNeed estimates the most memory a cache of the combination may take: its budget for a
// cache that bounds its bytes (a log-structured one fills it under Sets), and twice the
// entries with some overhead for one that keeps them on the Go heap (GOGC=100 lets the heap
// grow to twice what is live).
func memoryNeed(name string, n, v int, budget int64) int64 {
	p, _ := caches.ByName(name)
	if p.Bound == caches.Bytes {
		return budget
	}
	return 2 * int64(n) * int64(workload.KeySize+v+100)
}

// warmUp runs each cell once, untimed, on every worker.
func warmUp(s settings, ws []*worker) {
	if s.Warm <= 0 {
		return
	}
	for _, cl := range cells {
		for _, w := range ws {
			if w.stopped() {
				continue
			}
			if _, err := w.request(request{ReadPct: cl.ReadPct, Goroutines: s.Goroutines, Duration: s.Warm, Salt: 1 << 20}); err != nil {
				w.stop(err)
			}
		}
	}
}

// measure makes one timed run of cell ci and records it.
func (w *worker) measure(s settings, ci, run int) {
	if w.stopped() {
		return
	}
	out, err := w.request(request{ReadPct: cells[ci].ReadPct, Goroutines: s.Goroutines, Duration: s.Cell, Salt: uint64(run)})
	if err != nil {
		w.stop(err)
		return
	}
	w.res.NsPerOp[ci] = append(w.res.NsPerOp[ci], out.NsPerOp)
	w.res.HitRate[ci] = append(w.res.HitRate[ci], out.HitRate)
	w.res.MaxRSS = max(w.res.MaxRSS, out.RSS)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// parseCounts reads "1M,10M" or "64,1024".
func parseCounts(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		mult := 1
		switch {
		case strings.HasSuffix(f, "M"):
			f, mult = strings.TrimSuffix(f, "M"), 1_000_000
		case strings.HasSuffix(f, "k"):
			f, mult = strings.TrimSuffix(f, "k"), 1000
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "defaults:", err)
	os.Exit(1)
}

// gib formats bytes in GiB.
func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// count formats a key count as 1 M or 100 k.
func count(n int) string {
	switch {
	case n%1_000_000 == 0:
		return fmt.Sprintf("%d M", n/1_000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%d k", n/1000)
	}
	return fmt.Sprint(n)
}
