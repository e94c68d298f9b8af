// Package arena carves a byte region, normally an anonymous memory mapping outside the Go heap,
// into equal segments shared by several owners, and keeps all of its bookkeeping inside that
// same region.
//
// # Layout
//
//	region: | header (64 B) | record 0 | record 1 | ... | record n-1 | pad | segment 0 | ... | segment n-1 |
//	                          \___ 32 B each, one per segment ___/          \__ Size() bytes each __/
//
// A segment is fresh (never handed out), free (on the free list), queued (in one owner's FIFO
// [Queue], oldest at the head, the segment being written at the tail), held (taken out by
// [Arena.Take] for the owner's own use, such as index pages) or retired (out of its queue,
// waiting for its last reader to unpin it). Fresh segments are not listed anywhere: every index
// at or above the header's fresh mark is fresh, so formatting a region writes only its header and
// a huge region costs nothing until it is written.
//
// The free list and the fresh mark are the pool that every queue draws from, so an owner that
// writes more takes more segments, and none sits on room that another needs while the pool has
// some. The arena knows nothing of what is stored in a segment; an owner appends into its queue's
// tail, keeps Used and Live up to date, and decides which of its segments to reclaim. Records
// and queues link segments by index, never by pointer, so the region holds no Go pointer and can
// live outside the heap.
//
// # Concurrency
//
// An Arena is not safe for concurrent use. Calls that touch the pool ([Arena.Grab],
// [Arena.Take], [Arena.Release], [Arena.ReleaseHeld], [Arena.ResetQueue], [Arena.Free]) need the
// pool's lock, which the owner keeps; calls on one queue and its segments need that queue's
// lock, held together with the pool's for the pool calls that take a queue. [Arena.Pin],
// [Arena.Unpin] and [Arena.Pins] are atomic and may run under a shared lock.
package arena

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// ID names a segment by its index in the region.
type ID uint32

// None is the ID of no segment: the end of a list, or an empty queue.
const None ID = ^ID(0)

// Segment states.
const (
	stateFresh   = 0 // zero, so a zeroed record is fresh
	stateFree    = 1
	stateQueued  = 2
	stateRetired = 3
	stateHeld    = 4
)

const (
	headerSize = 64
	recordSize = int(unsafe.Sizeof(Segment{}))
	// Align is the alignment of every segment's start; segment sizes are multiples of it.
	Align = 64
	// MaxSegmentSize bounds a segment so that offsets inside it fit a uint32.
	MaxSegmentSize = 1 << 30
	// QueueSize is the size of a [Queue], for owners that keep their queues in the region.
	QueueSize = int(unsafe.Sizeof(Queue{}))
)

// Compile-time layout checks: a record is 32 bytes, a queue 16, and the header fits its slot.
var (
	_ = [1]struct{}{}[recordSize-32]
	_ = [1]struct{}{}[QueueSize-16]
	_ = [1]struct{}{}[headerSize-int(unsafe.Sizeof(header{}))-48]
)

// Segment is the record of one segment. It lives inside the region.
type Segment struct {
	prev, next ID // queue links (next also links the free list)
	// Used is the number of bytes written from the segment's start: the append position.
	Used uint32
	// Live is the number of bytes of Used that the owner still counts as live.
	Live uint32
	// MinExpire is the owner's earliest expiry among the segment's entries, 0 for none.
	MinExpire int64
	pins      uint32 // atomic: readers holding a view into the segment
	state     uint32
}

// Queue is one owner's FIFO of segments, oldest first. Its zero value is an empty queue. It
// holds no pointer, so an owner may keep it inside the region (it needs 4-byte alignment).
type Queue struct {
	// The oldest and the newest segment's IDs plus one, so that a zeroed Queue is empty.
	head1, tail1 uint32
	queued       uint32 // segments in the queue
	retired      uint32 // segments this owner retired that wait for their last reader
}

// Head returns the oldest queued segment, or None.
func (q *Queue) Head() ID { return ID(q.head1 - 1) }

// Tail returns the newest queued segment, the one being written, or None.
func (q *Queue) Tail() ID { return ID(q.tail1 - 1) }

func (q *Queue) setHead(id ID) { q.head1 = uint32(id) + 1 }
func (q *Queue) setTail(id ID) { q.tail1 = uint32(id) + 1 }

// Queued reports the number of segments in the queue.
func (q *Queue) Queued() int { return int(q.queued) }

// Retired reports the number of segments retired from the queue and still pinned by readers.
func (q *Queue) Retired() int { return int(q.retired) }

