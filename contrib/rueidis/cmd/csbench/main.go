// Command csbench measures rueidis' client-side cache with its default store and with
// mmrueidis side by side: DoCache throughput on hits, local hit ratio, Redis round trips, heap
// objects, forced-GC time and RSS, each store in a process of its own so that neither's heap
// or RSS is seen by the other.
//
// From contrib/rueidis, with redis-server on PATH (or -addr for a running Redis, which gets
// FLUSHALL):
//
//	go run ./cmd/csbench                       # 100 k keys of 200 B: about a minute
//	go run ./cmd/csbench -keys 1000000 -size 64
//
// It prints a markdown table of medians over -runs processes per store.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mmrueidis "github.com/mmcache/mmcache/contrib/rueidis"
	"github.com/redis/rueidis"
)

var (
	addr       = flag.String("addr", "", "a running Redis to use, host:port (it is flushed); empty starts a redis-server")
	nKeys      = flag.Int("keys", 100_000, "keys, all read once to warm the cache, then at random")
	size       = flag.Int("size", 200, "bytes per value")
	duration   = flag.Duration("duration", 5*time.Second, "time of random reads per store")
	goroutines = flag.Int("goroutines", 8, "goroutines calling DoCache")
	runs       = flag.Int("runs", 3, "processes per store, alternating between the stores; the table gives medians")
	child      = flag.String("child", "", "internal: measure this store in this process")
	cpuProfile = flag.String("cpuprofile", "", "with -child: write a CPU profile of the random reads to this file")
)

// stores are the stores compared, by name.
var stores = []string{"rueidis default", "mmrueidis"}

// result is what a child measures.
type result struct {
	Store          string
	OpsPerSec      float64 // DoCache on random keys, after the warm-up
	HitRatio       float64 // of those, the share answered locally
	WarmTrips      int     // GET round trips to warm the cache with every key once
	RunTrips       int     // GET round trips during the random reads
	HeapObjects    int64   // live heap objects added by the warm cache
	HeapBytes      int64   // live heap bytes added by the warm cache
	GCMillis       float64 // a forced runtime.GC() with the warm cache, median of 5
	RSSMiB         float64 // the process's RSS with the warm cache
	RunGCCPUMillis float64 // GC CPU time during the random reads
	RunGCs         uint32  // GC cycles during the random reads
	TooLarge       uint64  // mmrueidis only
}

func main() {
	flag.Parse()
	if *child != "" {
		r, err := measure(*child)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *addr == "" {
		a, stop, err := startRedis()
		if err != nil {
			log.Fatal(err)
		}
		defer stop()
		*addr = a
	}
	if err := load(); err != nil {
		log.Fatal(err)
	}
	results := make([][]result, len(stores))
	for range *runs {
		for i, s := range stores {
			r, err := runChild(s)
			if err != nil {
				log.Fatalf("%s: %v", s, err)
			}
			results[i] = append(results[i], r)
		}
	}
	report(results)
}

func key(i int) string { return "key:" + strconv.Itoa(i) }

// load writes the keys with a client without client-side caching, in pipelined batches.
func load() error {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}, DisableCache: true})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, c.B().Flushall().Build()).Error(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	value := make([]byte, *size)
	const batch = 1000
	cmds := make(rueidis.Commands, 0, batch)
	for i := 0; i < *nKeys; i++ {
		for j := range value {
			value[j] = byte('a' + rng.IntN(26))
		}
		cmds = append(cmds, c.B().Set().Key(key(i)).Value(string(value)).Build())
		if len(cmds) == batch || i == *nKeys-1 {
			for _, r := range c.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					return err
				}
			}
			cmds = cmds[:0]
		}
	}
	return nil
}

func runChild(store string) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, "-child", store, "-addr", *addr, "-keys", strconv.Itoa(*nKeys),
		"-size", strconv.Itoa(*size), "-duration", duration.String(), "-goroutines", strconv.Itoa(*goroutines))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, err
	}
	var r result
	return r, json.Unmarshal(out, &r)
}

// report prints a table of the medians over the runs of each store, with the range of the
// throughput, which varies most from run to run.
func report(all [][]result) {
	fmt.Printf("%d keys of %d B, %d goroutines, %v of random DoCache per run, %d runs per store (medians; throughput min-max in brackets), GOMAXPROCS %d, rueidis' default CacheSizeEachConn (128 MiB) per connection for both stores.\n\n",
		*nKeys, *size, *goroutines, *duration, *runs, runtime.GOMAXPROCS(0))
	fmt.Println("| store | DoCache on hits, M ops/s | local hit ratio | Redis round trips (warm-up; random reads) | heap objects added | heap bytes added | forced GC | RSS | GC CPU during the reads (cycles) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, rs := range all {
		med := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		ops := func(r result) float64 { return r.OpsPerSec / 1e6 }
		lo, hi := ops(slices.MinFunc(rs, func(a, b result) int { return cmp.Compare(a.OpsPerSec, b.OpsPerSec) })),
			ops(slices.MaxFunc(rs, func(a, b result) int { return cmp.Compare(a.OpsPerSec, b.OpsPerSec) }))
		fmt.Printf("| %s | %.2f [%.2f-%.2f] | %.2f%% | %.0f; %.0f | %+.0f | %+.1f MiB | %.1f ms | %.0f MiB | %.0f ms (%.0f) |\n",
			rs[0].Store, med(ops), lo, hi,
			med(func(r result) float64 { return 100 * r.HitRatio }),
			med(func(r result) float64 { return float64(r.WarmTrips) }),
			med(func(r result) float64 { return float64(r.RunTrips) }),
			med(func(r result) float64 { return float64(r.HeapObjects) }),
			med(func(r result) float64 { return float64(r.HeapBytes) / (1 << 20) }),
			med(func(r result) float64 { return r.GCMillis }),
			med(func(r result) float64 { return r.RSSMiB }),
			med(func(r result) float64 { return r.RunGCCPUMillis }),
			med(func(r result) float64 { return float64(r.RunGCs) }))
	}
	for _, rs := range all {
		for _, r := range rs {
			if r.TooLarge != 0 {
				fmt.Printf("\n%s: %d replies too large to cache.\n", r.Store, r.TooLarge)
				break
			}
		}
	}
}

