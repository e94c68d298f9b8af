package mmcache

import (
	"encoding/binary"
	"math"
	"strconv"
)

// An entry is written once, at a 4-byte aligned offset of a segment, and never changes after,
// except its dead flag and, when a same-sized Set overwrites it, the whole entry in place:
//
//	| flags u8 | key length u16 LE | value length uvarint (1-5 B) | expiry i64 LE (if flagTTL) | key | value | pad to 4 |
//
// A 16-byte key with a 64-byte value and no TTL takes 4+16+64 = 84 bytes, with no padding.
// Entries are aligned to 4 bytes, not 8: nothing in an entry is loaded as a word (the expiry is
// read byte-wise at an odd offset anyway), and the index stores offsets in units of the
// alignment, so 4 halves the padding of small entries for a group limit of 16 GiB.
// Expiry is in nanoseconds of the cache's clock (see engine.now).
const (
	flagDead = 1 << 0 // deleted, overwritten or evicted: its bytes wait for reclamation
	flagTTL  = 1 << 1 // an expiry follows the lengths
	// flagNever is never stored: readEntry and peekEntry set it in the header they decode
	// when an entry with room for an expiry holds 0 there, which a Touch with a TTL of 0
	// writes (ttl.go). Such an entry never expires; the decoded expiry is math.MaxInt64.
	flagNever = 1 << 7

	entryAlign     = 4
	entryAlignBits = 2
	maxHeaderSize  = 1 + 2 + binary.MaxVarintLen32 + 8
	maxKeyLen      = MaxKeySize
)

// entrySize is the footprint of an entry, padding included.
func entrySize(keyLen, valueLen int, ttl bool) int {
	n := 1 + 2 + uvarintLen(uint32(valueLen)) + keyLen + valueLen
	if ttl {
		n += 8
	}
	return (n + entryAlign - 1) &^ (entryAlign - 1)
}

func uvarintLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// putEntry writes an entry at the start of b, which has room for entrySize bytes, and returns
// its size. expire 0 means the entry never expires.
func putEntry(b []byte, key, value []byte, expire int64) int {
	flags := byte(0)
	if expire != 0 {
		flags = flagTTL
	}
	b[0] = flags
	binary.LittleEndian.PutUint16(b[1:3], uint16(len(key)))
	n := 3 + binary.PutUvarint(b[3:], uint64(len(value)))
	if expire != 0 {
		binary.LittleEndian.PutUint64(b[n:], uint64(expire))
		n += 8
	}
	n += copy(b[n:], key)
	n += copyEntryBytes(b[n:], value)
	size := (n + entryAlign - 1) &^ (entryAlign - 1)
	clear(b[n:size]) // padding; keeps the bytes of the region deterministic
	return size
}

// putExpiry writes a new expiry into the entry at the start of b, whose header en has room
// for one; 0 means it never expires.
func putExpiry(b []byte, en *entry, expire int64) {
	binary.LittleEndian.PutUint64(b[en.keyOff-8:], uint64(expire))
	en.expire = expire
	if expire == 0 {
		en.expire, en.flags = math.MaxInt64, en.flags|flagNever
	}
}

// putDead fills b, room taken in a segment and not used after all, with a dead entry of
// exactly len(b) bytes (a multiple of entryAlign, at least 4): an empty key and a value of
// zeros, so that a walk of the segment steps over it. Some value length gives that size: with
// k bytes of length, 3+k+n rounds up to len(b) for the n whose own length is k.
func putDead(b []byte) {
	for k := 1; k <= binary.MaxVarintLen32; k++ {
		n := len(b) - 3 - k
		if n >= 0 && entrySize(0, n, false) == len(b) {
			b[0] = flagDead
			binary.LittleEndian.PutUint16(b[1:3], 0)
			binary.PutUvarint(b[3:], uint64(n))
			clear(b[3+k:])
			return
		}
	}
	panic("mmcache: no dead entry has " + strconv.Itoa(len(b)) + " bytes") // unreachable: see above
}

