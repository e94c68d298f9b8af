// Command gcdemo shows what keeping a cache outside the Go heap buys.
//
// It loads the same entries into a plain map-based cache (a map[string][]byte under a
// sync.RWMutex) and into an mmcache.Cache, and prints side by side what the garbage collector
// sees and pays: heap objects, the wall time of a forced runtime.GC(), the GC CPU time spent
// during a fixed allocating workload, the process RSS and the memory per entry. A column for
// a process holding no cache at all gives the baseline.
//
// Each cache is measured in a process of its own (the demo runs itself again with a hidden
// flag), so the garbage one of them leaves behind is never billed to the other.
//
//	go run ./examples/gcdemo               # 1 million entries, 16-byte keys, 64-byte values
//	go run ./examples/gcdemo -n 3000000    # more entries: slower, and the map needs more memory
//	go run ./examples/gcdemo -h            # every flag
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mmcache/mmcache"
)

// The kinds of process the demo measures, in the order of the table's columns.
const (
	kindNone    = "none"
	kindMap     = "map"
	kindMmcache = "mmcache"
)

var kinds = []string{kindNone, kindMap, kindMmcache}

var columnTitle = map[string]string{
	kindNone:    "no cache",
	kindMap:     "map+RWMutex",
	kindMmcache: "mmcache",
}

type options struct {
	n         int
	keySize   int
	valueSize int
	capacity  int
	gcRuns    int
	requests  int
	inProcess bool
	child     string // hidden: measure one kind and print the result as JSON
}

func main() {
	log := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "gcdemo: "+format+"\n", args...)
	}
	var o options
	flag.IntVar(&o.n, "n", 1_000_000, "number of entries to load into each cache")
	flag.IntVar(&o.keySize, "key", 16, "key size in bytes (at least 8)")
	flag.IntVar(&o.valueSize, "value", 64, "value size in bytes")
	flag.IntVar(&o.capacity, "capacity", 0, "mmcache Capacity in bytes; 0 sizes it to hold all -n entries")
	flag.IntVar(&o.gcRuns, "gc", 5, "forced runtime.GC() calls to time; the median is shown")
	flag.IntVar(&o.requests, "requests", 2_000_000, "requests in the allocating workload (each reads a random key and allocates 1 KiB)")
	flag.BoolVar(&o.inProcess, "inprocess", false, "measure everything in this one process instead of one process per cache (less fair)")
	flag.StringVar(&o.child, "child", "", "internal: measure one kind in this process and print JSON")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "Usage: gcdemo [flags]\n\nCompares the garbage collector's cost of a map-based cache and of mmcache.\n\n")
		flag.VisitAll(func(f *flag.Flag) {
			if f.Name == "child" {
				return
			}
			fmt.Fprintf(out, "  -%s\n    \t%s (default %s)\n", f.Name, f.Usage, f.DefValue)
		})
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := o.validate(); err != nil {
		log("%v", err)
		os.Exit(2)
	}

	if o.child != "" {
		r, err := measure(o.child, o)
		if err != nil {
			log("%s: %v", o.child, err)
			os.Exit(1)
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			log("%v", err)
			os.Exit(1)
		}
		return
	}

	start := time.Now()
	fmt.Printf("gcdemo: %s entries of %d-byte keys and %d-byte values; %s %s/%s, GOMAXPROCS=%d, GOGC=%s\n",
		thousands(int64(o.n)), o.keySize, o.valueSize, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.GOMAXPROCS(0), envOr("GOGC", "100"))
	results := make(map[string]*result)
	separate := !o.inProcess
	// In one process, mmcache goes before the map: it unmaps all it used on Close, whereas the
	// map leaves heap behind that the process keeps for a while.
	for _, k := range []string{kindNone, kindMmcache, kindMap} {
		fmt.Fprintf(os.Stderr, "gcdemo: measuring %-12s ", columnTitle[k]+"...")
		t := time.Now()
		var r *result
		var err error
		if separate {
			r, err = runChild(k, o)
			if errors.Is(err, errNoExec) {
				// js/wasm and wasip1 cannot start processes.
				fmt.Fprintf(os.Stderr, "(cannot start a process here: %v; measuring in this process) ", err)
				separate = false
			}
		}
		if !separate {
			r, err = measure(k, o)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr)
			log("%s: %v", k, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "%.1fs\n", time.Since(t).Seconds())
		results[k] = r
	}
	fmt.Println()
	printTable(os.Stdout, results, o, separate)
	fmt.Printf("\nTotal %.1fs.\n", time.Since(start).Seconds())
}

