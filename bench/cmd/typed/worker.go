package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mmcache/mmcache"
)

// workerFlag is the hidden first argument that makes the binary a worker: it reads one job as
// JSON on stdin, runs it, and writes its result as JSON on stdout.
const workerFlag = "-worker"

// keySize is the length of every key: "user:" and 11 digits.
const keySize = 16

// job is what the parent asks a worker to measure.
type job struct {
	Kind       string // "ops" or "stampede"
	Cache      string // mmcache, otter, theine
	Value      string // json, binary, struct or int64 (ops)
	N          int    // entries preloaded (ops)
	Goroutines int
	Dist       string // zipf or uniform
	ZipfS      float64
	Runs       int
	Dur        time.Duration
	Seed       uint64
	CapFactor  float64 // mmcache's Capacity over its payload

	Callers, HotKeys, Requests, Rounds int // stampede
	LoadDelay                          time.Duration
}

// opsResult is what a worker measured for one ops job.
type opsResult struct {
	Config         string
	ValueBytes     int // encoded bytes of the last record (mmcache), 0 for a heap cache
	Entries        int
	PreloadSeconds float64
	BaseObjects    uint64    // heap objects before the cache was made
	HeapObjects    uint64    // heap objects after the preload and a forced GC
	HeapLive       uint64    // live heap bytes after the preload
	GCMillis       []float64 // wall time of each of the forced GCs after the preload
	GCCPUMillis    float64   // GC CPU time per forced GC (/cpu/classes/gc/total:cpu-seconds)
	RSS            int64     // VmRSS after the preload and the forced GCs
	GetNs, SetNs   []float64 // ns/op of each run
	GetAllocs      float64   // heap allocations per op, over all Get runs
	SetAllocs      float64
	GetMisses      int64
	// PreloadEvictions and Evictions are the entries evicted by the end of the preload and of
	// the Set runs; -1 where the cache does not say.
	PreloadEvictions, Evictions int64
	Err                         string
}

// stampedeResult is what a worker measured for one stampede job.
type stampedeResult struct {
	Loads     []int64   // loader calls per round
	LatencyNs []float64 // p50, p99, max over every request of every round
	WallMs    []float64 // per round
	Errors    int64
	Err       string
}