// header is the pool's state; it lives in the first bytes of the region.
type header struct {
	free  ID     // free list through Segment.next
	fresh uint32 // segments [fresh, n) were never handed out
	nfree uint32 // segments on the free list
	held  uint32 // segments taken out by Take
}

// Arena manages the segments of one region. The zero value is not usable; see [New].
type Arena struct {
	region  []byte    // the whole region as given to New; never resliced
	hdr     *header   // points into region
	records []Segment // points into region
	data    []byte    // the segments, back to back; points into region
	segSize int
}

// ErrTooSmall reports a region that cannot hold a single segment.
var ErrTooSmall = errors.New("arena: region too small for one segment")

// Segments reports how many segments of segSize bytes a region of regionSize bytes holds.
func Segments(regionSize, segSize int) int {
	if segSize <= 0 || regionSize <= headerSize {
		return 0
	}
	// Each segment costs its bytes plus its record; Align-1 covers the padding before data.
	n := (regionSize - headerSize - (Align - 1)) / (segSize + recordSize)
	return max(n, 0)
}

// Overhead reports the bytes of a region that hold no segment data: header, records, padding.
func Overhead(nsegs int) int {
	return dataStart(nsegs)
}

func dataStart(nsegs int) int {
	return (headerSize + nsegs*recordSize + Align - 1) &^ (Align - 1)
}

// New formats region as an arena of segments of segSize bytes, which must be a positive
// multiple of [Align] no larger than [MaxSegmentSize]. Region must be zeroed (as fresh anonymous
// memory is) and aligned to 8 bytes; New writes only its header. Every segment starts fresh.
func New(region []byte, segSize int) (*Arena, error) {
	a, err := over(region, segSize)
	if err != nil {
		return nil, err
	}
	*a.hdr = header{free: None}
	return a, nil
}

// Attach returns an Arena over a region that New formatted and that was written since, by this
// process or an earlier one (a region in a file), with the same segment size. It trusts nothing
// in the region: it verifies the whole arena as [Arena.Check] does, given every queue that
// draws from it (queues the caller keeps in the region, and must not trust either), and that no
// segment is pinned or retired, since no reader of an earlier process reads it now. It returns
// the first fault found; its checks never read outside the region, however crafted its bytes.
func Attach(region []byte, segSize int, queues ...*Queue) (*Arena, error) {
	a, err := over(region, segSize)
	if err != nil {
		return nil, err
	}
	if uint64(a.hdr.fresh) > uint64(len(a.records)) {
		return nil, fmt.Errorf("arena: fresh mark %d is beyond the %d segments", a.hdr.fresh, len(a.records))
	}
	for i := range a.records {
		r := &a.records[i]
		switch {
		case r.pins != 0:
			return nil, fmt.Errorf("arena: segment %d is pinned by %d readers", i, r.pins)
		case r.state > stateHeld || r.state == stateRetired:
			return nil, fmt.Errorf("arena: segment %d is in state %d", i, r.state)
		case i >= int(a.hdr.fresh) && r.state != stateFresh:
			return nil, fmt.Errorf("arena: segment %d above the fresh mark is in state %d", i, r.state)
		}
	}
	for _, q := range queues {
		if q.retired != 0 {
			return nil, fmt.Errorf("arena: a queue counts %d retired segments", q.retired)
		}
	}
	if err := a.Check(queues...); err != nil {
		return nil, err
	}
	return a, nil
}

// Recover returns an Arena over a region whose last owner died while writing it (a region in
// a file, left by a killed process): the pool's free list and counts may be half-updated, and
// readers of that process may have left pins and retired segments. The owner vouches for the
// queues it gives, those that were not being written when it died; the queues it does not
// trust it must empty before the call. Recover then rebuilds the pool around them: pins are
// cleared, the queues' retired segments are freed, a segment for which held reports true is
// held, and every other segment below the fresh mark is free. It verifies the result as
// [Arena.Check] does, so a crafted region gives an error, never a read outside it.
func Recover(region []byte, segSize int, held func(ID) bool, queues ...*Queue) (*Arena, error) {
	a, err := over(region, segSize)
	if err != nil {
		return nil, err
	}
	h := a.hdr
	if uint64(h.fresh) > uint64(len(a.records)) {
		return nil, fmt.Errorf("arena: fresh mark %d is beyond the %d segments", h.fresh, len(a.records))
	}
	queued := make([]bool, len(a.records))
	for _, q := range queues {
		if err := a.CheckQueue(q); err != nil {
			return nil, err
		}
		for id := q.Head(); id != None; id = a.records[id].next {
			if uint32(id) >= h.fresh || queued[id] {
				return nil, fmt.Errorf("arena: queued segment %d is above the fresh mark %d, or queued twice", id, h.fresh)
			}
			queued[id] = true
		}
		q.retired = 0
	}
	*h = header{free: None, fresh: h.fresh}
	// Backwards, so that the free list hands out low segments first, as a fresh pool does.
	for i := len(a.records) - 1; i >= 0; i-- {
		r := &a.records[i]
		r.pins = 0
		switch {
		case i >= int(h.fresh):
			*r = Segment{}
		case queued[i]:
		case held(ID(i)):
			*r = Segment{prev: None, next: None, state: stateHeld}
			h.held++
		default:
			a.free(ID(i))
		}
	}
	if err := a.Check(queues...); err != nil {
		return nil, err
	}
	return a, nil
}

