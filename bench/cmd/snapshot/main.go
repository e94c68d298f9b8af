// Command snapshot measures how fast mmcache comes back after a restart, and its portable
// snapshots, side by side with fastcache, otter and theine, in one run and on the same entries:
// N entries of 16-byte keys (workload.Key) and 64-byte values. Each cache is on its defaults and
// sized at twice its payload (mmcache and fastcache by Capacity/maxBytes, otter by MaximumWeight
// with a key+value Weigher, theine by its maximum cost with a key+value cost per Set), so that
// each holds every entry. Files are on tmpfs (-dir).
//
// It prints three tables, medians of -runs runs:
//
//   - Restart to the first hit, in ms: mmcache reattaching the file of Config.Path (New, then a
//     Get that hits), against fastcache LoadFromFile, otter LoadCacheFrom and theine LoadCache
//     from a file into a new cache, each timed from the call that makes the cache to its first
//     Get that hits, and against refilling an empty mmcache by Set.
//   - Save and Load, in MB/s of payload (keys and values) over wall time, the file created,
//     written and closed (Save) or opened, read and closed into a new cache (Load): mmcache
//     Save/Load, fastcache SaveToFile, SaveToFileConcurrent and LoadFromFile, otter SaveCacheTo
//     and LoadCacheFrom, theine SaveCache and LoadCache. otter and theine write through a 1 MiB
//     bufio.Writer (otter's gob encoder makes one Write per entry; mmcache buffers its own
//     writes) and read through a 1 MiB bufio.Reader. Tearing the loaded cache down is not timed.
//   - One goroutine's Get p99 while mmcache saves, against the same goroutine on the idle cache.
//
// Each ratio column is mmcache's time over the best peer's (below 1: mmcache is faster).
//
//	cd bench && go run ./cmd/snapshot                 # 1M and 5M entries, 3 runs: a few minutes
//	cd bench && go run ./cmd/snapshot -keys 1M,5M,10M -runs 3
//
// With -file-mib, mmcache's file for the reattach has that size for every entry count, so that
// the reattach time is seen against the entries alone; -reattach-only skips everything else:
//
//	cd bench && go run ./cmd/snapshot -reattach-only -file-mib 1024 -keys 1M,5M,10M
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/Yiling-J/theine-go"
	"github.com/maypok86/otter/v2"

	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/stats"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

const valueSize = 64

// ioBuffer is the size of the bufio.Writer and bufio.Reader that otter and theine get.
const ioBuffer = 1 << 20

// theineVersion is the version number theine's SaveCache writes and LoadCache checks.
const theineVersion = 1

func main() {
	keys := flag.String("keys", "1M,5M", "comma-separated entry counts (k and M suffixes)")
	runs := flag.Int("runs", 3, "runs of each measurement")
	dir := flag.String("dir", "/dev/shm", "directory for the snapshot files (tmpfs)")
	flag.IntVar(&fileMiB, "file-mib", 0, "size of mmcache's file for the reattach column, the same for every entry count (0: twice the payload)")
	reattachOnly := flag.Bool("reattach-only", false, "measure mmcache's reattach alone, no peer and no snapshot")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*keys, ",") {
		n, err := parseCount(f)
		check(err)
		counts = append(counts, n)
	}
	m := sysinfo.Describe()
	fmt.Printf("Machine: %s, %d logical cores, GOMAXPROCS %d, %s. Load average at the start: %s.\n\n", m.CPU, m.Cores, runtime.GOMAXPROCS(0), m.GoVersion, sysinfo.LoadAvg())
	fmt.Printf("fastcache %s, otter %s, theine %s. Entries of %d+%d B, each cache on its defaults sized at twice its payload; files in %s. Median of %d runs.\n\n",
		version("github.com/VictoriaMetrics/fastcache"), version("github.com/maypok86/otter/v2"), version("github.com/Yiling-J/theine-go"), workload.KeySize, valueSize, *dir, *runs)
	var results []result
	for _, n := range counts {
		results = append(results, measure(n, *runs, *dir, *reattachOnly))
	}
	if *reattachOnly {
		printReattach(results)
		return
	}
	printRestart(results)
	printSnapshots(results)
	printLatency(results)
	fmt.Printf("\nLoad average at the end: %s.\n", sysinfo.LoadAvg())
}

