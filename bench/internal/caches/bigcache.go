package caches

import (
	"context"
	"fmt"
	"time"

	"github.com/allegro/bigcache/v3"
)

// bigcacheForever is the LifeWindow used when entries should not expire: bigcache has no
// "never", and a zero LifeWindow would expire everything after a second.
const bigcacheForever = 100 * 365 * 24 * time.Hour

var bigcachePeer = Peer{
	Name:      "bigcache",
	Module:    "github.com/allegro/bigcache/v3",
	Bound:     Bytes,
	TTL:       true,
	MinBudget: mib,
	Open:      openBigcache,
}

type bigcacheAdapter struct{ c *bigcache.BigCache }

func openBigcache(spec Spec) (Cache, string, error) {
	cfg := bigcache.DefaultConfig(bigcacheForever)
	cfg.Verbose = false
	cfg.HardMaxCacheSize = max(int(spec.Budget/mib), 1)
	cfg.MaxEntrySize = spec.EntrySize()
	cfg.MaxEntriesInWindow = spec.expected()
	// Each shard gets HardMaxCacheSize/Shards bytes and must hold a good number of entries.
	for cfg.Shards > 1 && spec.Budget/int64(cfg.Shards) < int64(64*(spec.EntrySize()+32)) {
		cfg.Shards /= 2
	}
	if spec.TTL > 0 {
		cfg.LifeWindow = spec.TTL
	}
	c, err := bigcache.New(context.Background(), cfg)
	if err != nil {
		return nil, "", err
	}
	life := "100 years (no expiry)"
	if spec.TTL > 0 {
		life = spec.TTL.String()
	}
	desc := fmt.Sprintf("Config{Shards: %d, HardMaxCacheSize: %d (MiB), MaxEntrySize: %d, MaxEntriesInWindow: %d, LifeWindow: %s, CleanWindow: %v}",
		cfg.Shards, cfg.HardMaxCacheSize, cfg.MaxEntrySize, cfg.MaxEntriesInWindow, life, cfg.CleanWindow)
	return bigcacheAdapter{c}, desc, nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a bigcacheAdapter) Get(dst, key []byte) ([]byte, bool) {
	v, err := a.c.Get(view(key))
	if err != nil {
		return dst, false
	}
	return append(dst, v...), true
}

// Set hands bigcache a view of key: bigcache copies the key into its queue and keeps only a
// hash in its map.
func (a bigcacheAdapter) Set(key, value []byte) bool { return a.c.Set(view(key), value) == nil }
func (a bigcacheAdapter) Len() int                   { return a.c.Len() }
func (a bigcacheAdapter) Reset()                     { _ = a.c.Reset() }
func (a bigcacheAdapter) Close()                     { _ = a.c.Close() }
