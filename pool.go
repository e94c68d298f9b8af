package mmcache

import (
	"sync"

	"github.com/mmcache/mmcache/arena"
)

// A group is one arena of segments and the shards that draw on it, laid out in its own part of
// the mapping:
//
//	| group header | shard headers, 64 B each | directories | arena: header | records | segments |
//	\___________________ page-rounded ______________________/
//
// Every shard of the group takes segments for its entries, and 4 KiB pages for its index, from
// the one pool, so no shard sits on room another needs while the pool has some: a cache
// evicts only once the pool is empty, whatever the entry sizes and however the keys fall among
// the shards. A cache has one group unless its data exceeds what 32-bit offsets in units of 4
// bytes address (16 GiB); then it has several, each with its share of the shards.
//
// The pool's lock, mu, is the innermost lock: it is taken under a shard's write lock, never
// the other way round, and held only for a few list operations.
type group struct {
	mu     sync.Mutex
	ar     *arena.Arena
	data   []byte       // ar.Data(); points into the mapping
	hdr    *groupHeader // points into the mapping
	shards []shard      // the group's shards, a part of engine.shards
	pages  uint32       // index pages per segment
}

// groupHeader is the page pool's state, in the mapping. Index pages are cut from segments that
// the pool hands out with arena.Take; a page freed by a shard's Reset goes on a free list
// linked through the pages' first word, and once every page cut is free again the segments go
// back to the pool.
type groupHeader struct {
	freePage  uint32 // the first free page's number plus one; 0: none
	carveNext uint32 // next page to cut from the segment being cut
	carveEnd  uint32 // end of that segment's pages
	pagesOut  uint32 // pages held by the shards' indexes
}

// grab appends a free segment to q. Shard's write lock held.
func (g *group) grab(q *arena.Queue) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.ar.Grab(q)
	return ok
}

// release frees segment id of q, queued or retired. Shard's write lock held.
func (g *group) release(q *arena.Queue, id arena.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ar.Release(q, id)
}

// resetQueue frees q's segments, or retires those a View callback reads. Shard's write lock
// held.
func (g *group) resetQueue(q *arena.Queue) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ar.ResetQueue(q)
}

// fairShare is the number of segments each shard would hold if the group's segments that do
// not hold index pages were spread evenly.
func (g *group) fairShare() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return (g.ar.Len() - g.ar.Held()) / len(g.shards)
}

// takePage returns the number of a zeroed page for an index, or false when the pool has none.
// Shard's write lock held.
func (g *group) takePage() (uint32, bool) {
	p, ok := g.takePageLocked()
	if ok {
		clear(g.data[int(p)*indexPageSize : int(p+1)*indexPageSize])
	}
	return p, ok
}

func (g *group) takePageLocked() (uint32, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.hdr
	switch {
	case h.freePage != 0:
		p := h.freePage - 1
		h.freePage = *(*uint32)(wordAt(g.data, int(p)*indexPageSize))
		h.pagesOut++
		return p, true
	case h.carveNext < h.carveEnd:
	default:
		id, ok := g.ar.Take()
		if !ok {
			return 0, false
		}
		h.carveNext = uint32(id) * g.pages
		h.carveEnd = h.carveNext + g.pages
	}
	p := h.carveNext
	h.carveNext++
	h.pagesOut++
	return p, true
}

// freePages puts the pages an index held back on the free list, and gives the pool back the
// segments they were cut from once no index holds any page, if readersIdle. A lock-free reader
// sets an accessed bit in a page after it validated its read, so one that began before the
// Reset may still write into a freed page: harmless while the page stays a page (bits land in
// bucket meta words, never in the free list's link, and a page is cleared when taken again),
// not once its segment holds entries. readersIdle says that no reader owned a slot when the
// pages were freed, so no such write can come. Shard's write lock held.
func (g *group) freePages(pages []uint32, readersIdle bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.hdr
	for _, p := range pages {
		*(*uint32)(wordAt(g.data, int(p)*indexPageSize)) = h.freePage
		h.freePage = p + 1
		h.pagesOut--
	}
	if h.pagesOut != 0 || g.ar.Held() == 0 || !readersIdle {
		return
	}
	for id := range g.ar.Len() {
		if g.ar.IsHeld(arena.ID(id)) {
			g.ar.ReleaseHeld(arena.ID(id))
		}
	}
	*h = groupHeader{}
}

// rebuildPages remakes the page pool of a group recovered from a file whose process died
// (persist.go), from the pages its shards' indexes name: every other page of the segments that
// hold pages (held) goes on the free list, and none is left to cut. Every shard of the group
// locked, or not yet in use.
func (g *group) rebuildPages(held []bool) {
	out := make([]bool, len(g.data)/indexPageSize)
	h := groupHeader{}
	for i := range g.shards {
		g.shards[i].idx.eachPage(func(p uint32) { out[p] = true })
	}
	for id := len(held) - 1; id >= 0; id-- {
		if !held[id] {
			continue
		}
		first := uint32(id) * g.pages
		if h.carveEnd == 0 {
			h.carveNext, h.carveEnd = first+g.pages, first+g.pages // the last segment, all cut
		}
		for p := first + g.pages; p > first; {
			p--
			if out[p] {
				h.pagesOut++
			} else {
				*(*uint32)(wordAt(g.data, int(p)*indexPageSize)) = h.freePage
				h.freePage = p + 1
			}
		}
	}
	*g.hdr = h
}
