package mmcache

// The index maps a key's hash to the offset of its entry. Each shard has its own, and it grows
// with the entries instead of being sized by a guess: it is an extendible hash table of 4 KiB
// pages taken, as they are needed, from the same pool of segments as the entries, so index and
// entries share Capacity in whatever proportion the entry sizes call for.
//
//	directory (2^depth u32, reserved in the mapping)      pages (4 KiB each, in pool segments)
//	| p0 | p0 | p1 | p2 | ...                 ──►     | bucket 0 | bucket 1 | ... | bucket 63 |
//	   top `depth` bits of the fingerprint pick one        each bucket one 64-byte cache line
//
//	bucket: | fingerprints [7]u32 | offsets [7]u32 | meta u32 | local depth u32 (bucket 0 only) |
//	         0                    28               56         60                               64
//	meta:   bits 0-6 accessed (one per slot), bits 8-15 overflow count, bits 16-22 ghost (one per slot),
//	        bits 24-30 accessed again (one per slot)
//
// A slot holds the key's fingerprint, the high 32 bits of its hash, and the entry's offset in
// the pool's data in units of 4 bytes, plus one, so that 0 marks an empty slot.
//
// Invariants (checkLocked verifies them):
//   - the directory entry for fingerprint fp is dir[fp >> (32-depth)]; a page of local depth d
//     is named by the 2^(depth-d) consecutive entries that share its top d bits, and holds
//     exactly the slots whose fingerprints have those top d bits;
//   - within a page, a slot's home bucket is fp & 63 (bits the directory never uses, since
//     depth stays at or below maxDirDepth); a slot lies at most pageProbe-1 buckets past its
//     home, and each bucket's overflow count is the number of slots that probing passed it to
//     reach (a count stuck at 255 may exceed that);
//   - every live entry has exactly one slot, and every slot names a live entry;
//   - a ghost (policy.go) is an empty slot (offset 0) that keeps the fingerprint of a key the
//     small queue evicted unread, with its ghost bit set. Lookups pass it by as empty, an insert
//     may take its place, and it counts in no overflow count: ghosts must not lengthen the
//     probes of lookups that miss. So a probe for its fingerprint finds it only in its home
//     bucket or in a bucket the probe reaches anyway. Only empty slots have ghost bits.
//
// Splitting. When an insert finds every bucket of its probe window full, the page splits: a new
// page takes the slots whose next fingerprint bit is 1, the directory doubles first if the page
// was as deep as the directory, and the insert is tried again. A split reads no entry: the
// fingerprint in the slot says where it goes. When no page can be had (the directory is at its
// reserved depth) the shard evicts from the home bucket instead, as a full window must.
//
// Lookup compares the full fingerprint, then follows the offset and compares the full key, so
// a fingerprint collision never returns another key's value. Lock-free readers (readers.go)
// walk the same structure with no lock: every directory entry and page number they load is
// bounds-checked before use, and the shard's sequence tells them whether a writer (a split, a
// doubling) overlapped their read.
//
// A slot's two frequency bits, accessed and accessed again, count the reads of its entry since
// it was written or the eviction clock last passed it, up to two (maxFreq): a read sets the
// first bit, or the second when the first is set; the clock clears the second, or else the
// first (decFreq). Readers set them with an atomic OR, under the read lock or with none; so
// writers change a meta word only with atomic read-modify-writes, and a reader's bit is never
// lost. Everything else in the index changes only under the shard's write lock.

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

const (
	indexPageSize = 4096
	pageBuckets   = 64
	bucketSlots   = 7
	bucketBytes   = 64
	fpsOff        = 0
	offsOff       = 4 * bucketSlots
	metaOff       = 56
	depthOff      = 60 // the page's local depth, in its bucket 0
	// pageProbe is the most buckets a probe visits, all within one page.
	pageProbe = 16
	// maxDirDepth keeps the directory's bits (the fingerprint's top ones) clear of the six
	// that pick a bucket in a page (its low ones).
	maxDirDepth = 26

	overflowShift = 8
	overflowMax   = 255
	ghostShift    = 16
	againShift    = 24

	// maxFreq is the most a slot's frequency counts: its accessed and accessed-again bits.
	maxFreq = 2
)

