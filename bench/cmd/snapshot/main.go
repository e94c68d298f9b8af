// Command snapshot measures mmcache's portable snapshots side by side with fastcache's: each
// cache, on its defaults and sized at twice its payload, is filled with N entries of 16-byte
// keys and 64-byte values, saved to a file on tmpfs and loaded back into a new cache. It prints
// the median MB/s of each (payload bytes over wall time, file written or read and closed), and
// the Get latency of one goroutine while mmcache saves, against the same goroutine on the idle
// cache.
//
//	cd bench && go run ./cmd/snapshot                 # 1M and 5M entries, 3 runs: about a minute
//	cd bench && go run ./cmd/snapshot -keys 10M -runs 5
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/fastcache"

	"github.com/mmcache/mmcache"
	"github.com/mmcache/mmcache/bench/internal/stats"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

const valueSize = 64

func main() {
	keys := flag.String("keys", "1M,5M", "comma-separated entry counts (k and M suffixes)")
	runs := flag.Int("runs", 3, "runs of each measurement")
	dir := flag.String("dir", "/dev/shm", "directory for the snapshot files (tmpfs)")
	flag.Parse()
	m := sysinfo.Describe()
	fmt.Printf("Machine: %s, %d logical cores, GOMAXPROCS %d, %s. Load average at the start: %s.\n\n", m.CPU, m.Cores, runtime.GOMAXPROCS(0), m.GoVersion, sysinfo.LoadAvg())
	fmt.Printf("Entries of 16+%d B, each cache on its defaults sized at twice its payload; files in %s. Median of %d runs; MB/s is payload bytes (keys and values) over wall time.\n\n", valueSize, *dir, *runs)
	fmt.Println("| Entries | Operation | mmcache | fastcache | fastcache (concurrent) | mmcache ÷ best fastcache (time) |")
	fmt.Println("|---:|---|---:|---:|---:|---:|")
	for _, f := range strings.Split(*keys, ",") {
		n, err := parseCount(f)
		if err != nil {
			fail(err)
		}
		measure(n, *runs, *dir)
	}
	fmt.Printf("\nLoad average at the end: %s.\n", sysinfo.LoadAvg())
}

// measure runs every measurement for n entries and prints its rows.
func measure(n, runs int, dir string) {
	payload := float64(n * (workload.KeySize + valueSize))
	budget := 2 * n * (workload.KeySize + valueSize)
	mmFile := filepath.Join(dir, "mmcache-bench.snap")
	fcFile := filepath.Join(dir, "fastcache-bench")
	defer os.Remove(mmFile)
	defer os.RemoveAll(fcFile)
	value := workload.Value(valueSize)

	var mmSave, mmLoad, fcSave, fcSaveC, fcLoad []float64
	var idleP99, saveP99 []float64
	var reattach, refill, fcLoadMs []float64
	for range runs {
		// Warm restart: a cache over a file, filled and closed, then mapped again.
		warmFile := filepath.Join(dir, "mmcache-bench.cache")
		_ = os.Remove(warmFile)
		w, err := mmcache.New(mmcache.Config{Capacity: budget, Path: warmFile})
		check(err)
		refill = append(refill, float64(timed(func() { fill(n, func(k []byte) { _ = w.Set(k, value) }) }).Microseconds())/1000)
		check(w.Close())
		first := workload.Key(make([]byte, workload.KeySize), 0)
		reattach = append(reattach, float64(timed(func() {
			w, err = mmcache.New(mmcache.Config{Capacity: budget, Path: warmFile})
			check(err)
			if _, ok := w.Get(nil, first); !ok {
				fail(fmt.Errorf("reattached cache misses its first key"))
			}
		}).Microseconds())/1000)
		check(w.Close())
		_ = os.Remove(warmFile)
		runtime.GC()

		c, err := mmcache.New(mmcache.Config{Capacity: budget})
		if err != nil {
			fail(err)
		}
		fill(n, func(k []byte) { _ = c.Set(k, value) })
		mmSave = append(mmSave, payload/timed(func() { saveFile(c, mmFile) }).Seconds()/1e6)
		// The same Save again, with a goroutine making Gets meanwhile, and that goroutine alone
		// for about as long.
		var saveTime time.Duration
		during := getLatency(c, n, func() { saveTime = timed(func() { saveFile(c, mmFile) }) })
		idle := getLatency(c, n, func() { time.Sleep(saveTime) })
		idleP99, saveP99 = append(idleP99, idle), append(saveP99, during)
		_ = c.Close()
		runtime.GC()

		var got int
		d := timed(func() {
			c2, err := mmcache.New(mmcache.Config{Capacity: budget})
			if err != nil {
				fail(err)
			}
			fh, err := os.Open(mmFile)
			if err != nil {
				fail(err)
			}
			if got, err = c2.Load(fh); err != nil {
				fail(err)
			}
			_ = fh.Close()
			defer c2.Close()
		})
		if got != n {
			fail(fmt.Errorf("mmcache loaded %d entries of %d", got, n))
		}
		mmLoad = append(mmLoad, payload/d.Seconds()/1e6)
		runtime.GC()

		fc := fastcache.New(budget)
		fill(n, func(k []byte) { fc.Set(k, value) })
		fcSave = append(fcSave, payload/timed(func() { check(fc.SaveToFile(fcFile)) }).Seconds()/1e6)
		_ = os.RemoveAll(fcFile)
		fcSaveC = append(fcSaveC, payload/timed(func() { check(fc.SaveToFileConcurrent(fcFile, runtime.GOMAXPROCS(0))) }).Seconds()/1e6)
		fc.Reset()
		runtime.GC()
		d = timed(func() {
			fc2, err := fastcache.LoadFromFile(fcFile)
			check(err)
			var st fastcache.Stats
			fc2.UpdateStats(&st)
			got = int(st.EntriesCount)
			fc2.Reset()
		})
		if got != n {
			fail(fmt.Errorf("fastcache loaded %d entries of %d", got, n))
		}
		fcLoad = append(fcLoad, payload/d.Seconds()/1e6)
		fcLoadMs = append(fcLoadMs, float64(d.Microseconds())/1000)
		_ = os.RemoveAll(fcFile)
		runtime.GC()
	}
	fmt.Printf("| %s | Save, MB/s | %.0f | %.0f | %.0f | %.2f |\n", count(n), median(mmSave), median(fcSave), median(fcSaveC), max(median(fcSave), median(fcSaveC))/median(mmSave))
	fmt.Printf("| %s | Load, MB/s | %.0f | %.0f | – | %.2f |\n", count(n), median(mmLoad), median(fcLoad), median(fcLoad)/median(mmLoad))
	fmt.Printf("| %s | Get p99, idle → during Save | %.0f ns → %.0f ns (%.2fx) | | | |\n", count(n), median(idleP99), median(saveP99), median(saveP99)/median(idleP99))
	fmt.Printf("| %s | Restart to first hit: reattach (Config.Path) / LoadFromFile; cold refill by Set | %.1f ms / refill %.0f ms | %.0f ms | | %.3f |\n", count(n), median(reattach), median(refill), median(fcLoadMs), median(reattach)/median(fcLoadMs))
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

func saveFile(c *mmcache.Cache, path string) {
	f, err := os.Create(path)
	check(err)
	check(c.Save(f))
	check(f.Close())
}

func timed(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

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

func count(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%d M", n/1_000_000)
	}
	return fmt.Sprintf("%d k", n/1_000)
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "snapshot:", err)
	os.Exit(1)
}
