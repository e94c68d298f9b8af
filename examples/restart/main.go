// Command restart shows a warm restart end to end. A first process fills a cache whose mapping
// is a file on tmpfs (Config.Path) with a zipf-distributed read-through workload, and exits
// after Close. A second process opens the same file: it is hot at once. The program prints how
// long the second New took, the time to the first hit, and the hit ratio of the first requests
// after the restart, against a cold start that serves the same requests from an empty cache.
//
//	go run ./examples/restart              # about 5 s on 2 cores
//	go run ./examples/restart -keys 5000000
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mmcache/mmcache"
)

func main() {
	keys := flag.Int("keys", 1_000_000, "distinct keys of the workload")
	requests := flag.Int("requests", 1_000_000, "requests measured after the restart")
	dir := flag.String("dir", "/dev/shm", "directory for the cache file (tmpfs)")
	role := flag.String("role", "", "internal: fill, warm or cold")
	path := flag.String("path", "", "internal: the cache file")
	flag.Parse()
	capacity := *keys * 150 // 16+64 B entries with room to spare

	switch *role {
	case "fill":
		fill(*path, capacity, *keys)
		return
	case "warm", "cold":
		serve(*role, *path, capacity, *keys, *requests)
		return
	}
	f := filepath.Join(*dir, fmt.Sprintf("mmcache-restart-%d", os.Getpid()))
	defer os.Remove(f)
	run := func(role string) {
		cmd := exec.Command(os.Args[0], "-role", role, "-path", f, "-keys", strconv.Itoa(*keys), "-requests", strconv.Itoa(*requests))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("%s: %v", role, err)
		}
	}
	fmt.Printf("%d keys of 16+64 bytes, zipf 1.01, read-through; the cache file is %s (%d MiB)\n", *keys, f, capacity>>20)
	run("fill") // a first process fills the cache and exits
	run("warm") // the next one reattaches the file
	run("cold") // the same requests from an empty cache
}

// workload is a read-through replay: each request Gets a key and, on a miss, Sets it.
type workload struct {
	z   *rand.Zipf
	key [16]byte
	val [64]byte
}

func newWorkload(keys int, seed uint64) *workload {
	r := rand.New(rand.NewPCG(seed, 7))
	return &workload{z: rand.NewZipf(r, 1.01, 1, uint64(keys-1))}
}

// next performs one request and reports whether it hit.
func (w *workload) next(c *mmcache.Cache, buf []byte) ([]byte, bool) {
	k := w.z.Uint64()
	copy(w.key[:], fmt.Appendf(w.key[:0], "key-%012d", k))
	buf, ok := c.Get(buf[:0], w.key[:])
	if !ok {
		_ = c.Set(w.key[:], w.val[:])
	}
	return buf, ok
}

func fill(path string, capacity, keys int) {
	t0 := time.Now()
	c, err := mmcache.New(mmcache.Config{Capacity: capacity, Path: path})
	if err != nil {
		log.Fatal(err)
	}
	w := newWorkload(keys, 1)
	var buf []byte
	for range 4 * keys {
		buf, _ = w.next(c, buf)
	}
	n := c.Len()
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("first process:  filled %d entries through %d requests in %v, closed\n", n, 4*keys, time.Since(t0).Round(time.Millisecond))
}

func serve(role, path string, capacity, keys, requests int) {
	cfg := mmcache.Config{Capacity: capacity}
	if role == "warm" {
		cfg.Path = path
	}
	t0 := time.Now()
	c, err := mmcache.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	newTime := time.Since(t0)
	defer c.Close()
	w := newWorkload(keys, 2)
	var buf []byte
	firstHit := time.Duration(-1)
	hits, window := 0, min(requests, 100_000)
	windowHits := 0
	for i := range requests {
		var ok bool
		buf, ok = w.next(c, buf)
		if ok {
			hits++
			if firstHit < 0 {
				firstHit = time.Since(t0)
			}
			if i < window {
				windowHits++
			}
		}
	}
	elapsed := time.Since(t0)
	first := "none"
	if firstHit >= 0 {
		first = firstHit.Round(10 * time.Microsecond).String()
	}
	label := map[string]string{"warm": "warm restart:  ", "cold": "cold start:    "}[role]
	fmt.Printf("%s New %v, first hit at %s, hit ratio %.1f%% over the first %d requests and %.1f%% over %d, in %v\n",
		label, newTime.Round(10*time.Microsecond), first, 100*float64(windowHits)/float64(window), window,
		100*float64(hits)/float64(requests), requests, elapsed.Round(time.Millisecond))
}