// over is an Arena over region, as New and Attach make it, without touching the region.
func over(region []byte, segSize int) (*Arena, error) {
	if segSize <= 0 || segSize%Align != 0 || segSize > MaxSegmentSize {
		return nil, fmt.Errorf("arena: segment size %d is not a positive multiple of %d up to %d", segSize, Align, MaxSegmentSize)
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(region)))%8 != 0 {
		return nil, errors.New("arena: region is not 8-byte aligned")
	}
	n := Segments(len(region), segSize)
	if n == 0 {
		return nil, ErrTooSmall
	}
	start := dataStart(n)
	return &Arena{
		region: region,
		// The region is 8-byte aligned, holds no Go pointers and outlives the Arena's use
		// (its owner unmaps it only after the last call), so typed views into it are sound.
		hdr:     (*header)(unsafe.Pointer(&region[0])),
		records: unsafe.Slice((*Segment)(unsafe.Pointer(&region[headerSize])), n),
		data:    region[start : start+n*segSize : start+n*segSize],
		segSize: segSize,
	}, nil
}

// ResetQueue empties q: its segments become free, except those still pinned by a reader, which
// are retired and come back through [Arena.Unpin]. It touches only the records of q's segments.
// Pool lock and q's lock held.
func (a *Arena) ResetQueue(q *Queue) {
	for id := q.Head(); id != None; {
		s := &a.records[id]
		next := s.next
		s.prev, s.next, s.Used, s.Live, s.MinExpire = None, None, 0, 0, 0
		q.queued--
		// Retire first, then look at the pins: a reader that unpins concurrently either sees
		// the retired state (and reports it) or has already dropped its pin (seen here).
		atomic.StoreUint32(&s.state, stateRetired)
		if atomic.LoadUint32(&s.pins) != 0 {
			q.retired++
		} else {
			a.free(id)
		}
		id = next
	}
	q.head1, q.tail1 = 0, 0
}

// Len reports the number of segments in the region.
func (a *Arena) Len() int { return len(a.records) }

// Size reports the size of every segment in bytes.
func (a *Arena) Size() int { return a.segSize }

// Free reports the number of segments that Grab or Take can hand out now: free and fresh.
// Pool lock held.
func (a *Arena) Free() int { return int(a.hdr.nfree) + len(a.records) - int(a.hdr.fresh) }

// Held reports the number of segments taken out by Take and not released. Pool lock held.
func (a *Arena) Held() int { return int(a.hdr.held) }

// Data returns the bytes of all segments back to back: segment id starts at int(id)*Size().
// Offsets into it fit a uint64 and name an entry across the whole arena.
func (a *Arena) Data() []byte { return a.data }

// Bytes returns the bytes of segment id.
func (a *Arena) Bytes(id ID) []byte {
	off := int(id) * a.segSize
	return a.data[off : off+a.segSize : off+a.segSize]
}

// Seg returns the record of segment id.
func (a *Arena) Seg(id ID) *Segment { return &a.records[id] }

// Next returns the segment queued after id, or None.
func (a *Arena) Next(id ID) ID { return a.records[id].next }

// IsQueued reports whether segment id is in a queue.
func (a *Arena) IsQueued(id ID) bool { return atomic.LoadUint32(&a.records[id].state) == stateQueued }

