package mmcache

import (
	"fmt"

	"github.com/mmcache/mmcache/arena"
)

// checkLocked verifies every invariant that ties the shard's table to its arena, and returns
// the first one broken. Tests call it after operations, and so does every operation in a build
// with the mmcache_debug tag. It is slow: it walks the whole shard. Write lock held.
//
//   - the arena's queue and free list are well formed (arena.Check);
//   - every slot points at a live entry in a queued or retired segment, below its Used, whose
//     hash gives the slot's tag, and which a probe from its home bucket reaches;
//   - every bucket's overflow count equals the number of slots that probing passed it to reach
//     (a count stuck at the maximum may exceed that);
//   - every live entry has exactly one slot; each segment's Live is the sum of its live entries'
//     sizes; entries and liveBytes match the table.
func (s *shard) checkLocked() error {
	if err := s.ar.Check(); err != nil {
		return err
	}
	overflow := make([]int, s.tbl.n)
	slots := make(map[int]bool)
	liveBytes := 0
	for b := range s.tbl.n {
		for i := range slotsPerBucket {
			tag := s.tbl.tag(b, i)
			if tag == 0 {
				continue
			}
			pos := int(s.tbl.off(b, i)) << entryAlignBits
			seg := s.segOf(pos)
			if int(seg) >= s.ar.Len() || (!s.ar.IsQueued(seg) && !s.ar.IsRetired(seg)) {
				return fmt.Errorf("slot %d/%d points at segment %d, which holds no entries", b, i, seg)
			}
			if pos-int(seg)*s.segSize >= int(s.ar.Seg(seg).Used) {
				return fmt.Errorf("slot %d/%d points past the used part of segment %d", b, i, seg)
			}
			en := readEntry(s.data[pos:])
			if en.flags&flagDead != 0 {
				return fmt.Errorf("slot %d/%d points at a dead entry", b, i)
			}
			h := s.e.hash(s.key(pos, &en))
			if tagOf(h) != tag {
				return fmt.Errorf("slot %d/%d: tag %#x, the key's is %#x", b, i, tag, tagOf(h))
			}
			home := s.tbl.home(h)
			if fb, fi, ok := s.tbl.findOff(home, tag, uint32(pos>>entryAlignBits)); !ok || fb != b || fi != i {
				return fmt.Errorf("slot %d/%d is not reached by probing from its home %d", b, i, home)
			}
			for x := home; x != b; x = s.tbl.next(x) {
				overflow[x]++
			}
			if slots[pos] {
				return fmt.Errorf("two slots point at offset %d", pos)
			}
			slots[pos] = true
			liveBytes += en.keyLen + en.valLen
		}
	}
	for b, want := range overflow {
		if got := int(s.tbl.overflow(uint32(b))); got != want && got != overflowMax {
			return fmt.Errorf("bucket %d: overflow count %d, want %d", b, got, want)
		}
	}
	if len(slots) != s.entries || liveBytes != s.liveBytes {
		return fmt.Errorf("table holds %d entries of %d bytes, counters say %d and %d", len(slots), liveBytes, s.entries, s.liveBytes)
	}
	for id := s.ar.Head(); id != arena.None; id = s.ar.Next(id) {
		r := s.ar.Seg(id)
		base, live := int(id)*s.segSize, 0
		for p := 0; p < int(r.Used); {
			en := readEntry(s.data[base+p:])
			if en.flags&flagDead == 0 {
				if !slots[base+p] {
					return fmt.Errorf("live entry at %d of segment %d has no slot", p, id)
				}
				live += en.size()
			}
			p += en.size()
		}
		if live != int(r.Live) {
			return fmt.Errorf("segment %d: live bytes %d, record says %d", id, live, r.Live)
		}
	}
	return nil
}

// debugCheckLocked panics on a broken invariant in a build with the mmcache_debug tag, and
// compiles to nothing otherwise. Write lock held.
func (s *shard) debugCheckLocked() {
	if debug {
		if err := s.checkLocked(); err != nil {
			broken(err.Error())
		}
	}
}
