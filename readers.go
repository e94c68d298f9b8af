package mmcache

// Lock-free reads. On amd64 and arm64, Get and Has read a shard without its lock, as a seqlock
// reader:
//
//	seq := s.seq (even: no writer)  →  probe the index, read the entry, copy the value  →
//	s.seq unchanged?  yes: the read is consistent, return it  /  no: undo and retry
//
// Every writer holds the shard's write lock and keeps s.seq odd while it holds it (shard.lock,
// shard.unlock), so a read that overlapped a write sees the sequence change. A read lock costs
// two atomic read-modify-writes, and on x86 each one is a full fence that waits for the
// reader's cache misses; without them, parallel Gets run about a third faster.
//
// A reader that holds no lock may see bytes a writer is changing. So:
//   - every length and offset it reads is checked before it is used (peekEntry), and a torn
//     header makes it retry, never index out of range;
//   - it writes nothing into the mapping until its read is validated; the one write it makes,
//     an accessed bit, is an atomic OR on a word writers change only with atomic
//     read-modify-writes;
//   - nothing between claiming a slot and releasing it should panic (every index is checked),
//     and the release is deferred all the same, so a slot is never left owned, which would hold
//     up Close for good;
//   - an attempt copies the value into dst before it knows the read is good, so a Get whose
//     dst has spare room over the key's bytes takes the read lock instead;
//   - a reader that finds a writer in spins, then yields, since a write lock is held for far
//     less time than parking on the read lock takes; after a few rounds, or a few failed
//     attempts, it takes the read lock, so a busy writer cannot starve it.
//
// Close must not unmap under a reader that holds no lock. Each lock-free reader therefore owns
// a reader slot while it reads: it claims a free slot with a compare-and-swap before it looks
// at the cache, checks that Close has not begun, and frees the slot when done. Close first
// raises its flag, then waits until no slot is owned (readerSlots.wait). Both sides use
// sequentially consistent atomics for flag and claim, so either the reader sees the flag and
// touches nothing, or Close sees the claim and waits. The claim comes before the reader's
// cache misses, where a fence costs little; the release that ends the read is a plain store on
// amd64, where every store has release semantics, and a store-release (STLR) on arm64
// (releaseStore). On arm64, where loads may be reordered, the reader also orders the loads of
// its read before the second load of the sequence (orderLoads); docs/design.md has the argument.
//
// Slots also count lookups: the owner adds to its slot's counters with plain stores, and
// Stats sums them. A goroutine picks a slot from its stack address, so the same goroutine
// keeps finding the same slot, on a cache line its core already holds.

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"
)

const (
	minReaderSlots   = 64   // 64 slots of 64 bytes: one 4 KiB heap object
	maxReaderSlots   = 4096 // 256 KiB
	slotProbes       = 4    // slots tried before a reader falls back to the read lock
	lockFreeTries    = 4    // lock-free attempts before a reader falls back to the read lock
	writerSpins      = 64   // loads of a shard's sequence while a writer holds it, per round
	writerWaitRounds = 4    // rounds of spinning, each ended by a yield, before a reader queues
)

// readerSlot is owned by at most one lock-free reader at a time.
type readerSlot struct {
	state  uint64 // odd while owned; accessed atomically, but released by releaseStore
	hits   uint64 // written by the owner only (releaseStore), read atomically by Stats
	misses uint64
	//lint:ignore U1000 stored to by orderLoads on arm64 and under the race detector; never read
	fence uint64
	// touched keeps what the owner's touchLines loads read, so that they are made.
	touched byte

	_ [64 - 4*8 - 1]byte // one slot per cache line
}

var _ = [1]struct{}{}[unsafe.Sizeof(readerSlot{})-64]

// readerSlots is a power-of-two number of slots: eight per P, so that goroutines running at
// once rarely pick the same one, and at least minReaderSlots. Two heap objects per cache.
type readerSlots struct {
	slots []readerSlot
	shift uint // 64 - log2(len(slots)): takes a hash's top bits as a slot index
}

func newReaderSlots(procs int) *readerSlots {
	n := min(max(1<<bits.Len(uint(8*procs-1)), minReaderSlots), maxReaderSlots)
	return &readerSlots{slots: make([]readerSlot, n), shift: uint(64 - bits.TrailingZeros(uint(n)))}
}

// claim returns a slot the caller now owns, or nil when those it tried were all owned.
func (rs *readerSlots) claim() *readerSlot {
	var probe byte
	k := rs.home(uintptr(unsafe.Pointer(&probe)))
	mask := uint64(len(rs.slots) - 1)
	for i := range uint64(slotProbes) {
		r := &rs.slots[(k+i)&mask]
		v := atomic.LoadUint64(&r.state)
		if v&1 == 0 && atomic.CompareAndSwapUint64(&r.state, v, v+1) {
			return r
		}
	}
	return nil
}