var (
	_ = [1]struct{}{}[pageBuckets*bucketBytes-indexPageSize]
	_ = [1]struct{}{}[offsOff+4*bucketSlots-metaOff]
	// Two bits per slot (accessed, accessed again) count the frequency: maxFreq is 2.
	_ = [1]struct{}{}[maxFreq-2]
)

// indexHeader is the part of a shard's header in the mapping that describes its index.
type indexHeader struct {
	depth uint32 // the directory's depth: it has 2^depth entries in use; atomic for readers
	pages uint32 // pages the index holds
}

// slot names a slot: the byte offset of its bucket in the pool's data, and its number there.
type slot struct {
	bkt int
	i   int
}

// index is a shard's view of its directory and of the pool's data, where its pages lie.
type index struct {
	hdr      *indexHeader // points into the mapping
	dir      []byte       // 4<<maxDepth bytes in the mapping; entry i at 4*i holds page+1, 0: none
	data     []byte       // the pool's data: page p starts at p*indexPageSize
	maxDepth uint32
	npages   uint32 // pages the data holds: a bound for numbers read without the lock
}

func fingerprint(h uint64) uint32 { return uint32(h >> 32) }

func (x *index) word(b []byte, off int) *uint32 { return (*uint32)(wordAt(b, off)) }

// wordAt returns the address of the 4-byte word at b[off:], bounds-checked. Every word
// addressed this way is 4-byte aligned (directories, pages, headers and buckets are), lies in
// the mapping, which outlives every call that may reach here, and holds no pointer.
func wordAt(b []byte, off int) unsafe.Pointer {
	return unsafe.Pointer(&b[off : off+4 : off+4][0])
}

// depth returns the directory's depth, which lock-free readers must bound-check.
func (x *index) depth() uint32 { return atomic.LoadUint32(&x.hdr.depth) }

func (x *index) dirEntry(i uint32) uint32 { return atomic.LoadUint32(x.word(x.dir, 4*int(i))) }

func (x *index) setDirEntry(i, v uint32) { atomic.StoreUint32(x.word(x.dir, 4*int(i)), v) }

// dirIndex is the directory entry of fingerprint fp at depth d.
func dirIndex(fp, d uint32) uint32 {
	if d == 0 {
		return 0
	}
	return fp >> (32 - d)
}

// page returns the byte offset of the page that holds fp's slot, and false when there is none
// or what a reader without the lock loaded cannot be right (the caller validates and retries).
func (x *index) page(fp uint32) (int, bool) {
	d := x.depth()
	if d > x.maxDepth {
		return 0, false
	}
	e := x.dirEntry(dirIndex(fp, d))
	if e == 0 || e > x.npages {
		return 0, false
	}
	return int(e-1) * indexPageSize, true
}

// home is the byte offset of fp's home bucket in the page at pg.
func home(pg int, fp uint32) int { return pg + int(fp&(pageBuckets-1))*bucketBytes }

// nextBucket is the bucket after bkt in its page, wrapping around at the page's end.
func nextBucket(bkt int) int {
	pg := bkt &^ (indexPageSize - 1)
	return pg + (bkt-pg+bucketBytes)&(indexPageSize-1)
}

func (x *index) fp(sl slot) uint32 {
	return binary.LittleEndian.Uint32(x.data[sl.bkt+fpsOff+4*sl.i:])
}

// off returns the offset held by the slot: the entry's position in units of 4 bytes, plus one.
func (x *index) off(sl slot) uint32 {
	return binary.LittleEndian.Uint32(x.data[sl.bkt+offsOff+4*sl.i:])
}

// pos returns the position of the slot's entry in the pool's data.
func (x *index) pos(sl slot) int { return int(x.off(sl)-1) << entryAlignBits }

func (x *index) setOff(sl slot, off uint32) {
	binary.LittleEndian.PutUint32(x.data[sl.bkt+offsOff+4*sl.i:], off)
}

func (x *index) setSlot(sl slot, fp, off uint32) {
	binary.LittleEndian.PutUint32(x.data[sl.bkt+fpsOff+4*sl.i:], fp)
	x.setOff(sl, off)
}

