package mmcache

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mmcache/mmcache/arena"
)

// A shard owns a page-aligned part of the mapping: its table, then its arena.
//
//	| table: buckets × 64 B, page-rounded | arena: header | records | segments ... |
//
// Entries are appended to the arena's tail segment. The eviction clock runs over the arena's
// queue of segments, oldest first; see evictLocked. Offsets stored in the table count from the
// start of the arena's data, in units of 8 bytes.
type shard struct {
	// Fixed after init and read by every call, so kept off the lines that writers dirty.
	e       *engine
	tbl     table
	ar      *arena.Arena
	data    []byte // ar.Data(): all segments back to back; points into the mapping
	segSize int

	_ [64]byte

	mu sync.RWMutex // protects the shard's part of the mapping and the fields below
	// seq is odd while a writer holds mu, and changes with every write lock hold: lock-free
	// readers (readers.go) use it to detect a write that overlapped their read. Only the lock
	// holder writes it (releaseStore); readers load it atomically.
	seq uint64
	// Counters of lookups made under the read lock, beside the lock whose cache line a reader
	// dirties anyway. Lock-free lookups count in their reader slot.
	hits, misses atomic.Uint64
	closed       bool // set under mu by Close; no call that takes mu touches the mapping after it

	entries   int // entries in the table, expired ones not yet collected included
	liveBytes int // their keys and values
	writes    int // since the last inline janitor step
	// hugeTableAt is the entry count at which the table is advised to use huge pages (0: never,
	// or done). Written at random places, a sparse table on huge pages would be resident far
	// beyond what it holds; once a quarter full, most of its pages are touched anyway.
	hugeTableAt int

	sets, deletes, evictions, expirations uint64
	salvages                              uint64 // shard emptied after a panic under its lock

	_ [64]byte // keep neighbouring shards' locks off this cache line
}

// seq is loaded atomically on every platform; 32-bit ones need it 8-byte aligned.
var _ = [1]struct{}{}[unsafe.Offsetof(shard{}.seq)%8]