// take hands out a free (or else a fresh) segment with a clear record. Pool lock held.
func (a *Arena) take() (ID, bool) {
	h := a.hdr
	id := h.free
	switch {
	case id != None:
		h.free = a.records[id].next
		h.nfree--
	case int(h.fresh) < len(a.records):
		id = ID(h.fresh)
		h.fresh++
	default:
		return None, false
	}
	s := &a.records[id]
	s.prev, s.next, s.Used, s.Live, s.MinExpire = None, None, 0, 0, 0
	return id, true
}

// Grab takes a free (or else a fresh) segment, clears its record and appends it to q's tail. It
// returns false when no segment is free. Pool lock and q's lock held.
func (a *Arena) Grab(q *Queue) (ID, bool) {
	id, ok := a.take()
	if ok {
		a.pushTail(q, id)
	}
	return id, ok
}

// Take takes a free (or else a fresh) segment out of the pool for the owner's own use; no queue
// holds it until [Arena.ReleaseHeld] gives it back. It returns false when no segment is free.
// Pool lock held.
func (a *Arena) Take() (ID, bool) {
	id, ok := a.take()
	if ok {
		atomic.StoreUint32(&a.records[id].state, stateHeld)
		a.hdr.held++
	}
	return id, ok
}

// ReleaseHeld gives back a segment that Take handed out. Pool lock held.
func (a *Arena) ReleaseHeld(id ID) {
	if s := atomic.LoadUint32(&a.records[id].state); s != stateHeld {
		panic(fmt.Sprintf("arena: release of segment %d in state %d, not held", id, s))
	}
	a.hdr.held--
	a.free(id)
}

// Release takes a segment out of q, queued or retired from it, and puts it on the free list.
// Pool lock and q's lock held.
func (a *Arena) Release(q *Queue, id ID) {
	s := &a.records[id]
	switch s.state {
	case stateQueued:
		a.unlink(q, id)
	case stateRetired:
		q.retired--
	default:
		panic(fmt.Sprintf("arena: release of segment %d in state %d", id, s.state))
	}
	a.free(id)
}

// free puts segment id on the free list. Pool lock held.
func (a *Arena) free(id ID) {
	s := &a.records[id]
	s.Used, s.Live, s.MinExpire = 0, 0, 0
	atomic.StoreUint32(&s.state, stateFree)
	s.prev, s.next = None, a.hdr.free
	a.hdr.free = id
	a.hdr.nfree++
}

// Retire takes a queued segment out of q without freeing it: a pinned segment whose contents
// are dropped. It reports true when no reader holds it any more, in which case the caller
// releases it at once; otherwise [Arena.Unpin] reports when its last reader has gone. q's lock
// held.
func (a *Arena) Retire(q *Queue, id ID) (unpinned bool) {
	a.unlink(q, id)
	s := &a.records[id]
	atomic.StoreUint32(&s.state, stateRetired) // before the pins check: see ResetQueue
	q.retired++
	return atomic.LoadUint32(&s.pins) == 0
}

// MoveToTail moves a segment queued in q to q's tail, making it the segment being written.
// q's lock held.
func (a *Arena) MoveToTail(q *Queue, id ID) {
	if q.Tail() == id {
		return
	}
	a.unlink(q, id)
	a.pushTail(q, id)
}

// Transfer moves a segment queued in from to the tail of to: both queues have one owner, whose
// lock is held.
func (a *Arena) Transfer(from, to *Queue, id ID) {
	a.unlink(from, id)
	a.pushTail(to, id)
}

// Pin records a reader holding a view into segment id. Safe under a shared lock.
func (a *Arena) Pin(id ID) { atomic.AddUint32(&a.records[id].pins, 1) }

// Unpin ends a view into segment id. It reports true when that was the last view of a retired
// segment, which the caller must then [Arena.Release] under the locks it needs. Safe under no
// lock.
func (a *Arena) Unpin(id ID) (lastOfRetired bool) {
	s := &a.records[id]
	return atomic.AddUint32(&s.pins, ^uint32(0)) == 0 && atomic.LoadUint32(&s.state) == stateRetired
}

// Pins reports how many readers hold a view into segment id.
func (a *Arena) Pins(id ID) uint32 { return atomic.LoadUint32(&a.records[id].pins) }

// IsRetired reports whether segment id is retired.
func (a *Arena) IsRetired(id ID) bool { return atomic.LoadUint32(&a.records[id].state) == stateRetired }

// IsHeld reports whether segment id was handed out by Take.
func (a *Arena) IsHeld(id ID) bool { return atomic.LoadUint32(&a.records[id].state) == stateHeld }

