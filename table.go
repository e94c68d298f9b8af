package mmcache

// The table maps a key's hash to the offset of its entry in the shard's arena. It is an
// open-addressing hash table of 64-byte buckets, one cache line each, stored in the mapping:
//
//	bucket: | tags [12]u8 | offsets [12]u32 | meta u32 |
//	         0            12                60     64
//	meta:   bits 0-11 accessed (one per slot), bits 16-23 overflow count
//
// A slot holds a one-byte tag (a fingerprint of the hash; 0 means empty) and the entry's offset
// in the arena in units of 8 bytes, so a shard's arena may span 32 GiB. Twelve slots of five
// bytes plus the meta word fill a cache line.
//
// Probing. A key's home bucket comes from the hash's high bits. Lookup compares the key's tag
// with all twelve tags of a bucket at once (SWAR), follows each match to the entry and compares
// the full key, so a tag or hash collision never returns another key's value. If the key is not
// in the bucket and the bucket's overflow count is zero, the key is absent; otherwise the probe
// moves to the next bucket, wrapping around at the end, for at most maxProbe buckets.
//
// Overflow counts instead of tombstones (as in folly's F14). Insert walks from the home bucket
// to the first bucket with an empty slot and increments the overflow count of every full bucket
// it passed; remove decrements the same counts. So deletion frees its slot at once and the
// table never fills with tombstones. A count that reaches 255 sticks there, which only makes
// lookups probe on.
//
// When all maxProbe buckets of a probe window are full, insert fails; the shard then evicts
// one entry of the home bucket to make room. Probe length is bounded whatever the keys, which
// is what keeps a flood of colliding keys from slowing down anyone else.
//
// Accessed bits record that a slot's entry was read since the eviction clock last passed it.
// Readers set them with an atomic OR, under the read lock or with none (readers.go); so writers
// change the meta word only with atomic read-modify-writes, and a reader's bit is never lost.
// Everything else in the table changes only under the shard's write lock.

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

const (
	slotsPerBucket = 12
	bucketSize     = 64
	tagsOff        = 0
	offsetsOff     = 12
	metaOff        = 60
	maxProbe       = 16

	accessedMask  = 1<<slotsPerBucket - 1
	overflowShift = 16
	overflowMax   = 255
)

var _ = [1]struct{}{}[offsetsOff+4*slotsPerBucket-metaOff] // offsets end where meta starts

// table is a view of buckets stored in the mapping.
type table struct {
	mem []byte // n*bucketSize bytes, 64-byte aligned; points into the mapping
	n   uint32 // bucket count, at least 1
}

// home is the first bucket a hash probes: multiply-shift maps the hash's high 32 bits onto
// [0, n) without a division, and n need not be a power of two.
func (t *table) home(h uint64) uint32 {
	return uint32((h >> 32) * uint64(t.n) >> 32)
}

func (t *table) next(b uint32) uint32 {
	b++
	if b == t.n {
		b = 0
	}
	return b
}

// probeLen is the number of buckets a probe may visit.
func (t *table) probeLen() int { return int(min(t.n, maxProbe)) }

// match returns a bit per slot of bucket b whose tag equals tag. With tag 0 it finds empty slots.
func (t *table) match(b uint32, tag uint8) uint32 {
	m := t.mem[int(b)*bucketSize:][:12]
	rep := uint64(tag) * 0x0101010101010101
	lo := zeroBytes(binary.LittleEndian.Uint64(m[0:8]) ^ rep)
	hi := zeroBytes(uint64(binary.LittleEndian.Uint32(m[8:12]))^rep) & 0x80808080
	return movemask(lo) | movemask(hi)<<8
}

// zeroBytes sets the high bit of each byte of x that is zero, and clears every other bit.
// Unlike the shorter (x-0x01..)&^x&0x80.. form, it has no false positives.
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&low7 + low7) | x | low7)
}

// movemask gathers the high bit of each byte of x (the only bits set) into the low 8 bits.
func movemask(x uint64) uint32 {
	return uint32(((x >> 7) * 0x0102040810204080) >> 56)
}

