// Command fill measures how full an mmcache on its defaults is when it first evicts: for each
// Capacity and each distribution of entry sizes, it fills a fresh cache with new keys until
// Stats().Evictions moves, and prints the bytes in use just before that moment as a share of
// Capacity, and the entries held. It also checks that entries held never fall as Capacity
// grows.
//
//	cd bench && go run ./cmd/fill            # about 20 seconds on 2 cores
//	cd bench && go run ./cmd/fill -target 90 # exit status 1 when a cell is under 90%
//
// The bytes in use are Stats().UsedBytes: with new keys only, nothing is dead, so that is the
// live entries (header, key, value and padding) plus the index pages that map them. What the
// share leaves out is what the cache could not use: room left at the end of segments, the
// shards' segments being written, and bookkeeping (Stats().ReservedBytes).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"

	"github.com/mmcache/mmcache"
)

// sizes is a distribution of key+value sizes, keys of 16 bytes.
type sizes struct {
	name string
	next func(r *rand.Rand) int
}

func fixed(n int) sizes {
	return sizes{fmt.Sprintf("%d B", n), func(*rand.Rand) int { return n }}
}

func uniform(lo, hi int) sizes {
	return sizes{fmt.Sprintf("%d B-%d B", lo, hi), func(r *rand.Rand) int { return lo + r.IntN(hi-lo+1) }}
}

func main() {
	target := flag.Float64("target", 0, "exit 1 when the bytes in use at the first eviction fall below this percentage of Capacity")
	caps := flag.String("capacities", "4,12,12.5,64,256", "capacities to fill, in MiB")
	flag.Parse()
	var capacities []int
	for _, f := range strings.Split(*caps, ",") {
		var mib float64
		if _, err := fmt.Sscan(f, &mib); err != nil {
			fmt.Fprintln(os.Stderr, "fill: -capacities:", err)
			os.Exit(2)
		}
		capacities = append(capacities, int(mib*(1<<20)))
	}
	dists := []sizes{
		fixed(24), fixed(33), fixed(80), fixed(200), fixed(1040), fixed(4096), fixed(65536),
		uniform(24, 1024), uniform(24, 65536),
	}
	fmt.Printf("%-14s", "entry size")
	for _, c := range capacities {
		fmt.Printf(" | %22s", fmt.Sprintf("%g MiB", float64(c)/(1<<20)))
	}
	fmt.Println()
	// The cells are independent: filled side by side, one per core, and printed in order.
	type cell struct {
		share   float64
		entries int
		err     error
		done    chan struct{}
	}
	cells := make([][]cell, len(dists))
	work := make(chan func(), len(dists)*len(capacities))
	for i, d := range dists {
		cells[i] = make([]cell, len(capacities))
		for j, capacity := range capacities {
			c := &cells[i][j]
			c.done = make(chan struct{})
			work <- func() {
				defer close(c.done)
				c.share, c.entries, c.err = fill(capacity, d)
			}
		}
	}
	close(work)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for f := range work {
				f()
			}
		}()
	}
	failed := false
	for i, d := range dists {
		fmt.Printf("%-14s", d.name)
		held := 0
		for j := range capacities {
			c := &cells[i][j]
			<-c.done
			share, entries, err := c.share, c.entries, c.err
			if err != nil {
				fmt.Fprintln(os.Stderr, "\nfill:", err)
				os.Exit(2)
			}
			mark := " "
			if share*100 < *target {
				mark, failed = "*", true
			}
			if entries < held {
				mark, failed = "↓", true // fewer entries held in a larger cache
			}
			held = entries
			fmt.Printf(" | %5.1f%%%s %9d entries", 100*share, mark, entries)
		}
		fmt.Println()
	}
	fmt.Println("\n* under -target; ↓ fewer entries than in the smaller cache to the left")
	if failed {
		os.Exit(1)
	}
}

// fill fills a new cache of the given capacity, on defaults, until its first eviction.
func fill(capacity int, d sizes) (share float64, entries int, err error) {
	c, err := mmcache.New(mmcache.Config{Capacity: capacity, JanitorInterval: -1})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(1, 2))
	key := make([]byte, 16)
	value := make([]byte, 1<<20)
	before := c.Stats()
	for i := uint64(0); ; i++ {
		binary.LittleEndian.PutUint64(key, i)
		if err := c.Set(key, value[:max(d.next(r)-len(key), 0)]); err != nil {
			return 0, 0, err
		}
		after := c.Stats()
		if after.Evictions > 0 {
			return float64(before.UsedBytes) / float64(before.Capacity), before.Entries, nil
		}
		before = after
	}
}
