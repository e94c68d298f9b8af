package caches

import (
	"fmt"

	"github.com/mmcache/mmcache"
)

var mmcachePeer = Peer{
	Name:      "mmcache",
	Module:    "github.com/mmcache/mmcache",
	Bound:     Bytes,
	TTL:       true,
	MinBudget: mmcache.MinCapacity,
	Open:      openMmcache,
}

// mmcacheTuned is mmcache on its defaults: its index grows with the entries, so there is no
// sizing guess left to tune, and every tuned cell reads "= defaults".
var mmcacheTuned = tuned(mmcachePeer, openMmcacheTuned)

type mmcacheAdapter struct{ c *mmcache.Cache }

// openMmcache is mmcache as a user writes it: Capacity, and DefaultTTL when entries expire.
func openMmcache(spec Spec) (Cache, string, error) {
	return newMmcache(spec, mmcache.Config{Capacity: int(spec.Budget), DefaultTTL: max(spec.TTL, 0)})
}

func openMmcacheTuned(Spec) (Cache, string, error) { return nil, "", ErrSameAsDefaults }

func newMmcache(spec Spec, cfg mmcache.Config) (Cache, string, error) {
	c, err := mmcache.New(cfg)
	if err != nil {
		return nil, "", err
	}
	desc := fmt.Sprintf("Config{Capacity: %s", sizeString(spec.Budget))
	if cfg.DefaultTTL > 0 {
		desc += fmt.Sprintf(", DefaultTTL: %v", cfg.DefaultTTL)
	}
	return mmcacheAdapter{c}, desc + "}; all else default, huge pages on", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a mmcacheAdapter) Get(dst, key []byte) ([]byte, bool) { return a.c.Get(dst, key) }
func (a mmcacheAdapter) Set(key, value []byte) bool         { return a.c.Set(key, value) == nil }
func (a mmcacheAdapter) Len() int                           { return a.c.Len() }
func (a mmcacheAdapter) Reset()                             { a.c.Reset() }
func (a mmcacheAdapter) Close()                             { _ = a.c.Close() }