// result holds every run's figures for one entry count.
type result struct {
	n int
	// Restart to the first hit, ms.
	reattach, refill, fcFirst, otFirst, thFirst []float64
	// MB/s of payload.
	mmSave, mmLoad, fcSave, fcSaveC, fcLoad, otSave, otLoad, thSave, thLoad []float64
	// Get p99 in ns, on the idle cache and while it saves.
	idleP99, saveP99 []float64
	// mmcache's file for the reattach: its size, and the entries it held.
	fileBytes, held int
}

// fileMiB is the -file-mib flag: the size of mmcache's file in measureReattach, or 0.
var fileMiB int

// measure runs every measurement for n entries, runs times, one cache at a time; with
// reattachOnly, mmcache's reattach alone.
func measure(n, runs int, dir string, reattachOnly bool) result {
	r := result{n: n}
	for i := range runs {
		fmt.Fprintf(os.Stderr, "snapshot: %s entries, run %d of %d\n", count(n), i+1, runs)
		measureReattach(&r, dir)
		if reattachOnly {
			continue
		}
		measureMmcache(&r, dir)
		measureFastcache(&r, dir)
		measureOtter(&r, dir)
		measureTheine(&r, dir)
	}
	return r
}

// payload is the bytes of keys and values in n entries; budget is twice that.
func payload(n int) int { return n * (workload.KeySize + valueSize) }

// firstKey is the key every restart measurement looks up first.
func firstKey() []byte { return workload.Key(make([]byte, workload.KeySize), 0) }

// measureReattach times a warm restart of mmcache: a cache over a file, filled by Set (the cold
// refill) and closed, then mapped again by New until a Get hits.
func measureReattach(r *result, dir string) {
	budget := 2 * payload(r.n)
	if fileMiB > 0 {
		budget = fileMiB << 20
	}
	value := workload.Value(valueSize)
	warmFile := filepath.Join(dir, "mmcache-bench.cache")
	_ = os.Remove(warmFile)
	defer os.Remove(warmFile)
	w, err := mmcache.New(mmcache.Config{Capacity: budget, Path: warmFile})
	check(err)
	r.refill = append(r.refill, ms(timed(func() { fill(r.n, func(k []byte) { _ = w.Set(k, value) }) })))
	r.fileBytes, r.held = budget, w.Len()
	check(w.Close())
	// The newest key: in a file too small for all entries, the oldest were evicted.
	first := workload.Key(make([]byte, workload.KeySize), uint64(r.n-1))
	r.reattach = append(r.reattach, ms(timed(func() {
		w, err = mmcache.New(mmcache.Config{Capacity: budget, Path: warmFile})
		check(err)
		if _, ok := w.Get(nil, first); !ok {
			fail(fmt.Errorf("reattached cache misses its first key"))
		}
	})))
	check(w.Close())
	runtime.GC()
}

