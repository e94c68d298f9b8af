package mmcache

import "runtime"

// Stats is a snapshot of a cache's counters and sizes.
//
// What each operation counts:
//
//	Get, GetWithTTL, View            a hit or a miss
//	SetIfAbsent, GetOrSet            a hit when the key has a live entry, else a miss and a Set
//	CompareAndSwap                   a hit when the key has a live entry (a Set too if it swapped),
//	                                 a miss when it has none
//	Set, SetWithTTL                  a Set
//	Delete                           a Delete when it removed a live entry, an Expiration when
//	                                 the entry it removed had expired
//	Has, TTL, Touch, All, Keys, Len  nothing
//
// Each entry that leaves the cache counts once: as a Delete, an Expiration or an Eviction, or
// as nothing when a write replaces it live; these are the removals OnRemoval reports, with the
// same causes. Reset and Close drop entries without counting them.
type Stats struct {
	Hits, Misses uint64 // lookups that found, or did not find, a live entry (see above)
	Sets         uint64 // writes that stored an entry
	Deletes      uint64 // Deletes that removed a live entry
	Evictions    uint64 // live entries dropped to make room
	Expirations  uint64 // expired entries dropped
	DecodeErrors uint64 // stored values that a Typed view's codec could not decode
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
	st := Stats{Capacity: len(e.region), ReservedBytes: e.reservedBytes(), DecodeErrors: e.decodeErrors.Load()}
	st.Hits, st.Misses = e.readers.counts()
	for i := range e.shards {
		e.shards[i].stats(&st)
	}
	runtime.KeepAlive(c)
	return st
}

// stats adds the shard's counters and sizes to st, when st is not nil, and returns its entry
// count (0 once closed).
func (s *shard) stats(st *Stats) (entries int) {
	s.ready()
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
