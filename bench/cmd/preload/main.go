// Command preload times how long filling a new mmcache takes, with and without transparent
// huge pages: n new keys of 16 bytes with values of v bytes, into a cache of twice their size
// on defaults, one goroutine.
//
//	cd bench && go run ./cmd/preload -n 2000000 -v 1024
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mmcache/mmcache"
)

func main() {
	n := flag.Int("n", 2_000_000, "keys to set")
	vlen := flag.Int("v", 1024, "value length in bytes")
	flag.Parse()
	for _, noHuge := range []bool{false, true} {
		d, err := fill(*n, *vlen, noHuge)
		if err != nil {
			fmt.Fprintln(os.Stderr, "preload:", err)
			os.Exit(1)
		}
		fmt.Printf("%d keys x %d B, NoHugePages %-5v: %v (%.0f ns per Set)\n", *n, *vlen, noHuge, d.Round(time.Millisecond), float64(d.Nanoseconds())/float64(*n))
	}
}

func fill(n, vlen int, noHuge bool) (time.Duration, error) {
	c, err := mmcache.New(mmcache.Config{Capacity: 2 * n * (16 + vlen), NoHugePages: noHuge})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	key, value := make([]byte, 16), make([]byte, vlen)
	start := time.Now()
	for i := range n {
		binary.LittleEndian.PutUint64(key, uint64(i))
		if err := c.Set(key, value); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