// runWorker reads the job, runs it and writes its result.
func runWorker() {
	var j job
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	var res any
	switch {
	case j.Kind == "stampede":
		res = runStampede(j)
	case j.Value == "int64":
		res = runOps(j, mmcache.IntCodec[int64]{}, func(i int) int64 { return int64(i) * 7919 })
	case j.Value == "binary":
		res = runOps(j, mmcache.BinaryCodec[Record, *Record]{}, newRecord)
	default: // json, and struct for the heap caches, which take no codec
		res = runOps(j, mmcache.JSONCodec[Record]{}, newRecord)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
}

// openStore opens the job's cache for n entries: mmcache with codec and a Capacity of
// j.CapFactor times the payload, counting 48 bytes of bookkeeping per entry besides key and
// value; otter and theine bounded at 2n entries.
func openStore[V any](j job, codec mmcache.Codec[V], sample V) (store[V], string, int, error) {
	switch j.Cache {
	case "mmcache":
		enc, err := codec.Append(nil, sample)
		if err != nil {
			return nil, "", 0, err
		}
		capacity := int(j.CapFactor * float64(j.N*(keySize+len(enc)+48)))
		capacity = max((capacity+(1<<20)-1)&^((1<<20)-1), 16<<20)
		s, desc, err := openMmcache(capacity, codec)
		return s, desc, len(enc), err
	case "otter":
		s, desc, err := openOtter[V](2 * j.N)
		return s, desc, 0, err
	case "theine":
		s, desc, err := openTheine[V](2 * j.N)
		return s, desc, 0, err
	}
	return nil, "", 0, fmt.Errorf("unknown cache %q", j.Cache)
}

// runOps preloads j.N entries made by gen, then takes the heap and GC readings and times Get
// and Set.
func runOps[V any](j job, codec mmcache.Codec[V], gen func(int) V) (res opsResult) {
	keys := makeKeys(j.N)
	seqs := make([][]uint32, j.Goroutines)
	for g := range seqs {
		seqs[g] = sequence(j, uint64(g))
	}
	runtime.GC()
	res.BaseObjects = heapObjects()

	s, desc, vbytes, err := openStore(j, codec, gen(j.N-1))
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer s.close()
	res.Config, res.ValueBytes = desc, vbytes
	t0 := time.Now()
	for i := range j.N {
		s.preload(keys.at(i), gen(i))
	}
	s.settle()
	res.PreloadSeconds = time.Since(t0).Seconds()
	res.Entries = s.len()
	res.PreloadEvictions = s.evictions()
	for _, i := range []int{0, j.N / 2, j.N - 1} { // the values come back as they went in
		if v, ok := s.get(keys.at(i)); !ok || !reflect.DeepEqual(v, gen(i)) {
			res.Err = fmt.Sprintf("key %d: got %+v (found %v), want %+v", i, v, ok, gen(i))
			return res
		}
	}

	runtime.GC() // the preload's garbage, untimed
	cpu0 := readFloatMetric("/cpu/classes/gc/total:cpu-seconds")
	for range 5 {
		t := time.Now()
		runtime.GC()
		res.GCMillis = append(res.GCMillis, float64(time.Since(t).Nanoseconds())/1e6)
	}
	res.GCCPUMillis = (readFloatMetric("/cpu/classes/gc/total:cpu-seconds") - cpu0) * 1e3 / 5
	res.HeapObjects = heapObjects()
	res.HeapLive = readMetric("/gc/heap/live:bytes")
	res.RSS = vmRSS()
	runtime.KeepAlive(keys)

	// Values for the Sets, made after the heap reading: 1024 of them, used in turn.
	vals := make([]V, 1024)
	for i := range vals {
		vals[i] = gen(j.N + i)
	}
	// All the Get runs come first, on the cache as the preload left it; then the Set runs.
	var getAllocs, setAllocs, getOps, setOps uint64
	for range j.Runs {
		ns, allocs, ops, misses := timeOps(s, keys, seqs, vals, true, j.Dur)
		res.GetNs, getAllocs, getOps, res.GetMisses = append(res.GetNs, ns), getAllocs+allocs, getOps+ops, res.GetMisses+misses
	}
	for range j.Runs {
		ns, allocs, ops, _ := timeOps(s, keys, seqs, vals, false, j.Dur)
		res.SetNs, setAllocs, setOps = append(res.SetNs, ns), setAllocs+allocs, setOps+ops
	}
	res.GetAllocs = float64(getAllocs) / float64(max(getOps, 1))
	res.SetAllocs = float64(setAllocs) / float64(max(setOps, 1))
	res.Evictions = s.evictions()
	return res
}

// timeOps runs Gets (or Sets) on len(seqs) goroutines for d, each going through its own
// sequence of key indexes, and returns the wall time per operation of all of them together
// (as testing's RunParallel reports it), the heap allocations and operations counted, and the
// Gets that missed.
func timeOps[V any](s store[V], keys keySet, seqs [][]uint32, vals []V, get bool, d time.Duration) (nsPerOp float64, allocs, ops uint64, misses int64) {
	var stop atomic.Bool
	var total, missed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g, seq := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mask := len(seq) - 1
			i := g * 7919 // goroutines start at different points of their sequences
			var n, miss int64
			<-start
			for !stop.Load() {
				for range 256 {
					k := keys.at(int(seq[i&mask]))
					if get {
						if _, ok := s.get(k); !ok {
							miss++
						}
					} else {
						s.set(k, vals[i&1023])
					}
					i++
				}
				n += 256
			}
			total.Add(n)
			missed.Add(miss)
		}()
	}
	a0 := readMetric("/gc/heap/allocs:objects")
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(t0)
	allocs = readMetric("/gc/heap/allocs:objects") - a0
	ops = uint64(total.Load())
	return float64(elapsed.Nanoseconds()) / float64(ops), allocs, ops, missed.Load()
}

// keySet holds n distinct keys of keySize bytes ("user:00000000042") in one block without
// pointers: the keys add one heap object, and nothing for the GC to scan, to every cache's
// process.
type keySet struct{ arena []byte }

// makeKeys returns the keys 0 to n-1.
func makeKeys(n int) keySet {
	arena := make([]byte, 0, n*keySize)
	for i := range n {
		arena = append(arena, "user:00000000000"...)
		for p, v := len(arena)-1, i; v > 0; p, v = p-1, v/10 {
			arena[p] = byte('0' + v%10)
		}
	}
	return keySet{arena}
}

// at returns key i, a view of the block: valid as long as the keySet is.
func (k keySet) at(i int) string { return unsafe.String(&k.arena[i*keySize], keySize) }

// sequence returns the key indexes goroutine g goes through: 1<<20 of them, zipf-distributed
// (rank r scattered to index r·m mod n, m coprime with n, so that hot keys are not neighbours)
// or uniform.
func sequence(j job, g uint64) []uint32 {
	r := rand.New(rand.NewPCG(j.Seed, g+1))
	seq := make([]uint32, 1<<20)
	n := uint64(j.N)
	if j.Dist == "uniform" {
		for i := range seq {
			seq[i] = uint32(r.Uint64N(n))
		}
		return seq
	}
	z := rand.NewZipf(r, j.ZipfS, 1, n-1)
	m := uint64(1_000_003)
	for gcd(m, n) != 1 {
		m += 2
	}
	for i := range seq {
		seq[i] = uint32(z.Uint64() * m % n)
	}
	return seq
}

// gcd returns the greatest common divisor of a and b.
func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// heapObjects returns the count of objects on the heap, live or not yet swept: the live ones
// right after a runtime.GC.
func heapObjects() uint64 { return readMetric("/gc/heap/objects:objects") }

// readFloatMetric reads one float64 runtime metric.
func readFloatMetric(name string) float64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}

// readMetric reads one uint64 runtime metric.
func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// vmRSS returns the process's resident set size in bytes (VmRSS in /proc/self/status), or 0
// where there is no /proc.
func vmRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// median returns the median of xs (the mean of the middle two for an even count), or 0.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