func (o *options) validate() error {
	switch {
	case o.n < 1:
		return fmt.Errorf("-n %d: need at least one entry", o.n)
	case o.keySize < 8 || o.keySize > mmcache.MaxKeySize:
		return fmt.Errorf("-key %d: need 8 to %d bytes", o.keySize, mmcache.MaxKeySize)
	case o.valueSize < 0:
		return fmt.Errorf("-value %d is negative", o.valueSize)
	case o.capacity < 0:
		return fmt.Errorf("-capacity %d is negative", o.capacity)
	case o.gcRuns < 1:
		return fmt.Errorf("-gc %d: need at least one run", o.gcRuns)
	case o.requests < 0:
		return fmt.Errorf("-requests %d is negative", o.requests)
	case o.child != "" && !slices.Contains(kinds, o.child):
		return fmt.Errorf("-child %q: not one of %v", o.child, kinds)
	}
	return nil
}

// result is what one measured process reports.
type result struct {
	Entries       int     // entries present after loading
	LoadSeconds   float64 // wall time of loading them
	HeapObjects   uint64  // live heap objects after loading and a full GC
	HeapBytes     uint64  // bytes of live heap objects after loading and a full GC
	HeapGoal      uint64  // the GC's heap goal then
	HeapGrowth    int64   // HeapBytes less the same before loading
	OffHeapUsed   int64   // mmcache: bytes of its mapping in use
	OffHeapCap    int64   // mmcache: bytes mapped
	RSS           int64   // VmRSS after loading, bytes; -1 where unknown
	RSSGrowth     int64   // RSS less the same before loading
	ForcedGC      float64 // median wall time of runtime.GC(), seconds
	WorkGCCPU     float64 // GC CPU seconds during the workload
	WorkTotalCPU  float64 // all CPU seconds during the workload (runtime's estimate)
	WorkGCCycles  uint64  // GC cycles completed during the workload
	WorkSeconds   float64 // wall time of the workload
	WorkHits      int     // workload lookups that found their key
	WorkRequests  int
	WorkAllocated uint64 // bytes the workload allocated
}

// cache is what the demo needs of either cache.
type cache interface {
	set(key, value []byte) error
	// get appends the value under key to dst, as mmcache's Get does.
	get(dst, key []byte) ([]byte, bool)
	len() int
	close()
}

// mapCache is the usual way to write a cache in Go: a map under a lock, one heap object per
// key and one per value.
type mapCache struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func (c *mapCache) set(key, value []byte) error {
	v := bytes.Clone(value) // the caller may reuse value
	if v == nil {
		v = []byte{}
	}
	c.mu.Lock()
	c.m[string(key)] = v
	c.mu.Unlock()
	return nil
}

func (c *mapCache) get(dst, key []byte) ([]byte, bool) {
	c.mu.RLock()
	v, ok := c.m[string(key)]
	if ok {
		dst = append(dst, v...)
	}
	c.mu.RUnlock()
	return dst, ok
}