func (a *Arena) pushTail(q *Queue, id ID) {
	s := &a.records[id]
	atomic.StoreUint32(&s.state, stateQueued)
	s.prev, s.next = q.Tail(), None
	if q.Tail() != None {
		a.records[q.Tail()].next = id
	} else {
		q.setHead(id)
	}
	q.setTail(id)
	q.queued++
}

func (a *Arena) unlink(q *Queue, id ID) {
	s := &a.records[id]
	if s.state != stateQueued {
		panic(fmt.Sprintf("arena: unlink of segment %d in state %d", id, s.state))
	}
	if s.prev != None {
		a.records[s.prev].next = s.next
	} else {
		q.setHead(s.next)
	}
	if s.next != None {
		a.records[s.next].prev = s.prev
	} else {
		q.setTail(s.prev)
	}
	s.prev, s.next = None, None
	q.queued--
}

// CheckQueue verifies q's structure: links both ways, states, counts and the records' sizes.
// It is for tests and debug builds, and needs only q's lock; it returns the first fault found.
func (a *Arena) CheckQueue(q *Queue) error {
	n, prev := uint32(0), None
	for id := q.Head(); id != None; id = a.records[id].next {
		// Compared as unsigned: on 32-bit platforms int(id) of a crafted id is negative.
		if uint64(id) >= uint64(len(a.records)) || n > uint32(len(a.records)) {
			return fmt.Errorf("arena: queue holds segment %d of %d, or loops", id, len(a.records))
		}
		s := &a.records[id]
		if atomic.LoadUint32(&s.state) != stateQueued || s.prev != prev {
			return fmt.Errorf("arena: segment %d: state %d, prev %d, want queued after %d", id, s.state, s.prev, prev)
		}
		if s.Live > s.Used || uint64(s.Used) > uint64(a.segSize) {
			return fmt.Errorf("arena: segment %d: live %d, used %d, size %d", id, s.Live, s.Used, a.segSize)
		}
		prev = id
		n++
	}
	if prev != q.Tail() || n != q.queued {
		return fmt.Errorf("arena: queue ends at %d with %d segments, its header says %d and %d", prev, n, q.Tail(), q.queued)
	}
	return nil
}

// Check verifies the whole arena, given every queue that draws from it: each queue
// (CheckQueue), the free list, and that every segment below the fresh mark is in exactly one
// place: a queue, the free list, held, or retired (as many as the queues count). It is for
// tests and debug builds, with every lock held; it returns the first fault found.
func (a *Arena) Check(queues ...*Queue) error {
	h := a.hdr
	if uint64(h.fresh) > uint64(len(a.records)) {
		return fmt.Errorf("arena: fresh mark %d is beyond the %d segments", h.fresh, len(a.records))
	}
	seen := make([]uint8, len(a.records))
	retired := uint32(0)
	for _, q := range queues {
		if err := a.CheckQueue(q); err != nil {
			return err
		}
		for id := q.Head(); id != None; id = a.records[id].next {
			if uint32(id) >= h.fresh {
				return fmt.Errorf("arena: queued segment %d is above the fresh mark %d", id, h.fresh)
			}
			if seen[id] != 0 {
				return fmt.Errorf("arena: segment %d queued twice", id)
			}
			seen[id] = 1
		}
		if q.retired > uint32(len(a.records)) {
			return fmt.Errorf("arena: a queue counts %d retired segments of %d", q.retired, len(a.records))
		}
		retired += q.retired
	}
	nfree := uint32(0)
	for id := h.free; id != None; id = a.records[id].next {
		if uint32(id) >= h.fresh {
			return fmt.Errorf("arena: free segment %d is at or above the fresh mark %d", id, h.fresh)
		}
		if seen[id] != 0 || a.records[id].state != stateFree {
			return fmt.Errorf("arena: free segment %d is also elsewhere, fresh, or in state %d", id, a.records[id].state)
		}
		seen[id] = 2
		nfree++
	}
	if nfree != h.nfree {
		return fmt.Errorf("arena: %d free segments, header says %d", nfree, h.nfree)
	}
	held, gone := uint32(0), uint32(0)
	for i := range h.fresh {
		if seen[i] != 0 {
			continue
		}
		switch a.records[i].state {
		case stateHeld:
			held++
		case stateRetired:
			gone++
		default:
			return fmt.Errorf("arena: segment %d is lost (state %d)", i, a.records[i].state)
		}
	}
	if held != h.held || gone != retired {
		return fmt.Errorf("arena: %d held and %d retired segments, the header and queues say %d and %d", held, gone, h.held, retired)
	}
	return nil
}
