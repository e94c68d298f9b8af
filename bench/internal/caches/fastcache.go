package caches

import (
	"fmt"

	"github.com/VictoriaMetrics/fastcache"
)

// fastcache rounds any smaller maxBytes up to 32 MiB and silently drops entries over 64 KiB.
const (
	fastcacheMin      = 32 << 20
	fastcacheMaxEntry = 64<<10 - 4
)

var fastcachePeer = Peer{
	Name:      "fastcache",
	Module:    "github.com/VictoriaMetrics/fastcache",
	Bound:     Bytes,
	MinBudget: fastcacheMin,
	Open:      openFastcache,
}

type fastcacheAdapter struct{ c *fastcache.Cache }

func openFastcache(spec Spec) (Cache, string, error) {
	if spec.TTL > 0 {
		return nil, "", fmt.Errorf("%w: fastcache has no expiry", ErrUnsupported)
	}
	if spec.EntrySize() > fastcacheMaxEntry {
		return nil, "", fmt.Errorf("%w: fastcache drops entries over 64 KiB (SetBig is another API)", ErrUnsupported)
	}
	c := fastcache.New(int(spec.Budget))
	return fastcacheAdapter{c}, fmt.Sprintf("New(%s)", sizeString(spec.Budget)), nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a fastcacheAdapter) Get(dst, key []byte) ([]byte, bool) { return a.c.HasGet(dst, key) }
func (a fastcacheAdapter) Set(key, value []byte) bool {
	a.c.Set(key, value)
	return true
}

func (a fastcacheAdapter) Len() int {
	var s fastcache.Stats
	a.c.UpdateStats(&s)
	return int(s.EntriesCount)
}

func (a fastcacheAdapter) Reset() { a.c.Reset() }

// Close resets the cache, which is all fastcache offers: its chunks go back to a free list
// and stay mapped.
func (a fastcacheAdapter) Close() { a.c.Reset() }