// home is the first slot a goroutine whose stack holds addr tries: a hash of the address's
// bits above 2 KiB, the smallest stack, so one goroutine keeps one slot and different
// goroutines mostly differ.
func (rs *readerSlots) home(addr uintptr) uint64 {
	return uint64(addr>>11) * 0x9E3779B97F4A7C15 >> rs.shift
}

// release ends the owner's read, counting a lookup (and a miss when hit is false) if count.
func (r *readerSlot) release(count, hit bool) {
	if count {
		if hit {
			releaseStore(&r.hits, r.hits+1)
		} else {
			releaseStore(&r.misses, r.misses+1)
		}
	}
	// An atomic load, though only the owner changes state now: another reader's failed
	// compare-and-swap counts as a write to the race detector.
	releaseStore(&r.state, atomic.LoadUint64(&r.state)+1)
}

// wait returns once no slot is owned. Close calls it after raising its flag: readers that
// claim a slot from then on touch nothing, so each owned slot is freed within one read.
func (rs *readerSlots) wait() {
	for i := range rs.slots {
		for atomic.LoadUint64(&rs.slots[i].state)&1 != 0 {
			runtime.Gosched()
		}
	}
}

// idle reports whether no slot is owned now. Under a shard's write lock, a reader that claims a
// slot later waits for the lock's release before it reads that shard.
func (rs *readerSlots) idle() bool {
	for i := range rs.slots {
		if atomic.LoadUint64(&rs.slots[i].state)&1 != 0 {
			return false
		}
	}
	return true
}

// counts returns the hits and misses the slots counted. Each is a counter of its own that only
// grows, so neither ever reads lower than in an earlier call (a count of lookups less misses
// would, when a miss lands between the two loads).
func (rs *readerSlots) counts() (hits, misses uint64) {
	for i := range rs.slots {
		hits += atomic.LoadUint64(&rs.slots[i].hits)
		misses += atomic.LoadUint64(&rs.slots[i].misses)
	}
	return hits, misses
}

// lockFree reports whether reads may skip the lock: on a platform where they are cheap and
// sound, unless a test turned them off.
func (e *engine) lockFree() bool { return lockFreeReads && !e.lockedReads }

// getLockFree is Get on shard s without its lock. done is false when the caller must take
// the read lock instead: no reader slot was free, or no consistent read came out.
// left is the hit's time to live in nanoseconds, 0 for none.
func (e *engine) getLockFree(s *shard, dst []byte, h uint64, key []byte) (out []byte, left int64, hit, done bool) {
	if spareOverlaps(dst, key) {
		// An attempt that fails validation may already have appended to dst, and so changed
		// the key the next attempt looks for. The locked path compares before it appends.
		return dst, 0, false, false
	}
	r := e.readers.claim()
	if r == nil {
		return dst, 0, false, false
	}
	// Deferred, so that a panic cannot leave the slot owned, which would hold up Close for good.
	// A lookup is counted when it completed on an open cache.
	count := false
	defer func() { r.release(count, hit) }()
	if e.closing.Load() {
		return dst, 0, false, true // a miss, not counted, once Close has begun
	}
	out, left, hit, done = s.tryGet(r, dst, h, key)
	count = done
	return out, left, hit, done
}

// warm looks key up in shard s without the lock: it brings the index bucket and the old
// entry, the two cache misses of a Set, into this core's cache before the Set takes the write
// lock, so that they are not paid while the lock is held, readers of the shard retry and other
// writers wait. Like a lock-free read, it owns a reader slot, so that Close cannot unmap under
// it; without a free slot it does nothing. size is the entry the Set will write: the old
// entry's lines that an overwrite in place of that size will write are brought in too.
//
// Only a write of at least warmMinSize bytes warms. A smaller one looks up under the lock,
// where touchLines makes the entry's lines miss together: a lock held for those misses costs
// less than a second look-up and a reader slot's claim (64 B values, 1 M keys, zipf 1.01 on
// 2 cores: 10% less CPU per Set, 7% at 75% Get / 25% Set), while a large entry's write keeps
// the lock long enough for the warm look-up to pay (1 KiB values: 10% less wall time per Set).
//
// What it found is also returned, with the sequence it was read at: a writer whose lock
// directly follows that sequence (warmed.current) uses it instead of looking the key up again.
func (e *engine) warm(s *shard, h uint64, key []byte, size int) (w warmed) {
	w.size = size
	if !e.lockFree() || size < warmMinSize {
		return w
	}
	r := e.readers.claim()
	if r == nil {
		return w
	}
	defer r.release(false, false) // even on a panic
	if e.closing.Load() {
		return w
	}
	// An acquire load (atomic): the loads of the lookup below cannot be satisfied before it,
	// so if no writer locked the shard after it, they saw the state its last writer left.
	seq := atomic.LoadUint64(&s.seq)
	var sane bool
	w.sl, w.pos, w.en, w.found, sane, w.touched = s.peek(h, key, size)
	w.seq, w.valid = seq, sane && seq&1 == 0
	return w
}

