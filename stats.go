package mmcache

import "runtime"

// Stats is a snapshot of a cache's counters and sizes.
type Stats struct {
	Hits, Misses uint64 // lookups by Get and View that found, or did not find, a live entry
	Sets         uint64 // successful Sets
	Deletes      uint64 // Deletes that found the key
	Evictions    uint64 // entries dropped to make room
	Expirations  uint64 // expired entries dropped
	Entries      int    // entries present, as Len
	LiveBytes    int    // bytes of their keys and values

	// UsedBytes is the part of the mapping that holds data now: every segment up to its write
	// position (entry headers, keys and values, live or waiting to be reclaimed) and the index
	// pages, which grow with the entries. An empty cache uses 0 bytes.
	UsedBytes int
	// ReservedBytes is the part of the mapping set aside for bookkeeping, whether written or
	// not: the shards' headers and index directories, and the segments' records. It costs
	// memory only where it is written.
	ReservedBytes int
	// Capacity is the size of the mapping in bytes, the bound on everything above.
	Capacity int
}

// Stats returns the cache's counters. After Close, Entries, LiveBytes and UsedBytes read 0;
// the counters, ReservedBytes and Capacity remain, and lookups on the closed cache are not
// counted.
func (c *Cache) Stats() Stats {
	e := c.engine()
	st := Stats{Capacity: len(e.region), ReservedBytes: e.reservedBytes()}
	lookups, misses := e.readers.counts()
	st.Hits, st.Misses = lookups-misses, misses
	for i := range e.shards {
		e.shards[i].stats(&st)
	}
	runtime.KeepAlive(c)
	return st
}

// stats adds the shard's counters and sizes to st, when st is not nil, and returns its entry
// count (0 once closed).
func (s *shard) stats(st *Stats) (entries int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mayPanic(pointReadLocked)
	if st != nil {
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.Sets += s.sets
		st.Deletes += s.deletes
		st.Evictions += s.evictions
		st.Expirations += s.expirations
	}
	if s.closed {
		return 0
	}
	if st != nil {
		st.Entries += s.entries
		st.LiveBytes += s.liveBytes
		st.UsedBytes += s.usedBytes()
	}
	return s.entries
}
