package mmcache

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmcache/mmcache/arena"
)

// A shard is one independently locked part of the cache: an index (index.go) and two queues of
// segments it has taken from its group's pool (pool.go).
//
//	shard header (in the mapping): | main queue | index: depth, pages | small queue |
//	directory (in the mapping):    | page numbers ... |
//	segments and pages:            in the group's arena, shared with the group's other shards
//
// Entries are appended to a queue's tail segment: new keys to the small queue's, the others to
// the main queue's; eviction takes the queues' oldest segments (policy.go). Offsets in the index
// count from the start of the group's data, in units of 4 bytes.
type shard struct {
	// Fixed after init and read by every call, so kept off the lines that writers dirty.
	e    *engine
	g    *group
	ar   *arena.Arena // g.ar
	q    *arena.Queue // the main queue (policy.go); points into the mapping
	sq   *arena.Queue // the small queue, where new keys start; points into the mapping
	head *shardHeader // the shard's header in the mapping, which holds q and sq
	// verified is false for a shard of a reattached file (persist.go) until its slots and
	// entries have been checked: the first lock of the shard does it, and every operation
	// that reads the shard under its read lock takes the write lock first (ready). Lock-free
	// readers need not wait for it: they check every offset and header they read, as they
	// must anyway beside a writer, and compare the whole key.
	verified atomic.Bool
	// On 32-bit platforms, four bytes that keep seq 8-byte aligned (checked below).
	_       [unsafe.Sizeof(uintptr(0)) % 8]byte
	idx     index
	data    []byte // g.data: all segments back to back; points into the mapping
	segSize int
	gi      int  // the shard's place in g.shards
	persist bool // the mapping is a file: each write lock hold marks head.dirty; false once closed
	// recount: the counters of a shard recovered from a file whose process died are not known
	// until its verification counts them.
	recount bool
	_       [6]byte // the two bools above and this make 8 bytes: seq stays 8-byte aligned

	_ [64]byte

	mu sync.RWMutex // protects the shard's queue, segments, index and the fields below
	// seq is odd while a writer holds mu, and changes with every write lock hold: lock-free
	// readers (readers.go) use it to detect a write that overlapped their read. Only the lock
	// holder writes it (releaseStore); readers load it atomically.
	seq uint64
	// Counters of lookups made under the read lock, beside the lock whose cache line a reader
	// dirties anyway. Lock-free lookups count in their reader slot.
	hits, misses atomic.Uint64
	closed       bool // set under mu by Close; no call that takes mu touches the mapping after it
	// rm records the entries the lock holder removes, for OnRemoval (removal.go); nil when the
	// cache has none. Set by lockWith, cleared by release.
	rm *removals

	entries   int // entries in the index, expired ones not yet collected included
	liveBytes int // their keys and values
	writes    int // since the last inline janitor step
	stealNext int // the next shard of the group to ask for a segment
	// open lists segments of the queue, not the tail, with room left at their end: tails until
	// an entry too large for that room came. While the cache fills, entries that fit go there
	// first, so that the room is not lost when sizes are mixed. Once the pool is empty they are
	// forgotten: an entry written into an old segment would be evicted with it, long before
	// its time. arena.None marks an unused place.
	open    [openSegments]arena.ID
	anyOpen bool // some place of open may be in use: false skips the search

	sets, deletes, evictions, expirations uint64
	// touched keeps what a writer's touchLines loads read, so that they are made.
	touched  byte
	salvages uint64 // shard emptied after a panic under its lock

	_ [64]byte // keep neighbouring shards' locks off this cache line
}

// shardHeader is the part of the mapping that holds a shard's queue and index header.
type shardHeader struct {
	q   arena.Queue // main
	idx indexHeader
	sq  arena.Queue // small
	// entries and liveBytes as Close left them, for a cache that reattaches the file
	// (persist.go); unused otherwise.
	entries, liveBytes uint64
	// dirty is 1 while a writer of a file-backed cache holds the shard's lock: a shard found
	// dirty in a file whose process died was half-written, and is emptied (persist.go).
	dirty uint32
	_     [shardHeaderSize - 2*arena.QueueSize - 8 - 16 - 4]byte
}

