package mmcache

import "github.com/mmcache/mmcache/arena"

// The eviction policy is S3-FIFO (Yang et al., SOSP 2023) over segments. A shard keeps two
// queues of segments:
//
//	new key ──► small queue (a sixth of the shard's segments once the cache is full)
//	              │ its head, when room is needed:
//	              ├── entry read since it was written ──► promoted: copied to the main queue
//	              └── entry never read ──► evicted; its fingerprint stays in the index: a ghost
//	ghost found, or key written again ──► main queue (the rest)
//	              │ its head, when room is needed: CLOCK (evictLocked)
//	              ├── entry read since the clock last passed ──► kept, compacted, its count of
//	              │   reads (up to two) lowered by one
//	              └── entry not read ──► evicted
//
// A key seen once (a scan, a one-hit wonder) passes through the small queue only, and leaves
// after a sixth of the shard's writes instead of all of them; a key read while it was there,
// or asked for again after it left while its ghost lasts, earns its place in the main queue,
// where the clock keeps what is read. Ghosts live in the index's empty slots (index.go): they
// cost no memory of their own, and the index forgets them as it needs the slots.
//
// Room moves in whole segments. While the cache fills, new keys take every segment, so the
// small queue starts with all of them; once the pool is empty its head goes, one eviction at a
// time, to the main queue, with its read entries compacted at its start, until the small queue
// is down to its share, and meanwhile new keys use the room at the main queue's tail. From
// then on the small queue evicts into itself: its head, emptied, becomes its tail. The main
// queue makes room at its tail by the clock, and takes the small queue's head when overwrites
// have left that mostly dead. Entries never move from the main queue to the small one; a
// segment does only when the clock frees one whole while the small queue is short of its share.
//
// Invariants (checkLocked): both queues are well formed and hold only the shard's segments,
// only the main one has retired segments (Reset moves the small queue's into it first); the
// ghost invariants are the index's.

// smallShare is the part of a shard's segments that the small queue holds once the cache is
// full: one in smallShare, and at least one.
//
// Why a sixth: bench/'s hit-ratio replays at equal entry capacity were run with shares of a
// half, a quarter, a sixth, an eighth, a tenth and a twentieth (cd bench && go run ./cmd/report
// -only hit -caches mmcache, with this constant edited). A smaller small queue leaves more room
// to the main queue, whose clock keeps what is read again: it wins most on loops a little longer
// than the cache (loop at 768 of 1,011 keys: 44% at a quarter, 58% at a sixth, 68% at a tenth)
// and on the smaller p3 and gli sizes; a larger one keeps more of the recent keys, and wins on
// oltp's smallest sizes (22.0% at a quarter, 20.9% at a sixth, 16.2% at a tenth) and as the
// cache nears the working set (p3 at 400 k entries: 75.0% at a half, 74.1% at a sixth). A sixth
// is the share that left the fewest cells short of otter's or LRU's ratio; no fixed share won
// every one. docs/benchmarks.md has the figures of the share in use.
const smallShare = 6

// smallTarget is how many segments the small queue holds once the cache is full.
func (s *shard) smallTarget() int {
	return max(1, (s.q.Queued()+s.sq.Queued())/smallShare)
}

// queues returns the shard's two queues, the small one first: the order in which the janitor
// and giveUpHead visit them.
func (s *shard) queues() [2]*arena.Queue { return [2]*arena.Queue{s.sq, s.q} }

// queued is how many segments the shard holds in its two queues.
func (s *shard) queued() int { return s.q.Queued() + s.sq.Queued() }

// reclaimLocked makes room for an entry of need bytes bound for queue q (s.q or s.sq) once the
// pool is empty, by evicting from the head of one of the queues (reclaimFrom), and returns the
// queue whose tail has the room: q, or the other one when q's head is read by a View callback
// or its segment went to the other. ok is false when neither queue has a segment it may touch:
// every one is read by a View callback (rotated counts those passed by so far).
func (s *shard) reclaimLocked(q *arena.Queue, need int, rotated *int) (roomIn *arena.Queue, ok bool) {
	if *rotated >= s.queued() {
		return nil, false
	}
	from := s.reclaimFrom(q)
	head := from.Head()
	if s.ar.Pins(head) != 0 {
		other := s.q
		if from == s.q {
			other = s.sq
		}
		if h := other.Head(); h != arena.None && s.ar.Pins(h) == 0 {
			from, head = other, h
		} else {
			s.ar.MoveToTail(from, head) // a View callback reads it: skip it this round
			*rotated++
			return q, true
		}
	}
	mayPanic(pointEvict)
	if from == s.sq {
		return s.evictSmallLocked(head, need, q == s.q), true
	}
	s.evictLocked(head, need)
	if q == s.sq && s.sq.Queued() < s.smallTarget() && s.ar.Seg(head).Used == 0 {
		// Nothing of it was read: the small queue, short of its share, takes it back.
		s.ar.Transfer(s.q, s.sq, head)
		return s.sq, true
	}
	return s.q, true
}