// match returns a bit per slot of the bucket at bkt that holds fingerprint fp. Slots are
// compared one by one: seven compares of a word already in cache cost less than the miss that
// brought it.
func (x *index) match(bkt int, fp uint32) uint32 {
	b := x.data[bkt : bkt+bucketBytes : bkt+bucketBytes]
	m := uint32(0)
	for i := range bucketSlots {
		if binary.LittleEndian.Uint32(b[fpsOff+4*i:]) == fp && binary.LittleEndian.Uint32(b[offsOff+4*i:]) != 0 {
			m |= 1 << i
		}
	}
	return m
}

// empty returns a bit per empty slot of the bucket at bkt.
func (x *index) empty(bkt int) uint32 {
	b := x.data[bkt : bkt+bucketBytes : bkt+bucketBytes]
	m := uint32(0)
	for i := range bucketSlots {
		if binary.LittleEndian.Uint32(b[offsOff+4*i:]) == 0 {
			m |= 1 << i
		}
	}
	return m
}

func (x *index) meta(bkt int) *uint32 { return x.word(x.data, bkt+metaOff) }

func (x *index) overflow(bkt int) uint32 {
	return atomic.LoadUint32(x.meta(bkt)) >> overflowShift & overflowMax
}

// addOverflow adds d (+1 or -1) to the bucket's overflow count, which sticks at overflowMax.
// Write lock held; the compare-and-swap is for readers setting accessed bits meanwhile.
func (x *index) addOverflow(bkt int, d int) {
	p := x.meta(bkt)
	for {
		m := atomic.LoadUint32(p)
		c := m >> overflowShift & overflowMax
		if c == overflowMax {
			return
		}
		c = uint32(int(c) + d)
		if atomic.CompareAndSwapUint32(p, m, m&^(overflowMax<<overflowShift)|c<<overflowShift) {
			return
		}
	}
}

func (x *index) accessed(sl slot) bool {
	return atomic.LoadUint32(x.meta(sl.bkt))&(1<<sl.i) != 0
}

// freq is the slot's frequency, 0 to maxFreq: how many of the reads of its entry since it was
// written, or since the clock last passed it, its bits recorded.
func (x *index) freq(sl slot) int {
	m := atomic.LoadUint32(x.meta(sl.bkt))
	return int(m>>sl.i&1 + m>>(againShift+sl.i)&1)
}

// markAccessed counts a read of the slot's entry: it sets the accessed bit, or the
// accessed-again bit if that one is set already. It needs no lock; the load first keeps a hot
// entry's cache line clean once both bits are set. Two readers racing may both set the first
// bit where the second was due: a read may go uncounted, but no bit set is ever lost.
func (x *index) markAccessed(sl slot) {
	p := x.meta(sl.bkt)
	m := atomic.LoadUint32(p)
	switch {
	case m&(1<<sl.i) == 0:
		atomic.OrUint32(p, 1<<sl.i)
	case m&(1<<(againShift+sl.i)) == 0:
		atomic.OrUint32(p, 1<<(againShift+sl.i))
	}
}

// freqBits are the slot's two frequency bits in a meta word.
func freqBits(i int) uint32 { return 1<<i | 1<<(againShift+i) }

// clearAccessed sets the slot's frequency to 0; bits already clear cost no write. Write lock
// held; the atomic AND keeps the bits readers set meanwhile on other slots.
func (x *index) clearAccessed(sl slot) {
	p := x.meta(sl.bkt)
	if atomic.LoadUint32(p)&freqBits(sl.i) != 0 {
		atomic.AndUint32(p, ^freqBits(sl.i))
	}
}

// setFreq sets the slot's frequency to f (0 to maxFreq). Write lock held.
func (x *index) setFreq(sl slot, f int) {
	x.clearAccessed(sl)
	switch {
	case f >= 2:
		atomic.OrUint32(x.meta(sl.bkt), freqBits(sl.i))
	case f == 1:
		atomic.OrUint32(x.meta(sl.bkt), 1<<sl.i)
	}
}

// decFreq lowers the slot's frequency by one, as the clock does when it passes an entry it
// keeps: the accessed-again bit goes first. Write lock held.
func (x *index) decFreq(sl slot) {
	p := x.meta(sl.bkt)
	m := atomic.LoadUint32(p)
	switch {
	case m&(1<<(againShift+sl.i)) != 0:
		atomic.AndUint32(p, ^uint32(1<<(againShift+sl.i)))
	case m&(1<<sl.i) != 0:
		atomic.AndUint32(p, ^uint32(1<<sl.i))
	}
}