var (
	// seq is loaded atomically on every platform; 32-bit ones need it 8-byte aligned.
	_ = [1]struct{}{}[unsafe.Offsetof(shard{}.seq)%8]
	_ = [1]struct{}{}[unsafe.Sizeof(shardHeader{})-shardHeaderSize]
)

func (s *shard) init(e *engine, g *group, gi int, hdr *shardHeader, dir []byte, l *layout, attach bool) {
	*s = shard{
		e:       e,
		g:       g,
		head:    hdr,
		ar:      g.ar,
		q:       &hdr.q,
		sq:      &hdr.sq,
		data:    g.data,
		segSize: l.segSize,
		gi:      gi,
		persist: e.file != nil,
		open:    noOpenSegments,
		idx: index{
			hdr:      &hdr.idx,
			dir:      dir,
			data:     g.data,
			maxDepth: l.dirDepth,
			npages:   uint32(len(g.data) / indexPageSize),
		},
	}
	if attach {
		// Counters as the last Close left them, verified against the index with the rest of
		// the shard when it is first locked.
		s.entries, s.liveBytes = int(min(hdr.entries, math.MaxInt)), int(min(hdr.liveBytes, math.MaxInt))
		return
	}
	s.verified.Store(true)
	*s.q, *s.sq = arena.Queue{}, arena.Queue{}
}

// lock takes the write lock and makes seq odd, so lock-free readers retry from now on. The
// lock holder is seq's only writer, through releaseStore. On x86, which makes ordinary stores
// visible in program order (the compiler does not reorder them either), a plain store of the
// odd value is seen before the writes that follow: no fence needed, except around a copy large
// enough for non-temporal stores (copyEntryBytes). On arm64 the store is a store-release and
// the load that reads it back a load-acquire, which together order it before every later
// store (docs/design.md).
//
// Every lock is followed by a deferred unlock, which also handles a panic under the lock.
func (s *shard) lock() {
	s.lockUnverified()
	if !s.verified.Load() {
		s.verifyLocked()
	}
}

// lockUnverified is lock without verifying a reattached shard: for Close, which touches
// nothing in the shard.
func (s *shard) lockUnverified() {
	s.mu.Lock()
	releaseStore(&s.seq, s.seq+1)
	// Read it back: without a load in between, the compiler may merge this store with
	// unlock's into one that never makes seq odd. An atomic load is a plain MOV on amd64.
	_ = atomic.LoadUint64(&s.seq)
	s.markDirty()
}

// markDirty marks a file-backed shard's header while its lock is held, before any write: a
// process killed under the lock leaves the mark, and the next one empties this shard alone
// (persist.go). A kill stops the process between two instructions, and every store the
// process made before then reaches the file (tmpfs pages outlive it, whatever order the CPU
// made the stores visible in): so a shard found clean was not being written. Write lock held.
func (s *shard) markDirty() {
	if s.persist {
		s.head.dirty = 1
	}
}

// markWritten clears markDirty's mark, after the last write of a lock hold.
func (s *shard) markWritten() {
	if s.persist {
		s.head.dirty = 0
	}
}

// ready makes sure the shard has been verified, for an operation about to read it under the
// read lock, which trusts what it reads. A plain load and a branch, but for the first such
// operation on a shard of a reattached file.
func (s *shard) ready() {
	if !s.verified.Load() {
		s.lock()
		s.unlock()
	}
}

// lockWith is lock for an operation that records the entries it removes in rm (removal.go);
// nil when the cache has no OnRemoval.
func (s *shard) lockWith(rm *removals) {
	s.lock()
	s.rm = rm
}

// unlock makes seq even again, telling lock-free readers that began before that their read
// overlapped a write, and releases the write lock.
//
// Deferred right after lock, it also catches a panic under the lock, whatever its cause: the
// write it interrupted may have left the shard inconsistent, so the shard is emptied (salvage)
// before the lock is released, and the panic goes on. No panic leaves a lock held, and none
// leaves a half-written shard behind for the next caller.
func (s *shard) unlock() {
	if p := recover(); p != nil {
		s.salvageLocked()
		s.release()
		panic(p)
	}
	s.release()
}

// tryLock is lock if the lock is free, and reports whether it took it.
func (s *shard) tryLock() bool {
	if !s.mu.TryLock() {
		return false
	}
	releaseStore(&s.seq, s.seq+1)
	_ = atomic.LoadUint64(&s.seq) // as in lock
	s.markDirty()
	if !s.verified.Load() {
		s.verifyLocked()
	}
	return true
}