func (t *table) tag(b uint32, i int) uint8 { return t.mem[int(b)*bucketSize+tagsOff+i] }

// off returns the arena offset, in units of 8 bytes, held by slot i of bucket b.
func (t *table) off(b uint32, i int) uint32 {
	return binary.LittleEndian.Uint32(t.mem[int(b)*bucketSize+offsetsOff+4*i:])
}

func (t *table) setOff(b uint32, i int, off uint32) {
	binary.LittleEndian.PutUint32(t.mem[int(b)*bucketSize+offsetsOff+4*i:], off)
}

// meta returns the bucket's meta word, for atomic access.
func (t *table) meta(b uint32) *uint32 {
	p := &t.mem[int(b)*bucketSize+metaOff : int(b)*bucketSize+bucketSize][0]
	// The word is 4-byte aligned (buckets are 64-byte aligned) and lies inside the mapping,
	// which outlives every call that may reach here.
	return (*uint32)(unsafe.Pointer(p))
}

func (t *table) overflow(b uint32) uint32 {
	return atomic.LoadUint32(t.meta(b)) >> overflowShift & overflowMax
}

// addOverflow adds d (+1 or -1) to bucket b's overflow count, which sticks at overflowMax.
// Write lock held; the compare-and-swap is for readers setting accessed bits meanwhile.
func (t *table) addOverflow(b uint32, d int) {
	p := t.meta(b)
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

func (t *table) accessed(b uint32, i int) bool {
	return atomic.LoadUint32(t.meta(b))&(1<<i) != 0
}

// markAccessed sets slot i's accessed bit. It needs no lock; the load first keeps a hot
// entry's cache line clean once its bit is set.
func (t *table) markAccessed(b uint32, i int) {
	p := t.meta(b)
	if atomic.LoadUint32(p)&(1<<i) == 0 {
		atomic.OrUint32(p, 1<<i)
	}
}

// clearAccessed clears slot i's accessed bit; a bit already clear costs no write. Write lock
// held; the atomic AND keeps the bits readers set meanwhile on other slots.
func (t *table) clearAccessed(b uint32, i int) {
	p := t.meta(b)
	if atomic.LoadUint32(p)&(1<<i) != 0 {
		atomic.AndUint32(p, ^uint32(1<<i))
	}
}

// insert puts (tag, off) in the first empty slot within the probe window of home and returns
// where. It returns ok=false, changing nothing, when the window is full. Write lock held.
func (t *table) insert(home uint32, tag uint8, off uint32) (b uint32, i int, ok bool) {
	b = home
	for range t.probeLen() {
		if empty := t.match(b, 0); empty != 0 {
			i = bits.TrailingZeros32(empty)
			t.mem[int(b)*bucketSize+tagsOff+i] = tag
			t.setOff(b, i, off)
			t.clearAccessed(b, i)
			for x := home; x != b; x = t.next(x) {
				t.addOverflow(x, +1)
			}
			return b, i, true
		}
		b = t.next(b)
	}
	return 0, 0, false
}

// remove empties slot i of bucket b, whose entry has home bucket home. Write lock held.
func (t *table) remove(home, b uint32, i int) {
	t.mem[int(b)*bucketSize+tagsOff+i] = 0
	t.setOff(b, i, 0)
	t.clearAccessed(b, i)
	for x := home; x != b; x = t.next(x) {
		t.addOverflow(x, -1)
	}
}

// findOff returns the slot whose tag is tag and whose offset is off, probing from home.
func (t *table) findOff(home uint32, tag uint8, off uint32) (b uint32, i int, ok bool) {
	b = home
	for range t.probeLen() {
		for m := t.match(b, tag); m != 0; m &= m - 1 {
			i = bits.TrailingZeros32(m)
			if t.off(b, i) == off {
				return b, i, true
			}
		}
		if t.overflow(b) == 0 {
			break
		}
		b = t.next(b)
	}
	return 0, 0, false
}