func (c *mapCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (c *mapCache) close() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

type mmCache struct{ c *mmcache.Cache }

func (c mmCache) set(key, value []byte) error        { return c.c.Set(key, value) }
func (c mmCache) get(dst, key []byte) ([]byte, bool) { return c.c.Get(dst, key) }
func (c mmCache) len() int                           { return c.c.Len() }
func (c mmCache) close()                             { _ = c.c.Close() }

// noCache is the baseline: the same process with nothing cached.
type noCache struct{}

func (noCache) set(key, value []byte) error        { return nil }
func (noCache) get(dst, key []byte) ([]byte, bool) { return dst, false }
func (noCache) len() int                           { return 0 }
func (noCache) close()                             {}

// mmcacheCapacity is a Capacity that holds n entries without evicting: their bytes, the
// table's share and a margin for the segments being filled.
func mmcacheCapacity(o options) int {
	if o.capacity > 0 {
		return o.capacity
	}
	entry := (3 + len(binary.AppendUvarint(nil, uint64(o.valueSize))) + o.keySize + o.valueSize + 7) &^ 7
	perEntry := int64(entry + 8) // the table: a 64-byte bucket per 12 slots, sized for some slack
	c := int64(o.n)*perEntry*5/4 + 16<<20
	return int(min(c, int64(math.MaxInt)))
}

func newCache(kind string, o options) (cache, error) {
	switch kind {
	case kindMap:
		return &mapCache{m: make(map[string][]byte)}, nil
	case kindMmcache:
		c, err := mmcache.New(mmcache.Config{Capacity: mmcacheCapacity(o)})
		if err != nil {
			return nil, err
		}
		return mmCache{c}, nil
	default:
		return noCache{}, nil
	}
}

// fillKey writes key number i: its 8 bytes big-endian, then a fixed pattern.
func fillKey(key []byte, i uint64) {
	binary.BigEndian.PutUint64(key, i)
	for j := 8; j < len(key); j++ {
		key[j] = byte(j)
	}
}

// fillValue writes a value that tells which key it belongs to.
func fillValue(v []byte, i uint64) {
	for j := range v {
		v[j] = byte(i>>(8*(j%8))) ^ byte(j)
	}
}

// measure builds a cache of the given kind in this process and measures it.
func measure(kind string, o options) (*result, error) {
	runtime.GC()
	before := readMetrics()
	rssBefore, haveRSS := readRSS()

	c, err := newCache(kind, o)
	if err != nil {
		return nil, err
	}
	defer c.close()
	r := &result{RSS: -1, RSSGrowth: -1, OffHeapUsed: -1, OffHeapCap: -1}

	// Load.
	t := time.Now()
	if kind != kindNone {
		key, value := make([]byte, o.keySize), make([]byte, o.valueSize)
		for i := range uint64(o.n) {
			fillKey(key, i)
			fillValue(value, i)
			if err := c.set(key, value); err != nil {
				return nil, fmt.Errorf("set entry %d: %w", i, err)
			}
		}
	}
	r.LoadSeconds = time.Since(t).Seconds()
	r.Entries = c.len()
	// With a -capacity too small for -n entries, mmcache evicts: then only check that what it
	// returns is right.
	strict := kind == kindMap || (kind == kindMmcache && o.capacity == 0)
	if err := spotCheck(c, kind, o, strict); err != nil {
		return nil, err
	}

	// What stays on the heap, and what the process holds.
	runtime.GC()
	after := readMetrics()
	r.HeapObjects = after.heapObjects
	r.HeapBytes = after.heapBytes
	r.HeapGoal = after.heapGoal
	r.HeapGrowth = int64(after.heapBytes) - int64(before.heapBytes)
	if rss, ok := readRSS(); ok && haveRSS {
		r.RSS, r.RSSGrowth = rss, rss-rssBefore
	}
	if mc, ok := c.(mmCache); ok {
		st := mc.c.Stats()
		r.OffHeapUsed, r.OffHeapCap = int64(st.UsedBytes), int64(st.Capacity)
	}

	// The wall time of a full, forced collection: the mark phase has to visit every object
	// the heap holds.
	times := make([]time.Duration, o.gcRuns)
	for i := range times {
		t := time.Now()
		runtime.GC()
		times[i] = time.Since(t)
	}
	slices.Sort(times)
	r.ForcedGC = times[len(times)/2].Seconds()

	// A fixed allocating workload, like a server's request handling: each request reads a
	// random key and builds a 1 KiB response; the last 1024 responses stay live. The GC runs
	// as often as the allocation rate and the heap goal make it, and each cycle marks the
	// whole live heap, the cache included when it is on the heap.
	runtime.GC()
	w0 := readMetrics()
	t = time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	inflight := make([][]byte, 1024)
	key := make([]byte, o.keySize)
	for i := range o.requests {
		fillKey(key, rng.Uint64N(uint64(o.n)))
		resp := make([]byte, 0, 1024)
		resp, ok := c.get(resp, key)
		if ok {
			r.WorkHits++
		}
		inflight[i%len(inflight)] = resp
	}
	r.WorkSeconds = time.Since(t).Seconds()
	w1 := readMetrics()
	runtime.KeepAlive(inflight)
	r.WorkRequests = o.requests
	r.WorkGCCPU = w1.gcCPU - w0.gcCPU
	r.WorkTotalCPU = w1.totalCPU - w0.totalCPU
	r.WorkGCCycles = w1.gcCycles - w0.gcCycles
	r.WorkAllocated = w1.allocBytes - w0.allocBytes
	if strict && r.WorkHits != o.requests {
		return nil, fmt.Errorf("workload found %d of %d keys", r.WorkHits, o.requests)
	}
	return r, nil
}

// spotCheck reads back a few entries, so the demo never times a cache that lost its data or
// returns wrong values. If !strict, an entry may be missing.
func spotCheck(c cache, kind string, o options, strict bool) error {
	if kind == kindNone {
		return nil
	}
	key, want := make([]byte, o.keySize), make([]byte, o.valueSize)
	var got []byte
	for _, i := range []uint64{0, uint64(o.n) / 2, uint64(o.n) - 1} {
		fillKey(key, i)
		fillValue(want, i)
		var ok bool
		got, ok = c.get(got[:0], key)
		if (strict && !ok) || (ok && !bytes.Equal(got, want)) {
			return fmt.Errorf("entry %d: found %v, value correct %v", i, ok, bytes.Equal(got, want))
		}
	}
	return nil
}

type snapshot struct {
	heapObjects, heapBytes, heapGoal, allocBytes, gcCycles uint64
	gcCPU, totalCPU                                        float64
}

var metricNames = []string{
	"/gc/heap/objects:objects",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/goal:bytes",
	"/gc/heap/allocs:bytes",
	"/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
}

func readMetrics() snapshot {
	samples := make([]metrics.Sample, len(metricNames))
	for i, name := range metricNames {
		samples[i].Name = name
	}
	metrics.Read(samples)
	u := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	f := func(i int) float64 {
		if samples[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return samples[i].Value.Float64()
	}
	return snapshot{
		heapObjects: u(0), heapBytes: u(1), heapGoal: u(2), allocBytes: u(3), gcCycles: u(4),
		gcCPU: f(5), totalCPU: f(6),
	}
}

// readRSS returns the process's resident set size from /proc/self/status, on Linux only.
func readRSS() (int64, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

var errNoExec = errors.New("cannot run a child process")

// runChild measures one kind in a fresh process: this program run again with -child.
func runChild(kind string, o options) (*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoExec, err)
	}
	cmd := exec.Command(exe,
		"-child", kind,
		"-n", strconv.Itoa(o.n),
		"-key", strconv.Itoa(o.keySize),
		"-value", strconv.Itoa(o.valueSize),
		"-capacity", strconv.Itoa(o.capacity),
		"-gc", strconv.Itoa(o.gcRuns),
		"-requests", strconv.Itoa(o.requests),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoExec, err)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("child process: %v", err)
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("child process output %q: %v", out.String(), err)
	}
	return &r, nil
}