func (s *shard) release() {
	s.rm = nil
	s.markWritten()
	releaseStore(&s.seq, s.seq+1)
	s.mu.Unlock()
}

// salvageLocked empties the shard after a panic under its lock. If even that panics, the shard
// is left as it is; its lock is released all the same.
func (s *shard) salvageLocked() {
	defer func() { _ = recover() }()
	s.salvages++
	if !s.closed {
		s.resetLocked()
	}
}

func (s *shard) segOf(pos int) arena.ID { return arena.ID(pos / s.segSize) }

// lookup finds key, whose hash is h, and returns its slot, the entry's position in data and
// its decoded header. Read lock held.
func (s *shard) lookup(h uint64, key []byte) (sl slot, pos int, en entry, ok bool) {
	sl, pos, en, ok, _ = s.lookupTouch(h, key, 0)
	return sl, pos, en, ok
}

// lookupTouch is lookup that also loads the lines of touch bytes of each entry it reads, with
// its header (touchLines), and returns what they read in t, which the caller must keep.
func (s *shard) lookupTouch(h uint64, key []byte, touch int) (sl slot, pos int, en entry, ok bool, t byte) {
	fp := fingerprint(h)
	pg, ok := s.idx.page(fp)
	if !ok {
		return slot{}, 0, entry{}, false, 0
	}
	b := home(pg, fp)
	for range pageProbe {
		for m := s.idx.match(b, fp); m != 0; m &= m - 1 {
			sl = slot{b, bits.TrailingZeros32(m)}
			pos = s.idx.pos(sl)
			t ^= touchLines(s.data, pos, touch)
			en = readEntry(s.data[pos:])
			if en.keyLen == len(key) && string(s.data[pos+en.keyOff:pos+en.valOff()]) == string(key) {
				return sl, pos, en, true, t
			}
		}
		if s.idx.overflow(b) == 0 {
			break
		}
		b = nextBucket(b)
	}
	return slot{}, 0, entry{}, false, t
}

// value returns the value bytes of the entry at pos.
func (s *shard) value(pos int, en *entry) []byte {
	start := pos + en.valOff()
	return s.data[start : start+en.valLen : start+en.valLen]
}

func (s *shard) key(pos int, en *entry) []byte {
	return s.data[pos+en.keyOff : pos+en.valOff()]
}

// offOf is what the index stores for the entry at pos: its position in units of 4 bytes, plus
// one, so that 0 can mark an empty slot.
func offOf(pos int) uint32 { return uint32(pos>>entryAlignBits) + 1 }

// set stores key and value, whose hash is h, with the given expiry (0: never), recording the
// entries it removes in rm. w is what warm found, if anything.
func (s *shard) set(h uint64, key, value []byte, expire int64, rm *removals, w *warmed) error {
	s.lockWith(rm)
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed {
		return ErrClosed
	}
	sl, pos, old, found := s.lookupWarm(w, h, key)
	return s.storeLocked(h, key, value, expire, sl, pos, old, found)
}

// storeLocked is set once the key's current entry, if any, has been looked up: found, in slot
// sl at pos, with header old. Write lock held, shard open.
func (s *shard) storeLocked(h uint64, key, value []byte, expire int64, sl slot, pos int, old entry, found bool) error {
	size := entrySize(len(key), len(value), expire != 0)
	if found && old.size() == size && s.ar.Pins(s.segOf(pos)) == 0 {
		// Same footprint and no View callback reading it: overwrite in place, which leaves no
		// garbage behind. Locked readers are excluded; lock-free ones see seq odd and retry.
		s.replacedLocked(pos, &old)
		putEntry(s.data[pos:pos+size], key, value, expire)
		mayPanic(pointOverwrite)
		s.noteExpire(s.segOf(pos), expire)
		s.liveBytes += len(value) - old.valLen
		s.idx.clearAccessed(sl)
		s.wroteLocked()
		return nil
	}
	// A new key goes to the small queue, unless the index remembers it as a ghost; a key
	// written again goes to the main queue (policy.go).
	main := found || s.idx.takeGhost(fingerprint(h))
	newPos, reclaimed, err := s.alloc(size, main)
	if err != nil {
		return err
	}
	putEntry(s.data[newPos:newPos+size], key, value, expire)
	mayPanic(pointAppend)
	seg := s.segOf(newPos)
	s.ar.Seg(seg).Live += uint32(size)
	s.noteExpire(seg, expire)
	if found && reclaimed {
		// Reclaiming may have moved or dropped the old entry; the new one is not indexed yet.
		sl, pos, old, found = s.lookup(h, key)
	}
	if found {
		s.replacedLocked(pos, &old)
		s.killEntry(pos, &old)
		s.liveBytes -= old.keyLen + old.valLen
		s.idx.setOff(sl, offOf(newPos))
		s.idx.clearAccessed(sl)
	} else {
		if !s.insertLocked(h, offOf(newPos)) {
			// No slot to be had anywhere (see insertLocked): undo the write.
			var en entry = readEntry(s.data[newPos:])
			s.killEntry(newPos, &en)
			return fmt.Errorf("%w: no index page free", ErrBusy)
		}
		s.entries++
	}
	s.liveBytes += len(key) + len(value)
	s.wroteLocked()
	return nil
}

