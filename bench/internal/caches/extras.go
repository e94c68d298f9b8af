package caches

// Optional calls beyond Cache, for the benchmarks of mmcache's GetWithTTL, SetIfAbsent and
// All against each peer's closest call. A peer implements one only where it has such a call;
// a benchmark skips the others. Each adapter's comment names the call it makes.

// ExpiryGetter is implemented by caches that return an entry's expiry with its value, in one
// lookup.
type ExpiryGetter interface {
	// GetWithExpiry is Get that also returns what the cache's own call gives about the entry's
	// expiry, as an int64: for mmcache and otter the time left in nanoseconds, for freecache
	// the absolute expiry in Unix seconds (0: never), which is all its call returns.
	GetWithExpiry(dst, key []byte) (value []byte, expiry int64, ok bool)
}

// AbsentSetter is implemented by caches with an atomic "store only if the key is absent".
type AbsentSetter interface {
	// SetIfAbsent stores value under key (with the Spec's TTL, if any) only when key has no
	// live entry, and reports whether it stored.
	SetIfAbsent(key, value []byte) bool
}

// Deleter is implemented by caches that can remove one key.
type Deleter interface {
	// Delete removes key and reports whether it was there (where the cache tells).
	Delete(key []byte) bool
}

// Walker is implemented by caches that can iterate over their entries.
type Walker interface {
	// Walk visits every entry with the cache's own iteration call and the same loop body for
	// every cache: it counts the entry and adds to sum the lengths of key and value, the key's
	// first byte and the value's last (so that the body reads both). The adapters copy nothing.
	Walk() (entries int, sum uint64)
}

// walkSum is Walk's loop body: what one entry adds to sum.
func walkSum(k, v []byte) uint64 {
	s := uint64(len(k) + len(v))
	if len(k) > 0 {
		s += uint64(k[0])
	}
	if len(v) > 0 {
		s += uint64(v[len(v)-1])
	}
	return s
}