// measureMmcache times mmcache's Save (alone, then beside a goroutine making Gets) and Load.
func measureMmcache(r *result, dir string) {
	budget, size := 2*payload(r.n), float64(payload(r.n))
	value := workload.Value(valueSize)
	file := filepath.Join(dir, "mmcache-bench.snap")
	defer os.Remove(file)
	c, err := mmcache.New(mmcache.Config{Capacity: budget})
	check(err)
	fill(r.n, func(k []byte) { _ = c.Set(k, value) })
	r.mmSave = append(r.mmSave, mbps(size, timed(func() { saveFile(c, file) })))
	// The same Save again, with a goroutine making Gets meanwhile, and that goroutine alone
	// for about as long.
	var saveTime time.Duration
	during := getLatency(c, r.n, func() { saveTime = timed(func() { saveFile(c, file) }) })
	idle := getLatency(c, r.n, func() { time.Sleep(saveTime) })
	r.idleP99, r.saveP99 = append(r.idleP99, idle), append(r.saveP99, during)
	check(c.Close())
	runtime.GC()

	var c2 *mmcache.Cache
	var got int
	d := timed(func() {
		c2, err = mmcache.New(mmcache.Config{Capacity: budget})
		check(err)
		fh, err := os.Open(file)
		check(err)
		got, err = c2.Load(fh)
		check(err)
		check(fh.Close())
	})
	check(c2.Close())
	if got != r.n {
		fail(fmt.Errorf("mmcache loaded %d entries of %d", got, r.n))
	}
	r.mmLoad = append(r.mmLoad, mbps(size, d))
	runtime.GC()
}

// measureFastcache times fastcache's SaveToFile, SaveToFileConcurrent and LoadFromFile; the load
// is timed until a Get of the first key hits, and serves as its restart to the first hit.
func measureFastcache(r *result, dir string) {
	budget, size := 2*payload(r.n), float64(payload(r.n))
	value := workload.Value(valueSize)
	file := filepath.Join(dir, "fastcache-bench")
	defer os.RemoveAll(file)
	fc := fastcache.New(budget)
	fill(r.n, func(k []byte) { fc.Set(k, value) })
	r.fcSave = append(r.fcSave, mbps(size, timed(func() { check(fc.SaveToFile(file)) })))
	check(os.RemoveAll(file))
	r.fcSaveC = append(r.fcSaveC, mbps(size, timed(func() { check(fc.SaveToFileConcurrent(file, runtime.GOMAXPROCS(0))) })))
	fc.Reset()
	fc = nil
	runtime.GC()

	first := firstKey()
	d := timed(func() {
		var err error
		fc, err = fastcache.LoadFromFile(file)
		check(err)
		if _, ok := fc.HasGet(nil, first); !ok {
			fail(fmt.Errorf("fastcache misses its first key after LoadFromFile"))
		}
	})
	var st fastcache.Stats
	fc.UpdateStats(&st)
	fc.Reset()
	if int(st.EntriesCount) != r.n {
		fail(fmt.Errorf("fastcache loaded %d entries of %d", st.EntriesCount, r.n))
	}
	r.fcLoad = append(r.fcLoad, mbps(size, d))
	r.fcFirst = append(r.fcFirst, ms(d))
	runtime.GC()
}

// newOtter returns an otter cache on its defaults, bounded at budget bytes of key+value weight.
func newOtter(budget int) *otter.Cache[string, []byte] {
	c, err := otter.New(&otter.Options[string, []byte]{
		MaximumWeight: uint64(budget),
		Weigher:       func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) },
	})
	check(err)
	return c
}

// measureOtter times otter's SaveCacheTo and LoadCacheFrom; the load, into a new cache, is timed
// until a Get of the first key hits, and serves as its restart to the first hit.
func measureOtter(r *result, dir string) {
	budget, size := 2*payload(r.n), float64(payload(r.n))
	value := workload.Value(valueSize)
	file := filepath.Join(dir, "otter-bench")
	defer os.Remove(file)
	c := newOtter(budget)
	fill(r.n, func(k []byte) { c.Set(string(k), slices.Clone(value)) })
	c.CleanUp()
	r.otSave = append(r.otSave, mbps(size, timed(func() {
		saveTo(file, func(w io.Writer) error { return otter.SaveCacheTo(c, w) })
	})))
	c.StopAllGoroutines()
	c = nil
	runtime.GC()

	first := string(firstKey())
	d := timed(func() {
		c = newOtter(budget)
		loadFrom(file, func(rd io.Reader) error { return otter.LoadCacheFrom(c, rd) })
		if _, ok := c.GetIfPresent(first); !ok {
			fail(fmt.Errorf("otter misses its first key after LoadCacheFrom"))
		}
	})
	got := c.EstimatedSize()
	c.StopAllGoroutines()
	if got != r.n {
		fail(fmt.Errorf("otter loaded %d entries of %d", got, r.n))
	}
	r.otLoad = append(r.otLoad, mbps(size, d))
	r.otFirst = append(r.otFirst, ms(d))
	c = nil
	runtime.GC()
}

