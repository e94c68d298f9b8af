package mmcache

import (
	"cmp"
	"iter"
	"runtime"
	"slices"
)

// Iteration walks each shard's index in the order of its fingerprints (the high 32 bits of
// the keys' hashes), a batch at a time. For each batch it takes the shard's read lock, copies
// into a buffer of its own the live entries of one index page whose fingerprints are at or past
// a cursor, as many as fit, releases the lock, and yields them; the cursor then moves past the
// last fingerprint copied. An entry keeps its fingerprint for as long as it lives, and the page
// that holds a fingerprint is found afresh for each batch, so splits and moves between batches
// change nothing: an entry live for the whole loop is copied exactly once, when the cursor
// passes its fingerprint. Entries with equal fingerprints are copied in the same batch.
//
// Nothing is held while the loop body runs: it may call any method. Readers never wait for an
// iteration, which takes only read locks; a writer of the shard waits at most for one batch.

// iterBatchBytes is the buffer a batch fills, unless a single fingerprint's entries need more.
const iterBatchBytes = 64 << 10

// All returns an iterator over the cache's live entries, as key-value pairs, for a range loop.
// It is weakly consistent, like sync.Map.Range: every entry live for the whole loop is yielded
// exactly once, an entry added, changed or removed during the loop may be yielded or not (with
// its value from some moment of the loop), and nothing expired, deleted before the loop, or
// half-written is ever yielded. No lock is held while the loop body runs, so it may call any
// method of the cache; once the cache is closed the loop ends.
//
// NOTE: key and value are valid only until the loop's next step: copy what you keep. They
// are copies, not the cache's memory, and may be changed by the body.
//
// The order is unspecified. Iterating allocates a fixed buffer, not per entry, and does not
// count as a use of the entries (nor in [Stats]).
func (c *Cache) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(key, value []byte) bool) {
		c.iterate(true, func(k, v []byte, _ int64) bool { return yield(k, v) })
	}
}

// Keys returns an iterator over the keys of the cache's live entries, with the consistency of
// [Cache.All]. A key is valid only until the loop's next step.
func (c *Cache) Keys() iter.Seq[[]byte] {
	return func(yield func(key []byte) bool) {
		c.iterate(false, func(k, _ []byte, _ int64) bool { return yield(k) })
	}
}

// iterator is the state of one loop: the batch copied out of the mapping, and scratch space.
type iterator struct {
	buf   []byte    // keys and values, back to back
	recs  []iterRec // the batch's entries, in buf's order
	cands []iterCand
	// touched keeps the loads of copyBatch's prefetching loop from being optimised away.
	touched byte
}

type iterRec struct {
	keyLen, valLen int
	expire         int64 // 0: never
}

// iterCand is a live entry of the page being copied: its fingerprint, size and position.
type iterCand struct {
	fp   uint32
	size int
	pos  int
}

// iterate runs the loop of All and Keys (with values false, v is empty) and of Save: yield gets
// each entry's key, value and expiry on the cache's clock (0: never).
func (c *Cache) iterate(values bool, yield func(k, v []byte, expire int64) bool) {
	e := c.engine()
	it := newIterator()
	defer runtime.KeepAlive(c)
	for i := range e.shards {
		if !e.iterateShard(&e.shards[i], it, values, yield) {
			return
		}
	}
}

func newIterator() *iterator {
	return &iterator{
		buf:   make([]byte, 0, iterBatchBytes),
		recs:  make([]iterRec, 0, pageBuckets*bucketSlots),
		cands: make([]iterCand, 0, pageBuckets*bucketSlots),
	}
}

