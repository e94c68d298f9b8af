package mmcache

import (
	"strconv"
	"sync"
)

// RemovalCause says why an entry left the cache; [Config.OnRemoval] receives it.
type RemovalCause uint8

const (
	// RemovalDeleted: [Cache.Delete] removed the entry.
	RemovalDeleted RemovalCause = iota + 1
	// RemovalReplaced: a write stored a new value under the entry's key while it was live
	// (Set, SetWithTTL, a successful CompareAndSwap).
	RemovalReplaced
	// RemovalExpired: the entry's time to live had run out when the cache dropped it, whoever
	// dropped it (the janitor, an eviction, a write or a Delete that found it).
	RemovalExpired
	// RemovalEvicted: the cache dropped the entry, live, to make room.
	RemovalEvicted
)

// String returns the cause's name: "deleted", "replaced", "expired" or "evicted".
func (c RemovalCause) String() string {
	switch c {
	case RemovalDeleted:
		return "deleted"
	case RemovalReplaced:
		return "replaced"
	case RemovalExpired:
		return "expired"
	case RemovalEvicted:
		return "evicted"
	}
	return "RemovalCause(" + strconv.Itoa(int(c)) + ")"
}

// Removal events. An entry leaves the cache under its shard's write lock, often while other
// entries are moved over its bytes (an eviction compacts the segment it empties), but
// OnRemoval must run outside every lock, after the operation is visible, and from the goroutine
// that caused the removal. So an operation that may remove entries carries a removals record
// into the lock: each entry that leaves is copied there, key and value, before anything else
// touches its bytes, and once the operation has released every lock it calls OnRemoval for
// each, in order. A shard that gives up a segment to another shard's write (a steal) records
// into the stealer's removals, so that the Set that caused the eviction reports it.
//
// The records are heap buffers, reused through a pool: at most about a segment's worth per
// operation in progress (the most one write evicts), and nothing at all when OnRemoval is nil.

// removals holds the entries an operation removed, for OnRemoval.
type removals struct {
	buf  []byte // keys and values, back to back
	recs []removalRec
}

type removalRec struct {
	keyLen, valLen int
	cause          RemovalCause
}

// maxPooledRemovals is the largest buffer kept for reuse: larger ones, from evictions of
// large entries, go to the garbage collector.
const maxPooledRemovals = 4 << 20

var removalsPool = sync.Pool{New: func() any { return new(removals) }}

// add records an entry that left the cache. key and value may point into the mapping.
func (r *removals) add(key, value []byte, cause RemovalCause) {
	r.buf = append(append(r.buf, key...), value...)
	r.recs = append(r.recs, removalRec{len(key), len(value), cause})
}

// newRemovals returns an empty record for an operation that may remove entries, or nil when the
// cache has no OnRemoval.
func (e *engine) newRemovals() *removals {
	if !e.reportsRemovals {
		return nil
	}
	return removalsPool.Get().(*removals)
}

// deliver calls OnRemoval for every entry rm recorded, in order, and recycles rm. The caller
// holds no lock. A callback that panics does not stop the others: every removal is reported
// once, and the first panic goes on to the caller after the last callback.
//
// When deliver runs because the operation panicked, the callbacks run all the same (no lock is
// held by then), and a callback's panic replaces the operation's.
func (e *engine) deliver(rm *removals) {
	if rm == nil {
		return
	}
	// The function is the handle's; once the handle is unreachable (a dropped cache, whose
	// janitor may still run until the cleanup closes it) there is nobody to tell.
	var fn func(key, value []byte, cause RemovalCause)
	if h := e.removalsTo.Value(); h != nil {
		fn = h.onRemoval
	}
	var (
		first    any
		panicked bool
		start    int
	)
	for _, rec := range rm.recs {
		k := rm.buf[start : start+rec.keyLen : start+rec.keyLen]
		v := rm.buf[start+rec.keyLen : start+rec.keyLen+rec.valLen : start+rec.keyLen+rec.valLen]
		start += rec.keyLen + rec.valLen
		if fn == nil {
			continue
		}
		if p, ok := callRemoval(fn, k, v, rec.cause); !ok && !panicked {
			first, panicked = p, true
		}
	}
	rm.buf, rm.recs = rm.buf[:0], rm.recs[:0]
	if cap(rm.buf) <= maxPooledRemovals {
		removalsPool.Put(rm)
	}
	if panicked {
		panic(first)
	}
}

// callRemoval calls fn and returns what it panicked with, if it did (ok false). The copy it
// passes, recKey and recValue, is the removals buffer's, not a caller's key: it may escape to fn.
func callRemoval(fn func(key, value []byte, cause RemovalCause), recKey, recValue []byte, cause RemovalCause) (p any, ok bool) {
	defer func() {
		if !ok {
			p = recover()
		}
	}()
	fn(recKey, recValue, cause)
	return nil, true
}

// removedLocked counts an entry at pos that leaves the cache for cause and, when the operation
// records removals, copies it there. It must come before anything writes over the entry's
// bytes. Write lock held.
func (s *shard) removedLocked(pos int, en *entry, cause RemovalCause) {
	switch cause {
	case RemovalEvicted:
		s.evictions++
	case RemovalExpired:
		s.expirations++
	case RemovalDeleted:
		s.deletes++
	}
	if s.rm != nil {
		s.rm.add(s.key(pos, en), s.value(pos, en), cause)
	} else if debug && s.e.reportsRemovals {
		broken("an entry left the cache with no removals record to report it")
	}
}