// newTheine returns a theine cache on its defaults, bounded at a cost of budget, each entry
// costing its key+value bytes.
func newTheine(budget int) *theine.Cache[string, []byte] {
	c, err := theine.NewBuilder[string, []byte](int64(budget)).Build()
	check(err)
	return c
}

// measureTheine times theine's SaveCache and LoadCache; the load, into a new cache, is timed
// until a Get of the first key hits, and serves as its restart to the first hit.
func measureTheine(r *result, dir string) {
	budget, size := 2*payload(r.n), float64(payload(r.n))
	value := workload.Value(valueSize)
	file := filepath.Join(dir, "theine-bench")
	defer os.Remove(file)
	c := newTheine(budget)
	fill(r.n, func(k []byte) {
		if !c.Set(string(k), slices.Clone(value), int64(len(k)+len(value))) {
			fail(fmt.Errorf("theine refused an entry"))
		}
	})
	c.Wait()
	r.thSave = append(r.thSave, mbps(size, timed(func() {
		saveTo(file, func(w io.Writer) error { return c.SaveCache(theineVersion, w) })
	})))
	c.Close()
	c = nil
	runtime.GC()

	first := string(firstKey())
	d := timed(func() {
		c = newTheine(budget)
		loadFrom(file, func(rd io.Reader) error { return c.LoadCache(theineVersion, rd) })
		if _, ok := c.Get(first); !ok {
			fail(fmt.Errorf("theine misses its first key after LoadCache"))
		}
	})
	got := c.Len()
	c.Close()
	if got != r.n {
		fail(fmt.Errorf("theine loaded %d entries of %d", got, r.n))
	}
	r.thLoad = append(r.thLoad, mbps(size, d))
	r.thFirst = append(r.thFirst, ms(d))
	c = nil
	runtime.GC()
}

// printRestart prints the restart-to-first-hit table.
func printRestart(results []result) {
	fmt.Println("Restart to the first hit, ms:")
	fmt.Println()
	fmt.Println("| Entries | mmcache reattach (Config.Path) | fastcache LoadFromFile | otter LoadCacheFrom | theine LoadCache | mmcache refill by Set | mmcache ÷ best peer (time) |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		best := min(median(r.fcFirst), median(r.otFirst), median(r.thFirst))
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %.4f |\n", count(r.n), msString(median(r.reattach)), msString(median(r.fcFirst)),
			msString(median(r.otFirst)), msString(median(r.thFirst)), msString(median(r.refill)), median(r.reattach)/best)
	}
}

// printReattach prints the reattach times alone, with the file's size and what it held.
func printReattach(results []result) {
	fmt.Println("mmcache reattach (Config.Path) to the first hit:")
	fmt.Println()
	fmt.Println("| Entries written | File | Entries held | Reattach to first hit, ms | Cold refill by Set, ms |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %d MiB | %d | %s | %s |\n", count(r.n), r.fileBytes>>20, r.held, msString(median(r.reattach)), msString(median(r.refill)))
	}
}

// printSnapshots prints the Save and Load MB/s table.
func printSnapshots(results []result) {
	fmt.Println()
	fmt.Println("Save and Load, MB/s of payload (keys and values) over wall time, file written or read and closed:")
	fmt.Println()
	fmt.Println("| Entries | Operation | mmcache | fastcache | fastcache (concurrent) | otter | theine | mmcache ÷ best peer (time) |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		mm := median(r.mmSave)
		best := max(median(r.fcSave), median(r.fcSaveC), median(r.otSave), median(r.thSave))
		fmt.Printf("| %s | Save | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f |\n", count(r.n), mm, median(r.fcSave), median(r.fcSaveC), median(r.otSave), median(r.thSave), best/mm)
		mm = median(r.mmLoad)
		best = max(median(r.fcLoad), median(r.otLoad), median(r.thLoad))
		fmt.Printf("| %s | Load | %.0f | %.0f | – | %.0f | %.0f | %.2f |\n", count(r.n), mm, median(r.fcLoad), median(r.otLoad), median(r.thLoad), best/mm)
	}
}