// iterateShard is iterate over shard s alone, with it as its buffers. It returns false if the
// loop is to end: yield returned false, or the cache is closed.
func (e *engine) iterateShard(s *shard, it *iterator, values bool, yield func(k, v []byte, expire int64) bool) bool {
	for cursor := uint64(0); cursor <= 1<<32-1; {
		next, open := s.copyBatch(it, uint32(cursor), values)
		if !open {
			return false
		}
		start := 0
		for _, r := range it.recs {
			k := it.buf[start : start+r.keyLen : start+r.keyLen]
			v := it.buf[start+r.keyLen : start+r.keyLen+r.valLen : start+r.keyLen+r.valLen]
			start += r.keyLen + r.valLen
			if e.closing.Load() {
				return false
			}
			if r.expire != 0 && r.expire <= e.now() {
				continue // it expired since it was copied
			}
			if !yield(k, v, r.expire) {
				return false
			}
		}
		cursor = next
	}
	return true
}

// copyBatch copies into it the live entries of the index page that holds fingerprint from
// whose fingerprints are at or past from, all of them if they fit in iterBatchBytes, or else
// those of the lowest fingerprints that do (at least those of one fingerprint), and returns
// the fingerprint to go on from: past the page, or the first one not copied; 1<<32 at the end.
// open is false once the shard is closed.
func (s *shard) copyBatch(it *iterator, from uint32, values bool) (next uint64, open bool) {
	s.ready()
	s.mu.RLock()
	defer s.mu.RUnlock()
	mayPanic(pointReadLocked)
	it.buf, it.recs, it.cands = it.buf[:0], it.recs[:0], it.cands[:0]
	if s.closed {
		return 0, false
	}
	pg, ok := s.idx.page(from)
	if !ok {
		return 1 << 32, true // an empty index
	}
	// The page holds exactly the fingerprints that share its top d bits with from.
	d := s.idx.localDepth(pg)
	next = (uint64(from)>>(32-d) + 1) << (32 - d)
	now, total := s.e.now(), 0
	// First the positions, from the index page alone; then the entries' first bytes, in a loop
	// of independent loads that the processor overlaps, so that the entries, scattered over the
	// shard's segments, cost about one memory latency for the page instead of one each.
	for b := pg; b < pg+indexPageSize; b += bucketBytes {
		for i := range bucketSlots {
			sl := slot{b, i}
			if off := s.idx.off(sl); off != 0 && s.idx.fp(sl) >= from {
				it.cands = append(it.cands, iterCand{s.idx.fp(sl), 0, int(off-1) << entryAlignBits})
			}
		}
	}
	touched := byte(0)
	for _, cd := range it.cands {
		touched |= s.data[cd.pos]
	}
	it.touched = touched
	live := it.cands[:0]
	for _, cd := range it.cands {
		en := readEntry(s.data[cd.pos:])
		if en.expired(now) {
			continue
		}
		cd.size = en.keyLen
		if values {
			cd.size += en.valLen
		}
		live = append(live, cd)
		total += cd.size
	}
	it.cands = live
	if total > iterBatchBytes {
		// Too much for one batch: the lowest fingerprints first, those of the last one taken
		// all together, so that the cursor can move past it.
		slices.SortFunc(it.cands, func(a, b iterCand) int { return cmp.Compare(a.fp, b.fp) })
		n, bytes := 0, 0
		for n < len(it.cands) {
			fp, group := it.cands[n].fp, 0
			for m := n; m < len(it.cands) && it.cands[m].fp == fp; m++ {
				group += it.cands[m].size
			}
			if n > 0 && bytes+group > iterBatchBytes {
				next = uint64(fp)
				break
			}
			for ; n < len(it.cands) && it.cands[n].fp == fp; n++ {
			}
			bytes += group
		}
		it.cands = it.cands[:n]
	}
	for _, cd := range it.cands {
		en := readEntry(s.data[cd.pos:])
		it.buf = append(it.buf, s.key(cd.pos, &en)...)
		vl := 0
		if values {
			it.buf = append(it.buf, s.value(cd.pos, &en)...)
			vl = en.valLen
		}
		exp := int64(0)
		if en.flags&flagTTL != 0 {
			exp = en.expire
		}
		it.recs = append(it.recs, iterRec{en.keyLen, vl, exp})
	}
	return next, true
}