func (s *shard) init(e *engine, region []byte, l *layout) error {
	ar, err := arena.New(region[l.tableBytes:], l.segSize)
	if err != nil {
		return err
	}
	hugeAt := 0
	if l.hugePages {
		// Segments fill front to back, so their 2 MiB pages are soon all used: advise them now.
		// The table waits until it is a quarter full (see hugeTableAt).
		if start, end := pageTrim(ar.Data()); end > start {
			adviseHugePages(ar.Data()[start:end])
		}
		hugeAt = max(l.buckets*slotsPerBucket/4, 1)
	}
	*s = shard{
		e:           e,
		hugeTableAt: hugeAt,
		tbl:         table{mem: region[: l.buckets*bucketSize : l.buckets*bucketSize], n: uint32(l.buckets)},
		ar:          ar,
		data:        ar.Data(),
		segSize:     l.segSize,
	}
	return nil
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
	s.mu.Lock()
	releaseStore(&s.seq, s.seq+1)
	// Read it back: without a load in between, the compiler may merge this store with
	// unlock's into one that never makes seq odd. An atomic load is a plain MOV on amd64.
	_ = atomic.LoadUint64(&s.seq)
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

func (s *shard) release() {
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
func (s *shard) lookup(h uint64, key []byte) (b uint32, i int, pos int, en entry, ok bool) {
	tag := tagOf(h)
	b = s.tbl.home(h)
	for range s.tbl.probeLen() {
		for m := s.tbl.match(b, tag); m != 0; m &= m - 1 {
			i = bits.TrailingZeros32(m)
			pos = int(s.tbl.off(b, i)) << entryAlignBits
			en = readEntry(s.data[pos:])
			if en.keyLen == len(key) && string(s.data[pos+en.keyOff:pos+en.valOff()]) == string(key) {
				return b, i, pos, en, true
			}
		}
		if s.tbl.overflow(b) == 0 {
			break
		}
		b = s.tbl.next(b)
	}
	return 0, 0, 0, entry{}, false
}

// value returns the value bytes of the entry at pos.
func (s *shard) value(pos int, en *entry) []byte {
	start := pos + en.valOff()
	return s.data[start : start+en.valLen : start+en.valLen]
}

func (s *shard) key(pos int, en *entry) []byte {
	return s.data[pos+en.keyOff : pos+en.valOff()]
}

// set stores key and value, whose hash is h, with the given expiry (0: never).
func (s *shard) set(h uint64, key, value []byte, expire int64) error {
	size := entrySize(len(key), len(value), expire != 0)
	s.lock()
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed {
		return ErrClosed
	}
	b, i, pos, old, found := s.lookup(h, key)
	if found && old.size() == size && s.ar.Pins(s.segOf(pos)) == 0 {
		// Same footprint and no View callback reading it: overwrite in place, which leaves no
		// garbage behind. Locked readers are excluded; lock-free ones see seq odd and retry.
		s.countReplaced(&old)
		putEntry(s.data[pos:pos+size], key, value, expire)
		mayPanic(pointOverwrite)
		s.noteExpire(s.segOf(pos), expire)
		s.liveBytes += len(value) - old.valLen
		s.tbl.clearAccessed(b, i)
		s.wroteLocked()
		return nil
	}
	newPos, reclaimed, err := s.alloc(size)
	if err != nil {
		return err
	}
	putEntry(s.data[newPos:newPos+size], key, value, expire)
	mayPanic(pointAppend)
	seg := s.segOf(newPos)
	s.ar.Seg(seg).Live += uint32(size)
	s.noteExpire(seg, expire)
	if found && reclaimed {
		// Reclaiming may have moved or dropped the old entry; the new one is not in the table yet.
		b, i, pos, old, found = s.lookup(h, key)
	}
	off := uint32(newPos >> entryAlignBits)
	if found {
		s.countReplaced(&old)
		s.killEntry(pos, &old)
		s.liveBytes -= old.keyLen + old.valLen
		s.tbl.setOff(b, i, off)
		s.tbl.clearAccessed(b, i)
	} else {
		s.insertLocked(h, off)
		s.entries++
		if s.entries == s.hugeTableAt {
			s.hugeTableAt = 0
			if start, end := pageTrim(s.tbl.mem); end > start {
				adviseHugePages(s.tbl.mem[start:end])
			}
		}
	}
	s.liveBytes += len(key) + len(value)
	s.wroteLocked()
	return nil
}

// countReplaced counts an entry that a Set replaces as an expiration if it had expired: it
// left the cache by expiry before the Set came.
func (s *shard) countReplaced(old *entry) {
	if s.expiredNow(old) {
		s.expirations++
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

// killEntry marks the entry at pos dead and takes it off its segment's live bytes. The table
// slot is the caller's business.
func (s *shard) killEntry(pos int, en *entry) {
	s.data[pos] |= flagDead
	s.ar.Seg(s.segOf(pos)).Live -= uint32(en.size())
}

// slotOf finds the table slot of the live entry at pos, and its home bucket, by hashing its
// key. Every live entry has one; a missing slot is a broken invariant.
func (s *shard) slotOf(pos int, en *entry) (home, b uint32, i int, ok bool) {
	h := s.e.hash(s.key(pos, en))
	home = s.tbl.home(h)
	b, i, ok = s.tbl.findOff(home, tagOf(h), uint32(pos>>entryAlignBits))
	if !ok {
		broken("live entry without a table slot")
	}
	return home, b, i, ok
}

// dropLocked removes a live entry: its slot (b, i) with home bucket home, and its bytes.
func (s *shard) dropLocked(home, b uint32, i int, pos int, en *entry) {
	s.tbl.remove(home, b, i)
	s.killEntry(pos, en)
	s.entries--
	s.liveBytes -= en.keyLen + en.valLen
}

// insertLocked adds a slot for a new entry at offset off. When the probe window is full it
// makes room in the home bucket: it drops an expired entry if the bucket has one (an
// expiration), or else evicts an entry not read since the clock last passed, or else one
// picked by the hash.
func (s *shard) insertLocked(h uint64, off uint32) {
	home, tag := s.tbl.home(h), tagOf(h)
	if _, _, ok := s.tbl.insert(home, tag, off); ok {
		return
	}
	mayPanic(pointBucketFull)
	now := s.e.now()
	victim, unread, expired := int((h>>8)%slotsPerBucket), -1, false // modulo first: int(h>>8) is negative on 32-bit
	var pos int
	var en entry
	for i := range slotsPerBucket {
		p := int(s.tbl.off(home, i)) << entryAlignBits
		x := readEntry(s.data[p:])
		if x.expired(now) {
			victim, pos, en, expired = i, p, x, true
			break
		}
		if unread < 0 && !s.tbl.accessed(home, i) {
			unread = i
		}
	}
	if !expired {
		if unread >= 0 {
			victim = unread
		}
		pos = int(s.tbl.off(home, victim)) << entryAlignBits
		en = readEntry(s.data[pos:])
	}
	vh := s.e.hash(s.key(pos, &en))
	s.dropLocked(s.tbl.home(vh), home, victim, pos, &en)
	if expired {
		s.expirations++
	} else {
		s.evictions++
	}
	if _, _, ok := s.tbl.insert(home, tag, off); !ok {
		panic("mmcache: table insert failed after making room") // unreachable: the home bucket has a free slot
	}
}

// alloc returns the position of size free bytes at the end of the tail segment, taking a
// free segment or evicting the oldest when the tail is full. reclaimed reports that entries may
// have moved or gone.
func (s *shard) alloc(size int) (pos int, reclaimed bool, err error) {
	// Each round either returns, takes a free segment, or turns the head into the tail with
	// room for size; only pinned heads (rotated unchanged) can make it go round again.
	for range 2*s.ar.Len() + 2 {
		if t := s.ar.Tail(); t != arena.None {
			r := s.ar.Seg(t)
			if int(r.Used)+size <= s.segSize {
				pos = int(t)*s.segSize + int(r.Used)
				r.Used += uint32(size)
				return pos, reclaimed, nil
			}
		}
		if _, ok := s.ar.Grab(); ok {
			continue
		}
		head := s.ar.Head()
		if head == arena.None {
			// Nothing free and nothing queued: every segment is retired, still read by View
			// callbacks that began before a Reset.
			break
		}
		if s.ar.Pins(head) != 0 {
			s.ar.MoveToTail(head) // a View callback reads it: skip it this round
			continue
		}
		reclaimed = true
		mayPanic(pointEvict)
		s.evictLocked(head, size)
	}
	return 0, reclaimed, fmt.Errorf("%w (%d segments)", ErrBusy, s.ar.Len())
}

// evictLocked reclaims segment x, the oldest, to become the tail with room for need bytes.
//
// The policy is CLOCK over segments, the "second chance" of a log: an entry read since the
// clock last passed (its accessed bit is set) is kept, moved down within x, and its bit
// cleared; an entry not read is evicted, as are dead and expired ones. At most three quarters
// of the segment are kept, so each eviction frees at least a quarter and a Set never pays for
// more than one segment; x then moves to the tail, behind every other segment, so kept entries
// get a full round before the clock comes back to them.
func (s *shard) evictLocked(x arena.ID, need int) {
	keep := min(s.segSize-need, s.segSize*3/4)
	s.compactLocked(x, keep, true)
	s.ar.MoveToTail(x)
}

// compactLocked slides the entries of segment x that stay down to its start, in order, and
// drops the rest: dead ones, expired ones and, when clock is set, those not accessed since the
// last pass or beyond keep bytes. It updates the table for every entry moved or dropped.
func (s *shard) compactLocked(x arena.ID, keep int, clock bool) {
	r := s.ar.Seg(x)
	base, used, w := int(x)*s.segSize, int(r.Used), 0
	now, minExp := s.e.now(), int64(0)
	for p := 0; p < used; {
		pos := base + p
		en := readEntry(s.data[pos:])
		sz := en.size()
		p += sz
		if en.flags&flagDead != 0 {
			continue
		}
		home, b, i, ok := s.slotOf(pos, &en)
		if !ok {
			continue
		}
		switch {
		case en.expired(now):
			s.dropLocked(home, b, i, pos, &en)
			s.expirations++
		case clock && (!s.tbl.accessed(b, i) || w+sz > keep):
			s.dropLocked(home, b, i, pos, &en)
			s.evictions++
		default:
			if clock {
				s.tbl.clearAccessed(b, i)
			}
			if dst := base + w; dst != pos {
				copyEntryBytes(s.data[dst:dst+sz], s.data[pos:pos+sz])
				s.tbl.setOff(b, i, uint32(dst>>entryAlignBits))
			}
			w += sz
			if en.flags&flagTTL != 0 && (minExp == 0 || en.expire < minExp) {
				minExp = en.expire
			}
		}
	}
	mayPanic(pointCompact) // the table is updated, the segment's record not yet
	r.Used, r.Live, r.MinExpire = uint32(w), uint32(w), minExp
}

// moveOutLocked appends every live, unexpired entry of segment x to the tail segment, which
// has room for x's live bytes, and frees x.
func (s *shard) moveOutLocked(x arena.ID) {
	t := s.ar.Tail()
	tr := s.ar.Seg(t)
	base, used := int(x)*s.segSize, int(s.ar.Seg(x).Used)
	now := s.e.now()
	for p := 0; p < used; {
		pos := base + p
		en := readEntry(s.data[pos:])
		sz := en.size()
		p += sz
		if en.flags&flagDead != 0 {
			continue
		}
		home, b, i, ok := s.slotOf(pos, &en)
		if !ok {
			continue
		}
		if en.expired(now) {
			s.dropLocked(home, b, i, pos, &en)
			s.expirations++
			continue
		}
		dst := int(t)*s.segSize + int(tr.Used)
		copyEntryBytes(s.data[dst:dst+sz], s.data[pos:pos+sz])
		tr.Used += uint32(sz)
		tr.Live += uint32(sz)
		s.noteExpire(t, en.expire)
		s.tbl.setOff(b, i, uint32(dst>>entryAlignBits))
	}
	mayPanic(pointMoveOut) // every entry moved, the segment not yet freed
	s.ar.Release(x)
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
		home, b, i, ok := s.slotOf(pos, &en)
		if !ok {
			continue
		}
		s.dropLocked(home, b, i, pos, &en)
		s.expirations++
		mayPanic(pointExpire)
	}
	r.MinExpire = minExp
}

// resetLocked empties the shard and gives its memory back, except segments a View callback
// still reads, which the arena retires until the callback ends.
func (s *shard) resetLocked() {
	s.ar.Reset()
	mayPanic(pointReset) // the arena is empty, the table still full
	zeroPages(s.tbl.mem)
	if s.ar.Retired() == 0 {
		dropPages(s.data)
	} else {
		for id := range s.ar.Len() {
			if !s.ar.IsRetired(arena.ID(id)) {
				dropPages(s.ar.Bytes(arena.ID(id)))
			}
		}
	}
	s.entries, s.liveBytes, s.writes = 0, 0, 0
	s.debugCheckLocked()
}

// usedBytes is the part of the shard's mapping that holds data: every segment up to its write
// position, retired ones whole, and the table slots of the entries. Read lock held.
func (s *shard) usedBytes() int {
	n := s.entries * slotBytes
	for id := s.ar.Head(); id != arena.None; id = s.ar.Next(id) {
		n += int(s.ar.Seg(id).Used)
	}
	return n + s.ar.Retired()*s.segSize
}

// reservedBytes is the part of the shard's mapping set aside for the table and the arena's
// bookkeeping.
func (s *shard) reservedBytes() int { return s.e.lay.tableBytes + arena.Overhead(s.ar.Len()) }
