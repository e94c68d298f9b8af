// Command gcpacing shows how GOGC and GOMEMLIMIT change the garbage collector's pace beside an
// mmcache.Cache.
//
// The GC starts a cycle when the Go heap has grown by GOGC percent over what the last cycle
// found live (and not before 4 MiB at GOGC=100). mmcache's entries are not on the Go heap, so a service that keeps
// its data in mmcache has a small heap and a low goal: its garbage starts a cycle every few MiB
// of allocation, where a heap cache of the same data would have raised the goal by its own size.
// Each cycle is cheap, since the heap to mark is small, but there are many of them, and each
// takes CPU and stops the world twice, which shows in the latency tail.
//
// The program loads the same entries into mmcache, then runs an allocating workload (each
// request reads a random key and builds a 1 KiB response, on GOMAXPROCS goroutines) under
// several GC settings, each in a process of its own, and prints what each setting costs: GC
// cycles, GC CPU, Get latency percentiles, and the most memory the Go runtime held meanwhile
// (what GOMEMLIMIT limits: mmcache's mapping is not part of it). A last row holds the same
// entries in a map on the Go heap, for comparison.
//
//	go run ./examples/gcpacing
//	go run ./examples/gcpacing -settings 'GOGC=200 GOGC=off,GOMEMLIMIT=1GiB' -nomap
//	go run ./examples/gcpacing -h
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mmcache/mmcache"
)

const keySize, valueSize, respSize = 16, 64, 1024

type options struct {
	n, requests int
	settings    string
	noMap       bool
	child       string // hidden: "mmcache" or "map"; measure in this process, print JSON
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1_000_000, "entries in the cache (16-byte keys, 64-byte values)")
	flag.IntVar(&o.requests, "requests", 2_000_000, "requests in the workload, shared by GOMAXPROCS goroutines")
	flag.StringVar(&o.settings, "settings", "GOGC=100 GOGC=400 GOGC=100,GOMEMLIMIT=256MiB GOGC=off,GOMEMLIMIT=256MiB",
		"GC settings to run mmcache under, separated by spaces; each is a comma-separated list of environment variables")
	flag.BoolVar(&o.noMap, "nomap", false, "leave out the row of a map[string][]byte cache under GOGC=100")
	flag.StringVar(&o.child, "child", "", "internal: measure in this process and print JSON")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "Usage: gcpacing [flags]\n\nShows GC cycles, GC CPU and Get latency beside mmcache under GOGC and GOMEMLIMIT settings.\n\n")
		flag.VisitAll(func(f *flag.Flag) {
			if f.Name != "child" {
				fmt.Fprintf(out, "  -%s\n    \t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	flag.Parse()
	if o.n < 1 || o.requests < 1 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if o.child != "" {
		r, err := measure(o)
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(r)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gcpacing:", err)
			os.Exit(1)
		}
		return
	}

	type run struct{ kind, env string }
	var runs []run
	for _, s := range strings.Fields(o.settings) {
		runs = append(runs, run{"mmcache", s})
	}
	if !o.noMap {
		runs = append(runs, run{"map", "GOGC=100"})
	}
	start := time.Now()
	fmt.Printf("gcpacing: %s entries of %d+%d bytes, %s requests each reading one and allocating %d bytes, on %d goroutines; %s\n\n",
		thousands(o.n), keySize, valueSize, thousands(o.requests), respSize, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("%-36s %9s %8s %7s %8s %8s %8s %9s\n",
		"cache, GC settings", "GC cycles", "GC CPU", "GC %", "Get p50", "p99", "p99.9", "Go memory")
	for _, r := range runs {
		res, err := runChild(r.kind, r.env, o)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gcpacing: %s %s: %v\n", r.kind, r.env, err)
			os.Exit(1)
		}
		fmt.Printf("%-36s %9d %7.3fs %6.1f%% %8s %8s %8s %5d MiB\n",
			r.kind+", "+strings.ReplaceAll(r.env, ",", " "), res.GCCycles, res.GCCPU, 100*res.GCCPU/res.TotalCPU,
			micros(res.P50), micros(res.P99), micros(res.P999), res.GoMemory>>20)
	}
	fmt.Printf("\nGC CPU is the runtime's estimate (runtime/metrics) during the workload; GC %% is its share of the\n")
	fmt.Printf("CPU available then (GOMAXPROCS times the wall time). Get latency includes reading the clock.\n")
	fmt.Printf("Go memory is the most the Go runtime held during the workload (sampled every 10 ms): the heap,\n")
	fmt.Printf("the map's entries included, but not mmcache's mapping, which comes on top. Total %.1fs.\n", time.Since(start).Seconds())
}

// runChild runs this program again with -child kind and the environment settings env
// (comma-separated), and decodes its result.
func runChild(kind, env string, o options) (*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-child", kind, "-n", strconv.Itoa(o.n), "-requests", strconv.Itoa(o.requests))
	// Start from GOGC=100 and no memory limit, whatever this process was given.
	cmd.Env = append(os.Environ(), "GOGC=100", "GOMEMLIMIT=off")
	cmd.Env = append(cmd.Env, strings.Split(env, ",")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("output %q: %v", out.String(), err)
	}
	return &r, nil
}

type result struct {
	GCCycles        uint64
	GCCPU, TotalCPU float64 // seconds, during the workload
	P50, P99, P999  float64 // Get latency, seconds
	GoMemory        uint64  // the most memory the Go runtime held during the workload, bytes
}

// getter is what the workload needs of a cache.
type getter interface {
	Get(dst, key []byte) ([]byte, bool)
}

type mapCache struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (c *mapCache) Get(dst, key []byte) ([]byte, bool) {
	c.mu.RLock()
	v, ok := c.m[string(key)]
	c.mu.RUnlock()
	return append(dst, v...), ok
}

func fillKey(key []byte, i uint64) {
	binary.BigEndian.PutUint64(key, i)
	binary.BigEndian.PutUint64(key[8:], ^i)
}

func measure(o options) (*result, error) {
	var c getter
	key, value := make([]byte, keySize), make([]byte, valueSize)
	switch o.child {
	case "mmcache":
		mc, err := mmcache.New(mmcache.Config{Capacity: o.n*160 + 64<<20})
		if err != nil {
			return nil, err
		}
		defer mc.Close()
		for i := range uint64(o.n) {
			fillKey(key, i)
			if err := mc.Set(key, value); err != nil {
				return nil, err
			}
		}
		c = mc
	case "map":
		mc := &mapCache{m: make(map[string][]byte, o.n)}
		for i := range uint64(o.n) {
			fillKey(key, i)
			mc.m[string(key)] = bytes.Clone(value)
		}
		c = mc
	default:
		return nil, fmt.Errorf("-child %q: want mmcache or map", o.child)
	}
	runtime.GC()

	workers := runtime.GOMAXPROCS(0)
	hists := make([]histogram, workers)
	var wg sync.WaitGroup
	stop, peak := sampleGoMemory()
	m0 := readMetrics()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			key := make([]byte, keySize)
			inflight := make([][]byte, 1024) // the responses still being sent
			h := &hists[w]
			for i := range o.requests / workers {
				fillKey(key, rng.Uint64N(uint64(o.n)))
				resp := make([]byte, 0, respSize)
				t := time.Now()
				resp, ok := c.Get(resp, key)
				h.add(time.Since(t))
				if !ok {
					panic("gcpacing: a loaded key is missing")
				}
				inflight[i%len(inflight)] = resp[:cap(resp)]
			}
		}()
	}
	wg.Wait()
	m1 := readMetrics()
	close(stop)
	runtime.KeepAlive(c)

	var all histogram
	for i := range hists {
		all.merge(&hists[i])
	}
	return &result{
		GCCycles: m1.cycles - m0.cycles,
		GCCPU:    m1.gcCPU - m0.gcCPU,
		TotalCPU: m1.totalCPU - m0.totalCPU,
		P50:      all.quantile(0.5),
		P99:      all.quantile(0.99),
		P999:     all.quantile(0.999),
		GoMemory: <-peak,
	}, nil
}

