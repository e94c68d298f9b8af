package mmcache

import (
	"runtime"
	"time"
)

// Conditional writes. Each looks the key up and writes under the shard's write lock, in one
// hold, so each is linearizable per key: of N goroutines racing SetIfAbsent on one key, exactly
// one stores. An expired entry counts as absent. Each counts a lookup in [Stats], a hit when it
// found a live entry and a miss when it did not, and a Set when it stored.

// condition is what a conditional write requires of the key's current entry.
type condition uint8

const (
	ifAbsent        condition = iota // no live entry; a live value found is returned
	ifAbsentNoValue                  // no live entry; the caller wants no value
	ifEqual                          // a live entry whose value equals old
)

// SetIfAbsent stores value under key with the given time to live (0: never expires) only when
// key has no live entry, and reports whether it stored. Errors are those of
// [Cache.SetWithTTL]; on error nothing is stored.
func (c *Cache) SetIfAbsent(key, value []byte, ttl time.Duration) (bool, error) {
	_, stored, err := c.writeIf(nil, key, value, nil, ttl, ifAbsentNoValue)
	return stored, err
}

// GetOrSet returns the value of key's live entry appended to dst, and loaded true; or, when
// key has none, stores value under key with the given time to live (0: never expires) and
// returns value appended to dst, and loaded false. Errors are those of [Cache.SetWithTTL]; on
// error nothing is stored and actual is dst. It allocates nothing when dst has room for the
// value returned.
func (c *Cache) GetOrSet(dst, key, value []byte, ttl time.Duration) (actual []byte, loaded bool, err error) {
	actual, stored, err := c.writeIf(dst, key, value, nil, ttl, ifAbsent)
	if err != nil {
		return dst, false, err
	}
	if stored {
		return append(dst, value...), false, nil
	}
	return actual, true, nil
}

// CompareAndSwap stores new under key with the given time to live (0: never expires) only when
// key's live entry has a value equal to old, byte for byte, and reports whether it stored. A
// key with no live entry fails, as a miss. Errors are those of [Cache.SetWithTTL].
func (c *Cache) CompareAndSwap(key, old, new []byte, ttl time.Duration) (bool, error) {
	_, stored, err := c.writeIf(nil, key, new, old, ttl, ifEqual)
	return stored, err
}

// writeIf stores value under key when cond holds. For ifAbsent, a live value found is appended
// to dst and returned as out.
func (c *Cache) writeIf(dst, key, value, old []byte, ttl time.Duration, cond condition) (out []byte, stored bool, err error) {
	e := c.engine()
	if len(key) > maxKeyLen || len(value) > e.lay.maxEntry-len(key) || ttl < 0 {
		return dst, false, e.badSet(len(key), len(value), ttl)
	}
	h := e.hash(key)
	s := e.shardFor(h)
	w := e.warm(s, h, key, entrySize(len(key), len(value), ttl != 0))
	rm := e.newRemovals()
	if rm != nil {
		defer e.deliver(rm) // even if the write panics: its removals happened
	}
	out, stored, err = s.writeIf(h, key, value, old, dst, e.expiry(ttl), cond, rm, &w)
	runtime.KeepAlive(c)
	return out, stored, err
}

func (s *shard) writeIf(h uint64, key, value, old, dst []byte, expire int64, cond condition, rm *removals, w *warmed) (out []byte, stored bool, err error) {
	s.lockWith(rm)
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed {
		return dst, false, ErrClosed
	}
	sl, pos, en, found := s.lookupWarm(w, h, key)
	live := found && !s.expiredNow(&en)
	s.countLookup(live)
	switch {
	case cond == ifAbsent && live:
		s.idx.markAccessed(sl)
		return append(dst, s.value(pos, &en)...), false, nil
	case cond == ifAbsentNoValue && live:
		s.idx.markAccessed(sl)
		return dst, false, nil
	case cond == ifEqual && (!live || string(s.value(pos, &en)) != string(old)):
		return dst, false, nil
	}
	if err := s.storeLocked(h, key, value, expire, sl, pos, en, found); err != nil {
		return dst, false, err
	}
	return dst, true, nil
}