// replacedLocked reports the entry at pos, which a write replaces: as an expiration if it had
// expired (it left the cache by expiry before the write came), else as replaced. It must come
// before the write touches the entry's bytes.
func (s *shard) replacedLocked(pos int, old *entry) {
	if s.expiredNow(old) {
		s.removedLocked(pos, old, RemovalExpired)
	} else if s.rm != nil {
		s.rm.add(s.key(pos, old), s.value(pos, old), RemovalReplaced)
	}
}

func (s *shard) wroteLocked() {
	s.sets++
	if s.e.inlineJanitor {
		s.writes++
		if s.writes >= inlineJanitorEvery {
			s.writes = 0
			s.janitorStepLocked()
		}
	}
	s.debugCheckLocked()
}

// noteExpire keeps the segment's earliest expiry, which tells the janitor where to look.
func (s *shard) noteExpire(seg arena.ID, expire int64) {
	if expire == 0 {
		return
	}
	r := s.ar.Seg(seg)
	if r.MinExpire == 0 || expire < r.MinExpire {
		r.MinExpire = expire
	}
}

// killEntry marks the entry at pos dead and takes it off its segment's live bytes. The index
// slot is the caller's business.
func (s *shard) killEntry(pos int, en *entry) {
	s.data[pos] |= flagDead
	s.ar.Seg(s.segOf(pos)).Live -= uint32(en.size())
}

// slotOf finds the index slot of the live entry at pos by hashing its key. Every live entry
// has one; a missing slot is a broken invariant.
func (s *shard) slotOf(pos int, en *entry) (slot, bool) {
	h := s.e.hash(s.key(pos, en))
	sl, ok := s.idx.find(fingerprint(h), offOf(pos))
	if !ok {
		broken("live entry without an index slot")
	}
	return sl, ok
}

// dropLocked removes a live entry, its slot and its bytes, for cause.
func (s *shard) dropLocked(sl slot, pos int, en *entry, cause RemovalCause) {
	s.removedLocked(pos, en, cause)
	s.idx.remove(sl)
	s.killEntry(pos, en)
	s.entries--
	s.liveBytes -= en.keyLen + en.valLen
}

// dropOrphan frees the entry of a slot that a page split could not place (index.split): the
// slot is gone already. It counts as an eviction, or an expiration if it had expired.
func (s *shard) dropOrphan(off uint32) {
	pos := int(off-1) << entryAlignBits
	en := readEntry(s.data[pos:])
	cause := RemovalEvicted
	if s.expiredNow(&en) {
		cause = RemovalExpired
	}
	s.removedLocked(pos, &en, cause)
	s.killEntry(pos, &en)
	s.entries--
	s.liveBytes -= en.keyLen + en.valLen
}

// maxSplitsPerInsert bounds the page splits one insert may cause: keys whose fingerprints
// share many top bits (a flood of equal hashes) would otherwise split pages to the directory's
// full depth without making room.
const maxSplitsPerInsert = 2