// printLatency prints the Get p99 of one goroutine beside mmcache's Save.
func printLatency(results []result) {
	fmt.Println()
	fmt.Println("One goroutine's Get p99 while mmcache saves, against the same goroutine on the idle cache:")
	fmt.Println()
	fmt.Println("| Entries | idle | during Save | ratio |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f ns | %.0f ns | %.2fx |\n", count(r.n), median(r.idleP99), median(r.saveP99), median(r.saveP99)/median(r.idleP99))
	}
}

// fill stores n keys through set.
func fill(n int, set func(k []byte)) {
	k := make([]byte, 0, workload.KeySize)
	for i := range n {
		set(workload.Key(k[:0], uint64(i)))
	}
}

// getLatency runs Gets of random present keys on one goroutine while work runs on this one,
// and returns their p99 in nanoseconds.
func getLatency(c *mmcache.Cache, n int, work func()) float64 {
	h := stats.NewHistogram()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		k := make([]byte, 0, workload.KeySize)
		buf := make([]byte, 0, 256)
		x := uint64(1)
		for !stop.Load() {
			x = x*6364136223846793005 + 1442695040888963407
			k = workload.Key(k[:0], (x>>33)%uint64(n))
			t0 := time.Now()
			buf, _ = c.Get(buf[:0], k)
			h.Record(int64(time.Since(t0)))
		}
	}()
	work()
	stop.Store(true)
	<-done
	return h.Quantile(0.99)
}

// saveFile writes c's snapshot to a new file at path and closes it.
func saveFile(c *mmcache.Cache, path string) {
	f, err := os.Create(path)
	check(err)
	check(c.Save(f))
	check(f.Close())
}

// saveTo creates the file at path, runs save on a buffered writer over it, flushes and closes it.
func saveTo(path string, save func(w io.Writer) error) {
	f, err := os.Create(path)
	check(err)
	bw := bufio.NewWriterSize(f, ioBuffer)
	check(save(bw))
	check(bw.Flush())
	check(f.Close())
}

// loadFrom opens the file at path, runs load on a buffered reader over it and closes it.
func loadFrom(path string, load func(r io.Reader) error) {
	f, err := os.Open(path)
	check(err)
	check(load(bufio.NewReaderSize(f, ioBuffer)))
	check(f.Close())
}

// timed returns how long f takes.
func timed(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// mbps is bytes over d in MB/s.
func mbps(bytes float64, d time.Duration) float64 { return bytes / d.Seconds() / 1e6 }

// msString formats a time in ms with a precision that suits its size.
func msString(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return humanInt(int(v + 0.5))
}

// humanInt formats n with thousands separators.
func humanInt(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// median returns the median of xs.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// version is the version of module compiled into this binary.
func version(module string) string { return caches.Version(caches.Peer{Module: module}) }

// parseCount reads an entry count with an optional k or M suffix.
func parseCount(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "M"):
		mult, s = 1_000_000, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "k"):
		mult, s = 1_000, strings.TrimSuffix(s, "k")
	}
	n, err := strconv.Atoi(s)
	return n * mult, err
}

// count formats an entry count as the tables show it.
func count(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%d M", n/1_000_000)
	}
	return fmt.Sprintf("%d k", n/1_000)
}

// check ends the program on a non-nil err.
func check(err error) {
	if err != nil {
		fail(err)
	}
}

// fail prints err and exits with status 1.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "snapshot:", err)
	os.Exit(1)
}