// reclaimFrom picks the queue to evict from, for an entry bound for q: the small queue while it
// holds more than its share, or when the main queue has nothing; the main queue when the small
// one has nothing; else the queue the entry is bound for, except that the main queue takes the
// small queue's head when that is mostly dead (overwritten keys leave it so).
func (s *shard) reclaimFrom(q *arena.Queue) *arena.Queue {
	small := s.sq.Head()
	switch {
	case small == arena.None:
		return s.q
	case s.q.Queued() == 0, s.sq.Queued() > s.smallTarget():
		return s.sq
	case q == s.sq, 2*int(s.ar.Seg(small).Live) <= s.segSize:
		return s.sq
	default:
		return s.q
	}
}

// evictSmallLocked empties segment x, the small queue's head, and returns the queue whose tail
// now has room. An entry read since it was written is promoted to the main queue, the others
// are evicted and leave a ghost. Where the room is for the main queue (forMain), the small queue
// holds more than its share or the main queue has no segment, x goes to the main queue with the
// promoted entries compacted at its start and room for need bytes after them (unless nothing
// was promoted and the room is for the small queue: x then stays its tail); otherwise the
// promoted entries are copied to the main queue's tail and x, empty, becomes the small queue's
// tail.
func (s *shard) evictSmallLocked(x arena.ID, need int, forMain bool) (roomIn *arena.Queue) {
	if forMain || s.sq.Queued() > s.smallTarget() || s.q.Queued() == 0 {
		// At most three quarters of x stay, as under the clock (evictLocked): each eviction
		// frees a quarter of a segment at least, so no Set pays for more than one.
		s.compactLocked(x, min(s.segSize-need, s.segSize*3/4), clockSmall)
		if s.ar.Seg(x).Used == 0 && !forMain {
			// Nothing was read: x stays with new keys, which then fill the cache, as they
			// would in a cache whose keys are never read twice.
			s.ar.MoveToTail(s.sq, x)
			return s.sq
		}
		s.ar.Transfer(s.sq, s.q, x)
		return s.q
	}
	s.eachLiveLocked(x, func(sl slot, pos int, en entry) {
		if s.idx.freq(sl) == 0 {
			s.ghostLocked(sl, pos, &en)
			return
		}
		dst, ok := s.appendMainLocked(en.size())
		if !ok {
			s.dropLocked(sl, pos, &en, RemovalEvicted)
			return
		}
		s.idx.clearAccessed(sl)
		s.relocateLocked(sl, pos, dst, &en)
	})
	mayPanic(pointCompact) // every entry moved or dropped, the segment not yet emptied
	r := s.ar.Seg(x)
	r.Used, r.Live, r.MinExpire = 0, 0, 0
	s.ar.MoveToTail(s.sq, x)
	return s.sq
}

// ghostLocked evicts a live entry of the small queue and leaves its fingerprint as a ghost.
func (s *shard) ghostLocked(sl slot, pos int, en *entry) {
	s.removedLocked(pos, en, RemovalEvicted)
	s.idx.removeToGhost(sl)
	s.killEntry(pos, en)
	s.entries--
	s.liveBytes -= en.keyLen + en.valLen
}

// appendMainLocked returns the position of size free bytes at the main queue's tail, making
// room by the clock when the tail is full. It touches no segment of the small queue. ok is
// false when the main queue has no segment it may compact: every one is read by a View
// callback.
func (s *shard) appendMainLocked(size int) (pos int, ok bool) {
	for range s.q.Queued() + 1 {
		t := s.q.Tail()
		if t == arena.None {
			return 0, false
		}
		if r := s.ar.Seg(t); int(r.Used)+size <= s.segSize {
			pos = int(t)*s.segSize + int(r.Used)
			r.Used += uint32(size)
			return pos, true
		}
		head := s.q.Head()
		if s.ar.Pins(head) != 0 {
			s.ar.MoveToTail(s.q, head)
			continue
		}
		s.evictLocked(head, size)
	}
	return 0, false
}