// ghosts returns a bit per ghost slot of the bucket at bkt.
func (x *index) ghosts(bkt int) uint32 {
	return atomic.LoadUint32(x.meta(bkt)) >> ghostShift & (1<<bucketSlots - 1)
}

// removeToGhost empties the slot of an entry the small queue evicts unread, as remove does,
// but keeps its fingerprint as a ghost. Write lock held.
func (x *index) removeToGhost(sl slot) {
	fp := x.fp(sl)
	x.remove(sl)
	binary.LittleEndian.PutUint32(x.data[sl.bkt+fpsOff+4*sl.i:], fp)
	atomic.OrUint32(x.meta(sl.bkt), 1<<(ghostShift+sl.i))
}

// clearGhost turns a ghost slot into a plain empty one. Write lock held.
func (x *index) clearGhost(sl slot) {
	binary.LittleEndian.PutUint32(x.data[sl.bkt+fpsOff+4*sl.i:], 0)
	x.clearAccessed(sl)
	atomic.AndUint32(x.meta(sl.bkt), ^uint32(1<<(ghostShift+sl.i)))
}

// takeGhost reports whether the buckets a probe for fp visits hold a ghost of fp, and clears
// it. Write lock held.
func (x *index) takeGhost(fp uint32) bool {
	pg, ok := x.page(fp)
	if !ok {
		return false
	}
	b := home(pg, fp)
	for range pageProbe {
		for g := x.ghosts(b); g != 0; g &= g - 1 {
			if sl := (slot{b, bits.TrailingZeros32(g)}); x.fp(sl) == fp {
				x.clearGhost(sl)
				return true
			}
		}
		if x.overflow(b) == 0 {
			break
		}
		b = nextBucket(b)
	}
	return false
}

func (x *index) localDepth(pg int) uint32 {
	return binary.LittleEndian.Uint32(x.data[pg+depthOff:])
}

func (x *index) setLocalDepth(pg int, d uint32) {
	binary.LittleEndian.PutUint32(x.data[pg+depthOff:], d)
}

// insertIn puts (fp, off) in the first empty slot of the probe window of fp's home bucket in
// the page at pg, with frequency freq, and returns where. ok is false, and nothing
// changed, when the window is full. Write lock held.
func (x *index) insertIn(pg int, fp, off uint32, freq int) (sl slot, ok bool) {
	h := home(pg, fp)
	b := h
	for range pageProbe {
		if e := x.empty(b); e != 0 {
			sl = slot{b, bits.TrailingZeros32(e)}
			if x.ghosts(b)&(1<<sl.i) != 0 {
				x.clearGhost(sl)
			}
			x.setSlot(sl, fp, off)
			x.setFreq(sl, freq)
			for y := h; y != b; y = nextBucket(y) {
				x.addOverflow(y, +1)
			}
			return sl, true
		}
		b = nextBucket(b)
	}
	return slot{}, false
}

// remove empties the slot. Write lock held.
func (x *index) remove(sl slot) {
	fp := x.fp(sl)
	x.setSlot(sl, 0, 0)
	x.clearAccessed(sl)
	pg := sl.bkt &^ (indexPageSize - 1)
	for y := home(pg, fp); y != sl.bkt; y = nextBucket(y) {
		x.addOverflow(y, -1)
	}
}

// find returns the slot that holds fp and off, probing fp's window.
func (x *index) find(fp, off uint32) (slot, bool) {
	pg, ok := x.page(fp)
	if !ok {
		return slot{}, false
	}
	b := home(pg, fp)
	for range pageProbe {
		for m := x.match(b, fp); m != 0; m &= m - 1 {
			if sl := (slot{b, bits.TrailingZeros32(m)}); x.off(sl) == off {
				return sl, true
			}
		}
		if x.overflow(b) == 0 {
			break
		}
		b = nextBucket(b)
	}
	return slot{}, false
}

