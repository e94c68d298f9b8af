package mmcache

import (
	"fmt"

	"github.com/mmcache/mmcache/arena"
)

// checkLocked verifies every invariant that ties the shard's index to its segments, and
// returns the first one broken. Tests call it after operations, and so does every operation in
// a build with the mmcache_debug tag. It is slow: it walks the whole shard. Write lock held.
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
func (s *shard) checkLocked() error {
	owned := make(map[arena.ID]bool)
	for _, q := range s.queues() {
		if err := s.ar.CheckQueue(q); err != nil {
			return err
		}
		for id := q.Head(); id != arena.None; id = s.ar.Next(id) {
			owned[id] = true
		}
	}
	if s.sq.Retired() != 0 {
		return fmt.Errorf("the small queue has %d retired segments; only the main queue retires", s.sq.Retired())
	}
	x := &s.idx
	depth := x.hdr.depth
	if depth > x.maxDepth {
		return fmt.Errorf("directory depth %d is beyond its reservation of %d", depth, x.maxDepth)
	}
	slots := make(map[int]bool)
	pages := make(map[uint32]bool)
	liveBytes := 0
	for i := uint32(0); i < 1<<depth; {
		e := x.dirEntry(i)
		if e == 0 {
			if x.hdr.pages != 0 || depth != 0 {
				return fmt.Errorf("directory entry %d names no page", i)
			}
			break
		}
		if e > x.npages {
			return fmt.Errorf("directory entry %d names page %d of %d", i, e-1, x.npages)
		}
		p := e - 1
		pg := int(p) * indexPageSize
		d := x.localDepth(pg)
		span := uint32(1) << (depth - min(d, depth))
		if d > depth || i%span != 0 {
			return fmt.Errorf("page %d of local depth %d at directory entry %d of depth %d", p, d, i, depth)
		}
		for j := range span {
			if x.dirEntry(i+j) != e {
				return fmt.Errorf("directory entry %d names page %d, not page %d as its run does", i+j, x.dirEntry(i+j)-1, p)
			}
		}
		if pages[p] {
			return fmt.Errorf("page %d is named by two runs of the directory", p)
		}
		pages[p] = true
		if seg := s.segOf(pg); !s.ar.IsHeld(seg) {
			return fmt.Errorf("page %d lies in segment %d, which is not held for pages", p, seg)
		}
		var overflow [pageBuckets]int
		for b := pg; b < pg+indexPageSize; b += bucketBytes {
			for k := range bucketSlots {
				sl := slot{b, k}
				off := x.off(sl)
				fp := x.fp(sl)
				if x.ghosts(b)&(1<<k) != 0 {
					if off != 0 {
						return fmt.Errorf("slot %d/%d names an entry and is a ghost", b, k)
					}
					continue
				}
				if off == 0 {
					continue
				}
				if dirIndex(fp, d) != i>>(depth-d) {
					return fmt.Errorf("slot %d/%d: fingerprint %#x does not lead to page %d", b, k, fp, p)
				}
				pos := x.pos(sl)
				seg := s.segOf(pos)
				if int(seg) >= s.ar.Len() || !owned[seg] {
					return fmt.Errorf("slot %d/%d points at segment %d, which is not the shard's", b, k, seg)
				}
				if pos-int(seg)*s.segSize >= int(s.ar.Seg(seg).Used) {
					return fmt.Errorf("slot %d/%d points past the used part of segment %d", b, k, seg)
				}
				en := readEntry(s.data[pos:])
				if en.flags&flagDead != 0 {
					return fmt.Errorf("slot %d/%d points at a dead entry", b, k)
				}
				if want := fingerprint(s.e.hash(s.key(pos, &en))); want != fp {
					return fmt.Errorf("slot %d/%d: fingerprint %#x, the key's is %#x", b, k, fp, want)
				}
				if found, ok := x.find(fp, off); !ok || found != sl {
					return fmt.Errorf("slot %d/%d is not reached by probing from its home bucket", b, k)
				}
				for y := home(pg, fp); y != b; y = nextBucket(y) {
					overflow[(y-pg)/bucketBytes]++
				}
				if slots[pos] {
					return fmt.Errorf("two slots point at offset %d", pos)
				}
				slots[pos] = true
				liveBytes += en.keyLen + en.valLen
			}
		}
		for b, want := range overflow {
			if got := int(x.overflow(pg + b*bucketBytes)); got != want && got != overflowMax {
				return fmt.Errorf("page %d bucket %d: overflow count %d, want %d", p, b, got, want)
			}
		}
		i += span
	}
	if len(pages) != int(x.hdr.pages) {
		return fmt.Errorf("the directory names %d pages, the index header says %d", len(pages), x.hdr.pages)
	}
	if len(slots) != s.entries || liveBytes != s.liveBytes {
		return fmt.Errorf("index holds %d entries of %d bytes, counters say %d and %d", len(slots), liveBytes, s.entries, s.liveBytes)
	}
	for id := range owned {
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