// measure runs in the child: it opens a client with the store, warms it with every key, and
// measures.
func measure(store string) (result, error) {
	r := result{Store: store}
	ctx := context.Background()
	admin, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{*addr}, DisableCache: true})
	if err != nil {
		return r, err
	}
	defer admin.Close()
	keys := make([]string, *nKeys)
	for i := range keys {
		keys[i] = key(i)
	}

	opt := rueidis.ClientOption{InitAddress: []string{*addr}}
	var mm *mmrueidis.Cache
	if store == "mmrueidis" {
		if mm, err = mmrueidis.New(mmrueidis.Config{}); err != nil {
			return r, err
		}
		opt.NewCacheStoreFn = mm.NewStore
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return r, err
	}
	defer c.Close()
	if err := admin.Do(ctx, admin.B().ConfigResetstat().Build()).Error(); err != nil {
		return r, err
	}
	objects0, bytes0 := liveHeap()

	// Warm-up: every key once, split among the goroutines.
	var next atomic.Int64
	if err := parallel(func() error {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(keys) {
				return nil
			}
			if err := c.DoCache(ctx, c.B().Get().Key(keys[i]).Cache(), time.Hour).Error(); err != nil {
				return err
			}
		}
	}); err != nil {
		return r, err
	}
	if r.WarmTrips, err = getCalls(admin); err != nil {
		return r, err
	}
	objects1, bytes1 := liveHeap()
	r.HeapObjects, r.HeapBytes = objects1-objects0, bytes1-bytes0
	r.GCMillis = medianGC()
	r.RSSMiB = float64(rss()) / (1 << 20)

	// Random reads.
	var ops, hits atomic.Int64
	gcCPU0, gcs0 := gcCPU(), numGC()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return r, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
		defer pprof.StopCPUProfile()
	}
	deadline := time.Now().Add(*duration)
	start := time.Now()
	seed := atomic.Uint64{}
	if err := parallel(func() error {
		rng := rand.New(rand.NewPCG(seed.Add(1), 7))
		var n, h int64
		defer func() { ops.Add(n); hits.Add(h) }()
		for n&255 != 0 || time.Now().Before(deadline) {
			m, err := c.DoCache(ctx, c.B().Get().Key(keys[rng.IntN(len(keys))]).Cache(), time.Hour).ToMessage()
			if err != nil {
				return err
			}
			if m.IsCacheHit() {
				h++
			}
			n++
		}
		return nil
	}); err != nil {
		return r, err
	}
	elapsed := time.Since(start)
	r.RunGCCPUMillis = (gcCPU() - gcCPU0) * 1000
	r.RunGCs = numGC() - gcs0
	r.OpsPerSec = float64(ops.Load()) / elapsed.Seconds()
	r.HitRatio = float64(hits.Load()) / float64(ops.Load())
	total, err := getCalls(admin)
	if err != nil {
		return r, err
	}
	r.RunTrips = total - r.WarmTrips
	if mm != nil {
		r.TooLarge = mm.Stats().TooLarge
	}
	return r, nil
}

// parallel runs f on -goroutines goroutines and returns the first error.
func parallel(f func() error) error {
	var wg sync.WaitGroup
	errs := make(chan error, *goroutines)
	for range *goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// getCalls returns how many GETs Redis ran since CONFIG RESETSTAT.
func getCalls(admin rueidis.Client) (int, error) {
	info, err := admin.Do(context.Background(), admin.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_get:calls="); ok {
			return strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		}
	}
	return 0, nil
}

// liveHeap returns the live heap objects and bytes after a full collection.
func liveHeap() (objects, bytes int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapObjects), int64(ms.HeapAlloc)
}

func medianGC() float64 {
	var ts []float64
	for range 5 {
		start := time.Now()
		runtime.GC()
		ts = append(ts, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(ts)
	return ts[len(ts)/2]
}

func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}

func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// rss returns the process's resident set in bytes, from /proc/self/status (0 elsewhere).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// startRedis starts a redis-server on a free loopback port, without persistence.
func startRedis() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	a := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", os.TempDir())
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting redis-server (install it, or pass -addr): %w", err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", a); err == nil {
			_, _ = conn.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if strings.HasPrefix(line, "+PONG") {
				return a, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s not ready in 10 s", a)
		}
	}
}
