package mmcache

import (
	"fmt"
	"sync/atomic"

	"github.com/mmcache/mmcache/arena"
)

// checkLocked verifies every invariant that ties the shard's index to its segments, and
// returns the first one broken. Tests call it after operations, and so does every operation in
// a build with the mmcache_debug tag, and so does a cache that reattaches a file (persist.go),
// before it trusts a shard. It walks the whole shard. Write lock held.
//
//   - the shard's queue is well formed (arena.CheckQueue);
//   - the directory's depth is within its reservation, and each page is named by exactly the
//     aligned run of 2^(depth-d) entries its local depth d calls for, lies in a segment held
//     for pages, and is counted in the index header;
//   - every slot holds the fingerprint of the key of a live entry in one of the shard's
//     segments, below its Used; the fingerprint's top d bits lead to the slot's page, and a
//     probe from its home bucket reaches it;
//   - every bucket's overflow count equals the number of slots that probing passed it to reach
//     (a count stuck at the maximum may exceed that);
//   - every live entry has exactly one slot; each segment's Live is the sum of its live entries'
//     sizes; entries and liveBytes match the index.
//
// The first two are checkStructureLocked, which reads no slot and no entry; the rest is
// checkContentsLocked. Neither reads outside the mapping, whatever its bytes: every offset is
// checked before use, and slices bound the rest (a crafted mapping can make them panic, which a
// caller that must not trust the mapping recovers).
func (s *shard) checkLocked() error {
	if err := s.checkStructureLocked(); err != nil {
		return err
	}
	return s.checkContentsLocked()
}

// checkStructureLocked verifies the shard's queues and the directory of its index: what
// resetLocked and eachPage walk. Write lock held.
func (s *shard) checkStructureLocked() error {
	for _, q := range s.queues() {
		if err := s.ar.CheckQueue(q); err != nil {
			return err
		}
	}
	if s.sq.Retired() != 0 {
		return fmt.Errorf("the small queue has %d retired segments; only the main queue retires", s.sq.Retired())
	}
	x := &s.idx
	depth := atomic.LoadUint32(&x.hdr.depth)
	if depth > x.maxDepth {
		return fmt.Errorf("directory depth %d is beyond its reservation of %d", depth, x.maxDepth)
	}
	pages := make([]bool, x.npages)
	npages := 0
	// The directory alone: each page named by one aligned run of equal entries, as long as a
	// power of two. The pages' own local depths are checkContentsLocked's: reading them would
	// touch every page of the index, which a reattached cache defers.
	for i := uint32(0); i < 1<<depth; {
		e := x.dirEntry(i)
		j := i + 1
		for j < 1<<depth && x.dirEntry(j) == e {
			j++
		}
		if e == 0 {
			if x.hdr.pages != 0 || depth != 0 {
				return fmt.Errorf("directory entry %d names no page", i)
			}
			break
		}
		if e > x.npages {
			return fmt.Errorf("directory entry %d names page %d of %d", i, e-1, x.npages)
		}
		p, span := e-1, j-i
		if span&(span-1) != 0 || i%span != 0 {
			return fmt.Errorf("page %d is named by a run of %d directory entries from %d: not an aligned power of two", p, span, i)
		}
		if pages[p] {
			return fmt.Errorf("page %d is named by two runs of the directory", p)
		}
		pages[p] = true
		npages++
		if seg := s.segOf(int(p) * indexPageSize); !s.ar.IsHeld(seg) {
			return fmt.Errorf("page %d lies in segment %d, which is not held for pages", p, seg)
		}
		i = j
	}
	if npages != int(x.hdr.pages) {
		return fmt.Errorf("the directory names %d pages, the index header says %d", npages, x.hdr.pages)
	}
	return nil
}

// checkContentsLocked verifies the shard's slots and entries, once checkStructureLocked has
// passed, and its counters against them. Write lock held.
func (s *shard) checkContentsLocked() error {
	entries, liveBytes, err := s.countContentsLocked()
	if err == nil && (entries != s.entries || liveBytes != s.liveBytes) {
		err = fmt.Errorf("index holds %d entries of %d bytes, counters say %d and %d", entries, liveBytes, s.entries, s.liveBytes)
	}
	return err
}

