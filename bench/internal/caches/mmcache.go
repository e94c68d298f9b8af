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

type mmcacheAdapter struct{ c *mmcache.Cache }

func openMmcache(spec Spec) (Cache, string, error) {
	cfg := mmcache.Config{
		Capacity:     int(spec.Budget),
		DefaultTTL:   max(spec.TTL, 0),
		AvgEntrySize: spec.EntrySize(),
	}
	c, err := mmcache.New(cfg)
	if err != nil {
		return nil, "", err
	}
	desc := fmt.Sprintf("Config{Capacity: %s, AvgEntrySize: %d", sizeString(spec.Budget), cfg.AvgEntrySize)
	if spec.TTL > 0 {
		desc += fmt.Sprintf(", DefaultTTL: %v", spec.TTL)
	}
	return mmcacheAdapter{c}, desc + "}; Shards, JanitorInterval, MaxEntrySize default; huge pages on", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a mmcacheAdapter) Get(dst, key []byte) ([]byte, bool) { return a.c.Get(dst, key) }
func (a mmcacheAdapter) Set(key, value []byte) bool         { return a.c.Set(key, value) == nil }
func (a mmcacheAdapter) Len() int                           { return a.c.Len() }
func (a mmcacheAdapter) Reset()                             { a.c.Reset() }
func (a mmcacheAdapter) Close()                             { _ = a.c.Close() }