// touchLines loads one byte from each cache line that data[pos:pos+n] reaches past its first,
// up to maxTouch bytes, and returns them XORed: the caller keeps the result somewhere the
// compiler cannot prove unread, or the loads would be compiled away.
//
// Why: a Set that overwrites an entry in place reads the entry's first line (header and key)
// to compare the key, and then writes its value, which lies on the next lines. Those would
// miss one after the other, and the lock's release (an atomic, a full fence on x86) would wait
// for the last. Loaded beside the header, all the entry's lines miss at once; a Get's value
// likewise. pos may come from a torn slot: every load is bounds-checked.
func touchLines(data []byte, pos, n int) (t byte) {
	n = min(n, maxTouch)
	for o := cacheLine - pos&(cacheLine-1); o < n && pos+o < len(data); o += cacheLine {
		t ^= data[pos+o]
	}
	return t
}

const (
	// warmMinSize is the smallest write that warm looks up before the lock: four lines.
	warmMinSize = 256
	cacheLine   = 64
	// maxTouch bounds the bytes touchLines loads ahead: past a few lines, a write's sequential
	// stores are prefetched by the processor anyway.
	maxTouch = 1 << 10
)

// warmed is the lookup warm made without the lock.
type warmed struct {
	seq   uint64 // the shard's sequence before the lookup: even if no writer held the lock
	sl    slot
	pos   int
	en    entry
	found bool
	valid bool // the lookup was sane and no writer held the lock when it began
	size  int  // the entry the write will store, whether or not warm looked the key up
	// touched keeps what the lookup's touchLines read, so that its loads are made.
	touched byte
}

// current reports whether w still describes shard s, whose write lock the caller has just
// taken: no other writer held the lock between the lookup and this one, so nothing the lookup
// read has changed (lock makes seq odd: one more than the even value w began at).
func (w *warmed) current(s *shard) bool { return w.valid && s.seq == w.seq+1 }

// lookupWarm is lookup, or what warm found if that is current, for a write of an entry of
// w.size bytes. Write lock held.
func (s *shard) lookupWarm(w *warmed, h uint64, key []byte) (sl slot, pos int, en entry, ok bool) {
	if w.current(s) {
		return w.sl, w.pos, w.en, w.found
	}
	var t byte
	sl, pos, en, ok, t = s.lookupTouch(h, key, w.size)
	s.touched ^= t
	return sl, pos, en, ok
}

// spareOverlaps reports whether appending to dst without growing it could write over key.
func spareOverlaps(dst, key []byte) bool {
	spare := dst[len(dst):cap(dst)]
	if len(spare) == 0 || len(key) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(spare)))
	k := uintptr(unsafe.Pointer(unsafe.SliceData(key)))
	return p < k+uintptr(len(key)) && k < p+uintptr(len(spare))
}

// hasLockFree is Has on shard s without its lock, like getLockFree.
func (e *engine) hasLockFree(s *shard, h uint64, key []byte) (found, done bool) {
	r := e.readers.claim()
	if r == nil {
		return false, false
	}
	defer r.release(false, false) // even on a panic
	found, done = false, true
	if !e.closing.Load() {
		found, done = s.tryHas(r, h, key)
	}
	return found, done
}