// addFirstPage gives an empty index its first page, p. Write lock held.
func (x *index) addFirstPage(p uint32) {
	x.setLocalDepth(int(p)*indexPageSize, 0)
	x.setDirEntry(0, p+1)
	atomic.StoreUint32(&x.hdr.depth, 0)
	x.hdr.pages = 1
}

// canSplit reports whether splitting the page that holds fp would make room in fp's probe
// window: the page is shallower than the deepest the directory can go, and some slot of the
// window would move to the new page. Keys with equal fingerprints (a flood of equal hashes)
// therefore cost no page: they can only displace each other.
func (x *index) canSplit(fp uint32) bool {
	pg, ok := x.page(fp)
	if !ok {
		return false
	}
	d := x.localDepth(pg)
	if d >= x.maxDepth {
		return false
	}
	bit := uint32(1) << (31 - d)
	b := home(pg, fp)
	for range pageProbe {
		for i := range bucketSlots {
			if sl := (slot{b, i}); x.off(sl) != 0 && (x.fp(sl)^fp)&bit != 0 {
				return true
			}
		}
		b = nextBucket(b)
	}
	return false
}

// split moves half of the page holding fp, by the fingerprints' next bit, to page p, a zeroed
// page, doubling the directory first if need be. A slot that fits neither page after the
// split (possible only when many fingerprints share a home bucket) is handed to s, which
// frees its entry (dropOrphan); the slot is gone already. Write lock held; canSplit(fp) is true.
func (x *index) split(fp, p uint32, s *shard) {
	pg, _ := x.page(fp)
	d := x.localDepth(pg)
	depth := x.hdr.depth
	if d == depth {
		// Double the directory: entry i becomes entries 2i and 2i+1, from the top down so that
		// nothing is overwritten before it is copied.
		for i := uint32(1)<<depth - 1; ; i-- {
			e := x.dirEntry(i)
			x.setDirEntry(2*i+1, e)
			x.setDirEntry(2*i, e)
			if i == 0 {
				break
			}
		}
		depth++
		atomic.StoreUint32(&x.hdr.depth, depth)
	}
	// The new page takes the upper half of the old page's directory entries.
	prefix := dirIndex(fp, d)
	span := uint32(1) << (depth - d - 1)
	first := (2*prefix + 1) * span
	for i := range span {
		x.setDirEntry(first+i, p+1)
	}
	npg := int(p) * indexPageSize
	// Take the old page's slots out, then put each back where its fingerprint now leads.
	var old [indexPageSize]byte
	copy(old[:], x.data[pg:pg+indexPageSize])
	clear(x.data[pg : pg+indexPageSize])
	x.setLocalDepth(pg, d+1)
	x.setLocalDepth(npg, d+1)
	x.hdr.pages++
	bit := uint32(1) << (31 - d)
	for b := 0; b < indexPageSize; b += bucketBytes {
		meta := binary.LittleEndian.Uint32(old[b+metaOff:])
		for i := range bucketSlots {
			off := binary.LittleEndian.Uint32(old[b+offsOff+4*i:])
			if off == 0 {
				continue
			}
			sfp := binary.LittleEndian.Uint32(old[b+fpsOff+4*i:])
			to := pg
			if sfp&bit != 0 {
				to = npg
			}
			f := int(meta>>i&1 + meta>>(againShift+i)&1)
			if _, ok := x.insertIn(to, sfp, off, f); !ok {
				s.dropOrphan(off)
			}
		}
	}
}

// reset forgets every page and returns the directory to depth 0. Write lock held.
func (x *index) reset(shared bool) {
	atomic.StoreUint32(&x.hdr.depth, 0)
	x.hdr.pages = 0
	zeroPages(x.dir, shared)
}

// eachPage calls fn once for each page of the index, with its number. It reads only the
// directory, where each page is named by one run of equal entries, so that emptying a shard
// whose pages were never verified (persist.go) does not trust them. Write lock held.
func (x *index) eachPage(fn func(p uint32)) {
	n := uint32(1) << x.hdr.depth
	for i := uint32(0); i < n; {
		e := x.dirEntry(i)
		j := i + 1
		for j < n && x.dirEntry(j) == e {
			j++
		}
		if e != 0 {
			fn(e - 1)
		}
		i = j
	}
}
