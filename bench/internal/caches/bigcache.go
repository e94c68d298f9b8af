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

// bigcacheTuned sizes the shards and their initial queues from the workload: Shards halved
// until each shard holds a good number of entries, MaxEntrySize the entry size and
// MaxEntriesInWindow the expected entries.
var bigcacheTuned = tuned(bigcachePeer, openBigcacheTuned)

type bigcacheAdapter struct{ c *bigcache.BigCache }

// bigcacheConfig is bigcache.DefaultConfig with the README's two choices, the life window (the
// TTL, or no expiry) and HardMaxCacheSize from the budget. Verbose is turned off: it only logs,
// and bigcache's default logger writes to stdout, which carries the harness's results.
func bigcacheConfig(spec Spec) bigcache.Config {
	cfg := bigcache.DefaultConfig(bigcacheForever)
	if spec.TTL > 0 {
		cfg.LifeWindow = spec.TTL
	}
	cfg.HardMaxCacheSize = max(int(spec.Budget/mib), 1)
	cfg.Verbose = false
	return cfg
}

func openBigcache(spec Spec) (Cache, string, error) {
	return newBigcache(spec, bigcacheConfig(spec), "DefaultConfig(%s) with HardMaxCacheSize: %d (MiB), Verbose: false; so Shards: %d, MaxEntrySize: %d, MaxEntriesInWindow: %d, CleanWindow: %v")
}

func openBigcacheTuned(spec Spec) (Cache, string, error) {
	cfg := bigcacheConfig(spec)
	cfg.MaxEntrySize = spec.EntrySize()
	cfg.MaxEntriesInWindow = spec.expected()
	// Each shard gets HardMaxCacheSize/Shards bytes and must hold a good number of entries.
	for cfg.Shards > 1 && spec.Budget/int64(cfg.Shards) < int64(64*(spec.EntrySize()+32)) {
		cfg.Shards /= 2
	}
	return newBigcache(spec, cfg, "DefaultConfig(%s) with HardMaxCacheSize: %d (MiB), Verbose: false, Shards: %d, MaxEntrySize: %d, MaxEntriesInWindow: %d; CleanWindow: %v")
}

// newBigcache opens bigcache with cfg and describes it with format, which takes the life
// window, HardMaxCacheSize, Shards, MaxEntrySize, MaxEntriesInWindow and CleanWindow.
func newBigcache(spec Spec, cfg bigcache.Config, format string) (Cache, string, error) {
	c, err := bigcache.New(context.Background(), cfg)
	if err != nil {
		return nil, "", err
	}
	life := "100 years: no expiry"
	if spec.TTL > 0 {
		life = spec.TTL.String()
	}
	desc := fmt.Sprintf(format, life, cfg.HardMaxCacheSize, cfg.Shards, cfg.MaxEntrySize, cfg.MaxEntriesInWindow, cfg.CleanWindow)
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
