package caches

import (
	"fmt"
	"time"

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

type mmcacheAdapter struct {
	c   *mmcache.Cache
	ttl time.Duration // the Spec's TTL, for SetIfAbsent (Set uses DefaultTTL)
}

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
	return mmcacheAdapter{c, cfg.DefaultTTL}, desc + "}; all else default, huge pages on", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a mmcacheAdapter) Get(dst, key []byte) ([]byte, bool) { return a.c.Get(dst, key) }
func (a mmcacheAdapter) Set(key, value []byte) bool         { return a.c.Set(key, value) == nil }
func (a mmcacheAdapter) Len() int                           { return a.c.Len() }
func (a mmcacheAdapter) Reset()                             { a.c.Reset() }
func (a mmcacheAdapter) Close()                             { _ = a.c.Close() }

// GetWithExpiry is GetWithTTL; expiry is the time left in nanoseconds, 0 for none.
func (a mmcacheAdapter) GetWithExpiry(dst, key []byte) ([]byte, int64, bool) {
	v, ttl, ok := a.c.GetWithTTL(dst, key)
	return v, int64(ttl), ok
}

// SetIfAbsent is SetIfAbsent with the Spec's TTL.
func (a mmcacheAdapter) SetIfAbsent(key, value []byte) bool {
	stored, err := a.c.SetIfAbsent(key, value, a.ttl)
	return stored && err == nil
}

// Delete is Delete.
func (a mmcacheAdapter) Delete(key []byte) bool { return a.c.Delete(key) }

// Walk ranges over All.
func (a mmcacheAdapter) Walk() (n int, sum uint64) {
	for k, v := range a.c.All() {
		n++
		sum += walkSum(k, v)
	}
	return n, sum
}