// insertLocked adds a slot for a new entry at offset off. When the probe window is full it
// splits the page; when the page cannot split, it makes room in the home bucket: it drops an
// expired entry if the bucket has one (an expiration), or else evicts an entry not read since
// the clock last passed, or else one picked by the hash. It returns false only when the index
// has no page and none can be had: the pool is empty and no segment can be given up for one.
func (s *shard) insertLocked(h uint64, off uint32) bool {
	fp := fingerprint(h)
	seg := s.segOf(int(off-1) << entryAlignBits) // the new entry's, which must not be given up
	if _, ok := s.idx.page(fp); !ok {
		p, ok := s.takePage(seg)
		if !ok {
			return false
		}
		s.idx.addFirstPage(p)
	}
	for range maxSplitsPerInsert {
		pg, _ := s.idx.page(fp)
		if _, ok := s.idx.insertIn(pg, fp, off, 0); ok {
			return true
		}
		if !s.idx.canSplit(fp) {
			break
		}
		p, ok := s.takePage(seg)
		if !ok {
			break
		}
		mayPanic(pointSplit)
		s.idx.split(fp, p, s)
	}
	pg, _ := s.idx.page(fp)
	if _, ok := s.idx.insertIn(pg, fp, off, 0); ok {
		return true
	}
	mayPanic(pointBucketFull)
	now := s.e.now()
	b := home(pg, fp)
	victim, unread, expired := int((h>>8)%bucketSlots), -1, false // modulo first: int(h>>8) is negative on 32-bit
	for i := range bucketSlots {
		sl := slot{b, i}
		x := readEntry(s.data[s.idx.pos(sl):])
		if x.expired(now) {
			victim, expired = i, true
			break
		}
		if unread < 0 && s.idx.freq(sl) == 0 {
			unread = i
		}
	}
	if !expired && unread >= 0 {
		victim = unread
	}
	sl := slot{b, victim}
	pos := s.idx.pos(sl)
	en := readEntry(s.data[pos:])
	cause := RemovalEvicted
	if expired {
		cause = RemovalExpired
	}
	s.dropLocked(sl, pos, &en, cause)
	if _, ok := s.idx.insertIn(pg, fp, off, 0); !ok {
		panic("mmcache: index insert failed after making room") // unreachable: the home bucket has a free slot
	}
	return true
}

// takePage returns a zeroed page for the index. When the pool is empty it gives the pool a
// segment of entries to cut pages from: its own oldest, unless that is keep (the segment that
// holds the entry being indexed, which may be an open segment at the head), or else another
// shard's.
func (s *shard) takePage(keep arena.ID) (uint32, bool) {
	if p, ok := s.g.takePage(); ok {
		return p, true
	}
	if s.giveUpHead(keep) || s.stealWaiting() {
		return s.g.takePage()
	}
	return 0, false
}

// giveUpHead evicts every entry of the oldest segment of one of the shard's queues, the small
// one first, and frees it to the pool, if the queue has another to write to, the oldest is not
// keep, and no View callback reads it.
func (s *shard) giveUpHead(keep arena.ID) bool {
	for _, q := range s.queues() {
		head := q.Head()
		if head == arena.None || head == q.Tail() || head == keep || s.ar.Pins(head) != 0 {
			continue
		}
		s.compactLocked(head, 0, clockMain)
		s.releaseSeg(q, head)
		return true
	}
	return false
}

// releaseSeg frees segment x of the shard's queue q to the pool.
func (s *shard) releaseSeg(q *arena.Queue, x arena.ID) {
	for i, o := range s.open {
		if o == x {
			s.open[i] = arena.None
		}
	}
	s.g.release(q, x)
}

const (
	// openSegments is how many sealed segments a shard keeps open to smaller entries.
	openSegments = 8
	// minOpenRoom is the least room for which a sealed tail stays open to smaller entries.
	minOpenRoom = 256
)

var noOpenSegments = [openSegments]arena.ID{arena.None, arena.None, arena.None, arena.None, arena.None, arena.None, arena.None, arena.None}

// keepOpen keeps segment t, the tail about to be sealed, open to smaller entries if it has
// room enough, in place of an open segment with less room (or of t itself, already open from
// an earlier time it was the tail).
func (s *shard) keepOpen(t arena.ID) {
	room := func(x arena.ID) int {
		if x == arena.None {
			return -1
		}
		return s.segSize - int(s.ar.Seg(x).Used)
	}
	least := 0
	for i, o := range s.open {
		if o == t {
			least = i
			break
		}
		if room(o) < room(s.open[least]) {
			least = i
		}
	}
	if r := room(t); r >= minOpenRoom && r > room(s.open[least]) || s.open[least] == t {
		s.open[least] = t
		s.anyOpen = true
	}
}

