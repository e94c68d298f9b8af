package mmcache

import (
	"fmt"
	"runtime"
	"time"

	"github.com/mmcache/mmcache/arena"
)

// Times to live. An entry written with a TTL stores its expiry, in nanoseconds of the cache's
// monotonic clock, in its header (entry.go); one written without has no room for it. A Touch
// with 0 of an entry that has room for an expiry stores 0 there: such an entry never expires
// and reports a TTL of 0, as one written without a TTL does (flagNever).

// GetWithTTL is [Cache.Get] that also returns the time the entry has left to live, 0 for one
// that never expires. Value and time come from one atomic read: a concurrent write is seen
// whole or not at all. It counts as a Get in [Stats] and allocates nothing when dst has room
// for the value.
func (c *Cache) GetWithTTL(dst, key []byte) (value []byte, ttl time.Duration, ok bool) {
	e := c.engine()
	h := e.hash(key)
	s := e.shardFor(h)
	if e.lockFree() {
		if out, left, hit, done := e.getLockFree(s, dst, h, key); done {
			runtime.KeepAlive(c)
			return out, time.Duration(left), hit
		}
	}
	dst, left, ok := s.getLocked(dst, h, key)
	runtime.KeepAlive(c)
	return dst, time.Duration(left), ok
}

// TTL returns the time key has left to live and true; 0 and true for an entry that never
// expires; 0 and false when key is absent or expired. It is not counted in [Stats].
func (c *Cache) TTL(key []byte) (time.Duration, bool) {
	e := c.engine()
	h := e.hash(key)
	left, ok := e.shardFor(h).ttl(h, key)
	runtime.KeepAlive(c)
	return left, ok
}

func (s *shard) ttl(h uint64, key []byte) (left time.Duration, ok bool) {
	s.ready()
	s.mu.RLock()
	defer s.mu.RUnlock()
	mayPanic(pointReadLocked)
	if s.closed {
		return 0, false
	}
	_, _, en, found := s.lookup(h, key)
	if !found {
		return 0, false
	}
	ok, n := s.timeLeft(&en)
	return time.Duration(n), ok
}

// Touch gives the live entry under key a new time to live, ttl from now (0: it never
// expires), without changing its value, and reports whether there was one. It is not counted
// in [Stats]. A negative ttl is an error wrapping [ErrInvalidTTL] and changes nothing.
//
// An entry that has a TTL gets the new one in place. One written without a TTL has no room for
// an expiry, so a Touch with ttl > 0 moves it, once, to a new place in the cache, which may
// evict other entries as a Set would (reported to OnRemoval as evictions); if room cannot be
// had, Touch returns an error wrapping [ErrBusy] and the entry stays as it was.
func (c *Cache) Touch(key []byte, ttl time.Duration) (bool, error) {
	e := c.engine()
	if ttl < 0 {
		if e.closed.Load() {
			return false, ErrClosed
		}
		return false, fmt.Errorf("%w: %v is negative", ErrInvalidTTL, ttl)
	}
	h := e.hash(key)
	rm := e.newRemovals()
	if rm != nil {
		defer e.deliver(rm) // even if the Touch panics: its removals happened
	}
	ok, err := e.shardFor(h).touch(h, key, e.expiry(ttl), rm)
	runtime.KeepAlive(c)
	return ok, err
}

func (s *shard) touch(h uint64, key []byte, expire int64, rm *removals) (bool, error) {
	s.lockWith(rm)
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed {
		return false, ErrClosed
	}
	sl, pos, en, ok := s.lookupLive(h, key)
	if !ok {
		return false, nil
	}
	if en.flags&flagTTL != 0 {
		putExpiry(s.data[pos:], &en, expire)
		s.noteExpire(s.segOf(pos), expire)
		s.debugCheckLocked()
		return true, nil
	}
	if expire == 0 {
		return true, nil // it never expired, and still does not
	}
	size := entrySize(en.keyLen, en.valLen, true)
	newPos, reclaimed, err := s.allocKeeping(size, s.segOf(pos))
	if err != nil {
		return false, err
	}
	if reclaimed {
		// Its segment was pinned, so the entry is where it was; its slot is found again all the
		// same, since nothing here depends on that.
		if sl, pos, en, ok = s.lookupLive(h, key); !ok {
			putDead(s.data[newPos : newPos+size])
			broken("an entry moved or evicted while its segment was pinned")
			s.debugCheckLocked()
			return false, nil
		}
	}
	putEntry(s.data[newPos:newPos+size], s.key(pos, &en), s.value(pos, &en), expire)
	mayPanic(pointAppend)
	seg := s.segOf(newPos)
	s.ar.Seg(seg).Live += uint32(size)
	s.noteExpire(seg, expire)
	s.killEntry(pos, &en)
	s.idx.setOff(sl, offOf(newPos))
	s.debugCheckLocked()
	return true, nil
}

// allocKeeping is alloc for the main queue with segment keep pinned meanwhile, so that the
// room it makes is never made by evicting or moving the entries of keep: those of the entry
// that is to be copied into it. The pin goes, even if alloc panics, before the shard's unlock
// salvages it.
func (s *shard) allocKeeping(size int, keep arena.ID) (pos int, reclaimed bool, err error) {
	s.ar.Pin(keep)
	defer s.ar.Unpin(keep) // not retired: only Reset retires, and Reset is not under way
	return s.alloc(size, true)
}

// firstByte returns the first byte of the value of key's live entry, without counting a lookup
// or marking the entry read: what Typed.Has needs to tell a value from a negative entry.
func (c *Cache) firstByte(key []byte) (b byte, ok bool) {
	e := c.engine()
	h := e.hash(key)
	s := e.shardFor(h)
	s.ready()
	s.mu.RLock()
	defer s.mu.RUnlock()
	mayPanic(pointReadLocked)
	_, pos, en, found := s.lookupLive(h, key)
	if found && en.valLen > 0 {
		b, ok = s.value(pos, &en)[0], true
	}
	runtime.KeepAlive(c)
	return b, ok
}