// entry is a decoded entry header. Its offsets are relative to the entry's start.
type entry struct {
	flags  byte
	keyLen int
	valLen int
	keyOff int // where the key starts
	expire int64
}

func (e *entry) valOff() int { return e.keyOff + e.keyLen }

func (e *entry) size() int {
	return (e.keyOff + e.keyLen + e.valLen + entryAlign - 1) &^ (entryAlign - 1)
}

// expired reports whether the entry has a TTL that ran out at or before now.
func (e *entry) expired(now int64) bool { return e.flags&flagTTL != 0 && e.expire <= now }

// readEntry decodes the header of the entry starting at b[0]. The entry must have been written
// by putEntry: corrupt bytes here mean a broken invariant, and indexing panics rather than
// returning wrong data.
func readEntry(b []byte) entry {
	e := entry{
		flags:  b[0],
		keyLen: int(binary.LittleEndian.Uint16(b[1:3])),
	}
	// The common case, a value under 128 bytes, needs no loop.
	if v := b[3]; v < 0x80 {
		e.valLen, e.keyOff = int(v), 4
	} else {
		v, n := binary.Uvarint(b[3:])
		e.valLen, e.keyOff = int(v), 3+n
	}
	if e.flags&flagTTL != 0 {
		e.expire = int64(binary.LittleEndian.Uint64(b[e.keyOff:]))
		e.keyOff += 8
		if e.expire == 0 {
			e.expire, e.flags = math.MaxInt64, e.flags|flagNever
		}
	}
	return e
}

// peekEntry is readEntry for a reader that holds no lock, reading bytes a writer may be
// changing: it checks that the header lies inside data and describes an entry that fits in
// data, and reports false instead of panicking when it does not.
func peekEntry(data []byte, pos int) (entry, bool) {
	if pos < 0 || pos > len(data)-4 {
		return entry{}, false
	}
	b := data[pos:]
	e := entry{flags: b[0], keyLen: int(binary.LittleEndian.Uint16(b[1:3]))}
	if v := b[3]; v < 0x80 {
		e.valLen, e.keyOff = int(v), 4
	} else {
		v, n := binary.Uvarint(b[3:min(len(b), 3+binary.MaxVarintLen32)])
		if n <= 0 || v > uint64(len(b)) {
			return entry{}, false
		}
		e.valLen, e.keyOff = int(v), 3+n
	}
	if e.flags&flagTTL != 0 {
		if len(b)-e.keyOff < 8 {
			return entry{}, false
		}
		e.expire = int64(binary.LittleEndian.Uint64(b[e.keyOff:]))
		e.keyOff += 8
		if e.expire == 0 {
			e.expire, e.flags = math.MaxInt64, e.flags|flagNever
		}
	}
	// Each term is at most len(b), so the sum cannot overflow an int.
	if len(b)-e.keyOff < e.keyLen || len(b)-e.keyOff-e.keyLen < e.valLen {
		return entry{}, false
	}
	return e, true
}

// ntCopyMin is a size below which a copy uses only ordinary stores. Go's memmove on amd64
// switches to non-temporal stores (VMOVNTDQ) for copies of 1 MiB and more (Go 1.24 to 1.26,
// runtime/memmove_amd64.s); this is a quarter of that, in case a later release lowers it.
const ntCopyMin = 256 << 10

// copyEntryBytes copies src to dst, both in the mapping, under the shard's write lock, and
// returns the bytes copied. Lock-free readers (readers.go) rely on seeing the odd sequence a
// writer stored before anything else the writer stores. x86 keeps ordinary stores in order,
// but non-temporal stores may become visible before earlier ordinary ones: a reader could see
// part of a large copy while the sequence still reads even and unchanged, and validate a torn
// value. So a copy large enough for memmove to use them is fenced before (the odd sequence
// first) and after (the copy before the even sequence that ends the write; memmove fences
// there itself, but that is its own business). Smaller copies cost no fence. docs/design.md
// gives the argument in full.
func copyEntryBytes(dst, src []byte) int {
	if len(src) < ntCopyMin {
		return copy(dst, src)
	}
	storeFence()
	n := copy(dst, src)
	storeFence()
	return n
}