// steal asks the group's other shards, in turn, for a segment: the first one that is not
// locked and holds more segments than this shard gives up its oldest to the pool. TryLock
// keeps this from deadlocking with a shard that is stealing from this one.
func (s *shard) steal() bool {
	n := len(s.g.shards)
	for k := 1; k < n; k++ {
		s.stealNext = (s.stealNext + 1) % n
		if s.stealNext == s.gi {
			s.stealNext = (s.stealNext + 1) % n
		}
		if s.g.shards[s.stealNext].giveUpTo(s.queued(), s.rm) {
			return true
		}
	}
	return false
}

// stealRounds is how many times a shard with nothing of its own to reclaim asks the others for
// a segment, yielding between rounds, before its Set gives up with ErrBusy.
const stealRounds = 64

// stealWaiting is steal for a shard that has nothing else to try: the others may all be locked
// for a moment, so it asks again, yielding in between. It never waits on a lock, since the
// shards it asks may be asking it.
func (s *shard) stealWaiting() bool {
	for range stealRounds {
		if s.steal() {
			return true
		}
		runtime.Gosched()
	}
	return false
}

// giveUpTo frees the shard's oldest segment to the pool, for a shard that holds fewer than
// than, if the shard can be locked at once and holds more. The entries it evicts are recorded
// in rm, the removals of the write that asked.
func (s *shard) giveUpTo(than int, rm *removals) bool {
	if !s.tryLock() {
		return false
	}
	s.rm = rm
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed || s.queued() <= than+1 {
		return false
	}
	return s.giveUpHead(arena.None)
}

// underShare reports whether the shard holds fewer than half the segments it would hold if
// the group's were spread evenly; such a shard takes a segment from another rather than
// evict its own. Shards start even only in expectation, and without this a shard whose keys
// came late would stay small.
func (s *shard) underShare() bool {
	return s.queued() < s.g.fairShare()/2
}

// alloc returns the position of size free bytes at the end of the tail segment of the main
// queue (main) or of the small one, taking a free segment, or else evicting (policy.go), when
// the tail is full. reclaimed reports that entries of this shard may have moved or gone.
func (s *shard) alloc(size int, main bool) (pos int, reclaimed bool, err error) {
	// Each round either returns, takes a free segment, or makes room by evicting; pinned heads
	// (rotated unchanged) and steals can make it go round again.
	q := s.sq
	if main {
		q = s.q
	}
	rotated := 0
	into := q // the queue whose tail the entry goes to: q, or where the last eviction made room
	for range 2*s.ar.Len() + 4 {
		if s.anyOpen {
			// Best fit: the open segment with the least room that fits, so that large rooms
			// stay for large entries.
			best, bestRoom := arena.None, s.segSize+1
			for _, o := range s.open {
				if o == arena.None || o == into.Tail() {
					continue
				}
				if room := s.segSize - int(s.ar.Seg(o).Used); room >= size && room < bestRoom {
					best, bestRoom = o, room
				}
			}
			if best != arena.None {
				r := s.ar.Seg(best)
				pos = int(best)*s.segSize + int(r.Used)
				r.Used += uint32(size)
				return pos, reclaimed, nil
			}
		}
		if t := into.Tail(); t != arena.None {
			r := s.ar.Seg(t)
			if int(r.Used)+size <= s.segSize {
				pos = int(t)*s.segSize + int(r.Used)
				r.Used += uint32(size)
				return pos, reclaimed, nil
			}
			s.keepOpen(t)
		}
		if q == s.sq && (s.sq.Queued() == 0 || s.sq.Queued() > s.smallTarget()) {
			// The small queue is full and holds more than its share, or nothing: it is giving
			// segments to the main queue (policy.go). A new key goes to the room at the main
			// queue's tail, if there is some, rather than make the small queue evict again.
			if t := s.q.Tail(); t != arena.None {
				if r := s.ar.Seg(t); int(r.Used)+size <= s.segSize {
					pos = int(t)*s.segSize + int(r.Used)
					r.Used += uint32(size)
					return pos, reclaimed, nil
				}
			}
		}
		if s.g.grab(q) {
			into = q
			continue
		}
		s.open, s.anyOpen = noOpenSegments, false
		if s.underShare() && s.steal() {
			into = q
			continue
		}
		if roomIn, ok := s.reclaimLocked(q, size, &rotated); ok {
			into, reclaimed = roomIn, true
			continue
		}
		// Nothing of its own to reclaim: no segment, or every one read by a View callback.
		if !s.stealWaiting() {
			break
		}
	}
	return 0, reclaimed, fmt.Errorf("%w (%d segments)", ErrBusy, s.queued())
}