// tryGet is Get without the lock. done is false when no consistent read came out of a few
// attempts, or Close has begun; the caller then takes the read lock. The caller owns a slot.
func (s *shard) tryGet(r *readerSlot, dst []byte, h uint64, key []byte) (out []byte, left int64, hit, done bool) {
	// dst's spare room is the size of value the caller expects: its lines are loaded with the
	// entry's header (touchLines), not after it.
	touch := 0
	if spare := cap(dst) - len(dst); spare > 0 {
		touch = maxHeaderSize + len(key) + min(spare, maxTouch)
	}
	for range lockFreeTries {
		seq, ok := s.quietSeq()
		if !ok {
			break
		}
		sl, pos, en, found, sane, t := s.peek(h, key, touch)
		r.touched = t
		mayPanic(pointLockFree)
		out, left = dst, 0
		if found {
			found, left = s.timeLeft(&en)
		}
		if found {
			v := pos + en.valOff()
			out = append(dst, s.data[v:v+en.valLen]...)
		}
		r.orderLoads() // the loads above complete before the sequence is read again
		if !sane || atomic.LoadUint64(&s.seq) != seq {
			continue
		}
		// The read is valid; mark it, unless a writer has come in since (its slot may be
		// another entry's by now; and after a Reset the page would fault back in). This
		// narrows the window without closing it: rarely, a writer comes in after the check,
		// and the bit lands on the slot's next entry, on a page a split emptied, or on a page
		// a Reset freed. A freed page stays an index page for as long as any reader holds a
		// slot (group.freePages), so the bit always lands in a bucket's meta word: it costs
		// accuracy or a page, never a wrong value.
		if found && atomic.LoadUint64(&s.seq) == seq {
			s.idx.markAccessed(sl)
		}
		return out, left, found, true
	}
	return dst, 0, false, false
}

// expiredNow reports whether the entry has a TTL that has run out, reading the clock only
// for an entry with a TTL.
func (s *shard) expiredNow(en *entry) bool {
	return en.flags&flagTTL != 0 && en.expired(s.e.now())
}

// timeLeft reports whether the entry is live and, if it expires, the nanoseconds it has left
// (0: it never expires), reading the clock only for an entry with a TTL.
func (s *shard) timeLeft(en *entry) (live bool, left int64) {
	if en.flags&(flagTTL|flagNever) != flagTTL {
		return true, 0
	}
	left = en.expire - s.e.now()
	return left > 0, max(left, 0)
}

// quietSeq returns the shard's sequence once no writer holds the shard. A write lock is
// usually held for a fraction of a microsecond, far less than it takes to park a goroutine on
// the read lock and wake it again, so it spins first, then yields a few times. ok is false
// when the writer is still in after that (a long eviction, or a writer descheduled): the
// caller then queues on the read lock.
func (s *shard) quietSeq() (seq uint64, ok bool) {
	for range writerWaitRounds {
		for range writerSpins {
			if seq = atomic.LoadUint64(&s.seq); seq&1 == 0 {
				return seq, true
			}
		}
		runtime.Gosched()
	}
	return 0, false
}

// tryHas is Has without the lock, like tryGet.
func (s *shard) tryHas(r *readerSlot, h uint64, key []byte) (found, done bool) {
	for range lockFreeTries {
		seq, ok := s.quietSeq()
		if !ok {
			break
		}
		_, _, en, found, sane, _ := s.peek(h, key, 0)
		found = found && !s.expiredNow(&en)
		r.orderLoads()
		if sane && atomic.LoadUint64(&s.seq) == seq {
			return found, true
		}
	}
	return false, false
}

// peek is lookup for a reader without the lock: the bytes it reads may be torn by a writer.
// sane is false when it met a directory entry, page number or entry header that cannot be
// right, which only a concurrent write explains; the caller validates the sequence either way.
// A writer passes touch, the size of the entry it is about to write: each entry peek reads
// has the lines of that many bytes loaded alongside its header (touchLines), and t is what
// those loads read, which the caller must keep.
func (s *shard) peek(h uint64, key []byte, touch int) (sl slot, pos int, en entry, found, sane bool, t byte) {
	fp := fingerprint(h)
	pg, ok := s.idx.page(fp)
	if !ok {
		// No page: an empty index, or a torn read of the directory.
		return slot{}, 0, entry{}, false, s.idx.hdr.pages == 0, 0
	}
	b := home(pg, fp)
	for range pageProbe {
		for m := s.idx.match(b, fp); m != 0; m &= m - 1 {
			sl = slot{b, bits.TrailingZeros32(m)}
			pos = int(s.idx.off(sl)-1) << entryAlignBits
			t ^= touchLines(s.data, pos, touch)
			var ok bool
			// A torn length could be anything up to the arena's size; bounding it by the
			// largest entry keeps a retry from appending gigabytes to dst.
			if en, ok = peekEntry(s.data, pos); !ok || en.keyLen+en.valLen > s.e.lay.maxEntry {
				return slot{}, 0, entry{}, false, false, t
			}
			if en.keyLen == len(key) && string(s.data[pos+en.keyOff:pos+en.valOff()]) == string(key) {
				return sl, pos, en, true, true, t
			}
		}
		if s.idx.overflow(b) == 0 {
			break
		}
		b = nextBucket(b)
	}
	return slot{}, 0, entry{}, false, true, t
}