func printTable(w *os.File, res map[string]*result, o options, separate bool) {
	const labelWidth, colWidth = 34, 15
	row := func(label string, cell func(r *result) string) {
		fmt.Fprintf(w, "%-*s", labelWidth, label)
		for _, k := range kinds {
			fmt.Fprintf(w, "%*s", colWidth, cell(res[k]))
		}
		fmt.Fprintln(w)
	}
	heading := func(s string) { fmt.Fprintf(w, "%s\n", s) }

	fmt.Fprintf(w, "%-*s", labelWidth, "")
	for _, k := range kinds {
		fmt.Fprintf(w, "%*s", colWidth, columnTitle[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.Repeat("-", labelWidth+colWidth*len(kinds)))

	row("entries", func(r *result) string { return thousands(int64(r.Entries)) })
	row("load time", func(r *result) string { return seconds(r.LoadSeconds) })

	heading("after loading and a full GC:")
	row("  heap objects", func(r *result) string { return thousands(int64(r.HeapObjects)) })
	row("  Go heap (live objects)", func(r *result) string { return mib(int64(r.HeapBytes)) })
	row("  Go heap goal (GOGC)", func(r *result) string { return mib(int64(r.HeapGoal)) })
	row("  off-heap mapping, used / mapped", func(r *result) string {
		if r.OffHeapCap < 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f / %.0f MiB", float64(r.OffHeapUsed)/(1<<20), float64(r.OffHeapCap)/(1<<20))
	})
	row("  RSS (VmRSS)", func(r *result) string {
		if r.RSS < 0 {
			return "n/a"
		}
		return mib(r.RSS)
	})
	row("  bytes per entry, heap+mapping", func(r *result) string {
		if r.Entries == 0 {
			return "-"
		}
		b := r.HeapGrowth
		if r.OffHeapUsed > 0 {
			b += r.OffHeapUsed
		}
		return fmt.Sprintf("%.1f B", float64(b)/float64(r.Entries))
	})
	row("  bytes per entry, RSS growth", func(r *result) string {
		if r.Entries == 0 {
			return "-"
		}
		if r.RSSGrowth < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f B", float64(r.RSSGrowth)/float64(r.Entries))
	})
	row(fmt.Sprintf("  forced runtime.GC(), median of %d", o.gcRuns), func(r *result) string {
		return millis(r.ForcedGC)
	})

	heading(fmt.Sprintf("allocating workload (%s requests, %.1f GiB allocated):",
		thousands(int64(o.requests)), float64(res[kindNone].WorkAllocated)/(1<<30)))
	row("  GC CPU time", func(r *result) string { return fmt.Sprintf("%.3f s", r.WorkGCCPU) })
	row("  GC share of available CPU", func(r *result) string {
		if r.WorkTotalCPU <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f %%", 100*r.WorkGCCPU/r.WorkTotalCPU)
	})
	row("  GC cycles", func(r *result) string { return thousands(int64(r.WorkGCCycles)) })
	row("  wall time", func(r *result) string { return seconds(r.WorkSeconds) })

	fmt.Fprintln(w)
	if separate {
		fmt.Fprintln(w, "Each column was measured in a process of its own.")
	} else {
		fmt.Fprintln(w, "All columns were measured in this one process, one after another.")
	}
	fmt.Fprintln(w, "GC CPU time is the runtime's estimate (/cpu/classes/gc/total:cpu-seconds in runtime/metrics);")
	fmt.Fprintln(w, "available CPU is GOMAXPROCS times the wall time.")
	fmt.Fprintln(w, "mmcache's entries live in its mapping, which the GC never scans; it keeps a few heap objects per cache.")
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func seconds(s float64) string { return fmt.Sprintf("%.2f s", s) }

func millis(s float64) string {
	if ms := s * 1000; ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", s*1000)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