// evictLocked reclaims segment x, the main queue's oldest, to become its tail with room for need
// bytes.
//
// The main queue's policy is CLOCK over segments, the "second chance" of a log, with a
// frequency of up to two reads per entry (index.go): an entry read since the clock last passed
// is kept, moved down within x, and its frequency lowered by one; an entry not read is
// evicted, as are dead and expired ones. So an entry read twice or more between passes outlives
// one read once by a round: one accessed bit would make the two equal, and let a burst of
// entries read once push out those read often. At most three
// quarters of the segment are kept, so each eviction frees at least a quarter and a Set never
// pays for more than one segment; x then moves to the tail, behind every other segment, so kept
// entries get a full round before the clock comes back to them.
//
// A segment whose live entries fit in what the clock may keep, because overwrites and deletes
// left the rest dead, is compacted instead, every live entry kept: that frees as much without
// evicting anything. Overwrites faster than the janitor's pace would otherwise make the clock
// evict live entries while dead bytes fill the cache.
func (s *shard) evictLocked(x arena.ID, need int) {
	keep, how := min(s.segSize-need, s.segSize*3/4), clockMain
	if live := int(s.ar.Seg(x).Live); live <= keep {
		keep, how = s.segSize, keepLive
	}
	s.compactLocked(x, keep, how)
	s.ar.MoveToTail(s.q, x)
}

// compaction says which entries compactLocked keeps besides live, unexpired ones.
type compaction uint8

const (
	keepLive   compaction = iota // every one (the janitor's compaction)
	clockMain                    // those read since the clock last passed (the main queue)
	clockSmall                   // those read since written, promoted; the others leave a ghost
)

// compactLocked slides the entries of segment x that stay down to its start, in order, and
// drops the rest: dead ones, expired ones and, under a clock, those not read or beyond keep
// bytes. It updates the index for every entry moved or dropped.
func (s *shard) compactLocked(x arena.ID, keep int, how compaction) {
	r := s.ar.Seg(x)
	base, w, minExp := int(x)*s.segSize, 0, int64(0)
	s.eachLiveLocked(x, func(sl slot, pos int, en entry) {
		sz := en.size()
		if how != keepLive && (s.idx.freq(sl) == 0 || w+sz > keep) {
			if how == clockSmall {
				s.ghostLocked(sl, pos, &en)
			} else {
				s.dropLocked(sl, pos, &en, RemovalEvicted)
			}
			return
		}
		switch how {
		case clockMain:
			s.idx.decFreq(sl)
		case clockSmall:
			s.idx.clearAccessed(sl)
		}
		if dst := base + w; dst != pos {
			copyEntryBytes(s.data[dst:dst+sz], s.data[pos:pos+sz])
			s.idx.setOff(sl, offOf(dst))
		}
		w += sz
		if en.flags&flagTTL != 0 && (minExp == 0 || en.expire < minExp) {
			minExp = en.expire
		}
	})
	mayPanic(pointCompact) // the index is updated, the segment's record not yet
	r.Used, r.Live, r.MinExpire = uint32(w), uint32(w), minExp
}

// eachLiveLocked walks the entries of segment x in order: it skips dead ones, drops expired ones
// (an expiration each) and calls fn with every other one, its slot and its position.
func (s *shard) eachLiveLocked(x arena.ID, fn func(sl slot, pos int, en entry)) {
	base, used := int(x)*s.segSize, int(s.ar.Seg(x).Used)
	now := s.e.now()
	for p := 0; p < used; {
		pos := base + p
		en := readEntry(s.data[pos:])
		p += en.size()
		if en.flags&flagDead != 0 {
			continue
		}
		sl, ok := s.slotOf(pos, &en)
		if !ok {
			continue
		}
		if en.expired(now) {
			s.dropLocked(sl, pos, &en, RemovalExpired)
			continue
		}
		fn(sl, pos, en)
	}
}