// histogram counts durations in buckets 1/16 of a power of two wide (about 6%), in a fixed
// array: no allocation while measuring, and a few KiB of heap.
type histogram struct {
	counts [64 * 16]uint64
	total  uint64
	max    time.Duration
}

func bucket(ns uint64) int {
	if ns < 16 {
		return int(ns)
	}
	shift := bits.Len64(ns) - 5
	return shift*16 + int(ns>>shift)
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucket(uint64(max(d, 0)))]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the middle of the bucket that holds the q-quantile, in seconds.
func (h *histogram) quantile(q float64) float64 {
	rank := uint64(q * float64(h.total))
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if n == 0 || seen <= rank {
			continue
		}
		if i < 32 {
			return float64(i) / 1e9
		}
		shift, mant := i/16-1, uint64(i%16+16)
		return (float64(mant<<shift) + float64(uint64(1)<<shift)/2) / 1e9
	}
	return h.max.Seconds()
}

type snapshot struct {
	cycles          uint64
	gcCPU, totalCPU float64
}

func readMetrics() snapshot {
	s := []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
	}
	metrics.Read(s)
	return snapshot{s[0].Value.Uint64(), s[1].Value.Float64(), s[2].Value.Float64()}
}

// sampleGoMemory samples every 10 ms the memory the Go runtime holds, as GOMEMLIMIT counts it
// (all it has mapped less what it has given back), until stop is closed; then it sends the
// largest sample on peak.
func sampleGoMemory() (stop chan struct{}, peak chan uint64) {
	stop, peak = make(chan struct{}), make(chan uint64, 1)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		var most uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			most = max(most, s[0].Value.Uint64()-s[1].Value.Uint64())
			select {
			case <-stop:
				peak <- most
				return
			case <-t.C:
			}
		}
	}()
	return stop, peak
}

func micros(s float64) string { return fmt.Sprintf("%.1f µs", s*1e6) }

func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