// countContentsLocked is checkContentsLocked but for the counters: it returns the entries it
// found and their bytes. Write lock held.
func (s *shard) countContentsLocked() (entries, liveBytes int, err error) {
	// The shard's segments, and a bit for each place an entry may start in them (entries are
	// entryAlign-aligned): set for the entries slots point at.
	owned := make([]int32, s.ar.Len()) // a segment's place in marks, plus one; 0: not the shard's
	nowned := 0
	for _, q := range s.queues() {
		for id := q.Head(); id != arena.None; id = s.ar.Next(id) {
			nowned++
			owned[id] = int32(nowned)
		}
	}
	perSeg := (s.segSize/entryAlign + 63) / 64
	marks := make([]uint64, nowned*perSeg)
	mark := func(pos int) (seen bool) {
		seg := pos / s.segSize
		i := int(owned[seg]-1)*perSeg*64 + (pos-seg*s.segSize)/entryAlign
		seen = marks[i/64]&(1<<(i%64)) != 0
		marks[i/64] |= 1 << (i % 64)
		return seen
	}
	x := &s.idx
	depth := x.hdr.depth
	for i := uint32(0); i < 1<<depth; {
		e := x.dirEntry(i)
		j := i + 1
		for j < 1<<depth && x.dirEntry(j) == e {
			j++
		}
		span := j - i
		i = j
		if e == 0 {
			continue
		}
		p := e - 1
		pg := int(p) * indexPageSize
		if d := x.localDepth(pg); depth < d || span != 1<<(depth-d) {
			return 0, 0, fmt.Errorf("page %d has local depth %d, and a run of %d directory entries of depth %d", p, d, span, depth)
		}
		var overflow [pageBuckets]int
		for b := pg; b < pg+indexPageSize; b += bucketBytes {
			for k := range bucketSlots {
				sl := slot{b, k}
				off := x.off(sl)
				fp := x.fp(sl)
				if x.ghosts(b)&(1<<k) != 0 {
					if off != 0 {
						return 0, 0, fmt.Errorf("slot %d/%d names an entry and is a ghost", b, k)
					}
					continue
				}
				if off == 0 {
					continue
				}
				if x.dirEntry(dirIndex(fp, depth)) != p+1 {
					return 0, 0, fmt.Errorf("slot %d/%d: fingerprint %#x does not lead to page %d", b, k, fp, p)
				}
				// Compared as unsigned first: on 32-bit platforms a crafted offset would make
				// a negative int.
				if uint64(off-1)<<entryAlignBits >= uint64(len(s.data)) {
					return 0, 0, fmt.Errorf("slot %d/%d points at offset %d, past the data", b, k, uint64(off-1)<<entryAlignBits)
				}
				pos := int(off-1) << entryAlignBits
				seg := pos / s.segSize
				if owned[seg] == 0 {
					return 0, 0, fmt.Errorf("slot %d/%d points at offset %d, not in the shard's segments", b, k, pos)
				}
				used := int(s.ar.Seg(arena.ID(seg)).Used)
				en, ok := peekEntry(s.data[seg*s.segSize:seg*s.segSize+used], pos-seg*s.segSize)
				if !ok {
					return 0, 0, fmt.Errorf("slot %d/%d points past the used part of segment %d, or at a broken header", b, k, seg)
				}
				if en.flags&flagDead != 0 {
					return 0, 0, fmt.Errorf("slot %d/%d points at a dead entry", b, k)
				}
				if want := fingerprint(s.e.hash(s.key(pos, &en))); want != fp {
					return 0, 0, fmt.Errorf("slot %d/%d: fingerprint %#x, the key's is %#x", b, k, fp, want)
				}
				if found, ok := x.find(fp, off); !ok || found != sl {
					return 0, 0, fmt.Errorf("slot %d/%d is not reached by probing from its home bucket", b, k)
				}
				for y := home(pg, fp); y != b; y = nextBucket(y) {
					overflow[(y-pg)/bucketBytes]++
				}
				if mark(pos) {
					return 0, 0, fmt.Errorf("two slots point at offset %d", pos)
				}
				entries++
				liveBytes += en.keyLen + en.valLen
			}
		}
		for b, want := range overflow {
			if got := int(x.overflow(pg + b*bucketBytes)); got != want && got != overflowMax {
				return 0, 0, fmt.Errorf("page %d bucket %d: overflow count %d, want %d", p, b, got, want)
			}
		}
	}
	for _, q := range s.queues() {
		for id := q.Head(); id != arena.None; id = s.ar.Next(id) {
			r := s.ar.Seg(id)
			base, live := int(id)*s.segSize, 0
			seg := s.data[base : base+int(r.Used)]
			for p := 0; p < len(seg); {
				en, ok := peekEntry(seg, p)
				if !ok {
					return 0, 0, fmt.Errorf("segment %d: broken entry header at %d", id, p)
				}
				if en.flags&flagDead == 0 {
					i := int(owned[id]-1)*perSeg*64 + p/entryAlign
					if marks[i/64]&(1<<(i%64)) == 0 {
						return 0, 0, fmt.Errorf("live entry at %d of segment %d has no slot", p, id)
					}
					live += en.size()
				}
				p += en.size()
			}
			if live != int(r.Live) {
				return 0, 0, fmt.Errorf("segment %d: live bytes %d, record says %d", id, live, r.Live)
			}
		}
	}
	return entries, liveBytes, nil
}

// checkPool verifies the group's arena as a whole (arena.Check) and its page pool: the pages
// the indexes hold and the free pages add up to what was cut. Every shard of the group locked.
func (g *group) checkPool() error {
	queues := make([]*arena.Queue, 0, 2*len(g.shards))
	held := 0
	for i := range g.shards {
		queues = append(queues, g.shards[i].q, g.shards[i].sq)
		held += int(g.shards[i].idx.hdr.pages)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.ar.Check(queues...); err != nil {
		return err
	}
	if held != int(g.hdr.pagesOut) {
		return fmt.Errorf("indexes hold %d pages, the pool says %d are out", held, g.hdr.pagesOut)
	}
	free := 0
	for p := g.hdr.freePage; p != 0; p = *(*uint32)(wordAt(g.data, int(p-1)*indexPageSize)) {
		if free++; free > len(g.data)/indexPageSize {
			return fmt.Errorf("the free page list loops")
		}
	}
	cut := int(g.hdr.carveNext) - (int(g.hdr.carveEnd) - int(g.pages))
	if g.hdr.carveEnd == 0 {
		cut = 0
	}
	if want := (g.ar.Held()-1)*int(g.pages) + cut; g.ar.Held() > 0 && held+free != want {
		return fmt.Errorf("%d pages out and %d free, but %d were cut from %d segments", held, free, want, g.ar.Held())
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