// relocateLocked copies the live entry at pos, whose slot is sl, to dst, room already taken at
// the end of its segment, and points the slot there. The old bytes are left to their segment's
// owner.
func (s *shard) relocateLocked(sl slot, pos, dst int, en *entry) {
	sz := en.size()
	copyEntryBytes(s.data[dst:dst+sz], s.data[pos:pos+sz])
	seg := s.segOf(dst)
	s.ar.Seg(seg).Live += uint32(sz)
	s.noteExpire(seg, en.expire)
	s.idx.setOff(sl, offOf(dst))
}

// moveOutLocked appends every live, unexpired entry of segment x of queue q to q's tail
// segment, which has room for x's live bytes, and frees x.
func (s *shard) moveOutLocked(q *arena.Queue, x arena.ID) {
	t := q.Tail()
	tr := s.ar.Seg(t)
	s.eachLiveLocked(x, func(sl slot, pos int, en entry) {
		dst := int(t)*s.segSize + int(tr.Used)
		tr.Used += uint32(en.size())
		s.relocateLocked(sl, pos, dst, &en)
	})
	mayPanic(pointMoveOut) // every entry moved, the segment not yet freed
	s.releaseSeg(q, x)
}

// expireLocked drops the expired entries of segment x where they lie and recomputes its
// earliest expiry. It moves no bytes, so it may run on a segment a View callback reads.
func (s *shard) expireLocked(x arena.ID) {
	r := s.ar.Seg(x)
	base, used := int(x)*s.segSize, int(r.Used)
	now, minExp := s.e.now(), int64(0)
	for p := 0; p < used; {
		pos := base + p
		en := readEntry(s.data[pos:])
		p += en.size()
		if en.flags&(flagDead|flagTTL) != flagTTL {
			continue
		}
		if !en.expired(now) {
			if minExp == 0 || en.expire < minExp {
				minExp = en.expire
			}
			continue
		}
		sl, ok := s.slotOf(pos, &en)
		if !ok {
			continue
		}
		s.dropLocked(sl, pos, &en, RemovalExpired)
		mayPanic(pointExpire)
	}
	r.MinExpire = minExp
}

// resetLocked empties the shard and gives its memory back to the pool and its physical memory
// to the operating system, except segments a View callback still reads, which are retired
// until the callback ends.
func (s *shard) resetLocked() {
	// The small queue's segments join the main queue's, so that segments a View callback reads
	// are retired from one queue, which releaseRetired names.
	for id := s.sq.Head(); id != arena.None; id = s.sq.Head() {
		s.ar.Transfer(s.sq, s.q, id)
	}
	// Pages go back to the operating system while the segments are still this shard's: once
	// in the pool, another shard may be writing to them.
	for id := s.q.Head(); id != arena.None; id = s.ar.Next(id) {
		if s.ar.Pins(id) == 0 {
			dropPages(s.ar.Bytes(id), s.e.shared())
		}
	}
	s.g.resetQueue(s.q)
	s.open, s.anyOpen = noOpenSegments, false
	mayPanic(pointReset) // the queue is empty, the index still full
	var pages []uint32
	s.idx.eachPage(func(p uint32) { pages = append(pages, p) })
	for _, p := range pages {
		dropPages(s.data[int(p)*indexPageSize:int(p+1)*indexPageSize], s.e.shared())
	}
	s.idx.reset(s.e.shared())
	s.g.freePages(pages, s.e.readers.idle())
	s.entries, s.liveBytes, s.writes = 0, 0, 0
	s.debugCheckLocked()
}

// usedBytes is the part of the mapping the shard fills: every segment up to its write
// position, retired ones whole, and its index pages. Read lock held.
func (s *shard) usedBytes() int {
	n := int(s.idx.hdr.pages) * indexPageSize
	for _, q := range s.queues() {
		for id := q.Head(); id != arena.None; id = s.ar.Next(id) {
			n += int(s.ar.Seg(id).Used)
		}
	}
	return n + s.q.Retired()*s.segSize
}
