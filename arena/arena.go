// Package arena carves a byte region, normally an anonymous memory mapping outside the Go heap,
// into equal segments, and keeps all of its bookkeeping inside that same region.
//
// # Layout
//
//	region: | header (64 B) | record 0 | record 1 | ... | record n-1 | pad | segment 0 | ... | segment n-1 |
//	                          \___ 32 B each, one per segment ___/          \__ Size() bytes each __/
//
// A segment is either fresh (never handed out), free (on the free list), queued (in the FIFO
// queue, oldest at the head, the segment being written at the tail) or retired (out of the
// queue, waiting for its last reader to unpin it). Fresh segments are not listed anywhere: every
// index at or above the header's fresh mark is fresh, so formatting a region writes only its header
// and a huge region costs nothing until it is written.
//
// The arena knows nothing of what is stored in a segment; its owner appends into the tail segment,
// keeps Used and Live up to date, and decides which segment to reclaim. Records link segments by
// index, never by pointer, so the region holds no Go pointer and can live outside the heap.
//
// # Concurrency
//
// An Arena is not safe for concurrent use: its owner serializes every call with a lock, except
// [Arena.Pin], [Arena.Unpin] and [Arena.Pins], which are atomic and may run under a shared lock.
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
)

const (
	headerSize = 64
	recordSize = int(unsafe.Sizeof(Segment{}))
	// Align is the alignment of every segment's start; segment sizes are multiples of it.
	Align = 64
	// MaxSegmentSize bounds a segment so that offsets inside it fit a uint32.
	MaxSegmentSize = 1 << 30
)

// Compile-time layout checks: a record is 32 bytes and the header fits its slot.
var (
	_ = [1]struct{}{}[recordSize-32]
	_ = [1]struct{}{}[headerSize-int(unsafe.Sizeof(header{}))-24]
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

// header is the arena's state; it lives in the first bytes of the region.
type header struct {
	head, tail ID     // the queue, oldest first
	free       ID     // free list through Segment.next
	fresh      uint32 // segments [fresh, n) were never handed out
	queued     uint32 // segments in the queue
	retired    uint32 // segments waiting for their last reader
	_          [16]byte
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
// memory is) and aligned to 8 bytes; New writes only its header.
func New(region []byte, segSize int) (*Arena, error) {
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
	a := &Arena{
		region: region,
		// The region is 8-byte aligned, holds no Go pointers and outlives the Arena's use
		// (its owner unmaps it only after the last call), so typed views into it are sound.
		hdr:     (*header)(unsafe.Pointer(&region[0])),
		records: unsafe.Slice((*Segment)(unsafe.Pointer(&region[headerSize])), n),
		data:    region[start : start+n*segSize : start+n*segSize],
		segSize: segSize,
	}
	a.Reset()
	return a, nil
}

// Reset empties the arena: every segment becomes free, except those still pinned by a reader,
// which are retired and come back through [Arena.Unpin]. It touches only the records of
// segments that were ever handed out.
func (a *Arena) Reset() {
	h := a.hdr
	fresh := h.fresh
	h.head, h.tail, h.free = None, None, None
	h.queued, h.retired = 0, 0
	pinned := false
	for i := range fresh {
		if atomic.LoadUint32(&a.records[i].pins) != 0 {
			pinned = true
			break
		}
	}
	if !pinned {
		// Forget every record: segments below fresh become fresh again, states included, so
		// that a reader whose Unpin saw a retired segment before this Reset does not release
		// it after (IsRetired must now report false).
		for i := range fresh {
			atomic.StoreUint32(&a.records[i].state, stateFresh)
		}
		h.fresh = 0
		return
	}
	for i := int(fresh) - 1; i >= 0; i-- {
		s := &a.records[i]
		s.prev, s.Used, s.Live, s.MinExpire = None, 0, 0, 0
		// Retire first, then look at the pins: a reader that unpins concurrently either sees
		// the retired state (and reports it) or has already dropped its pin (seen here).
		atomic.StoreUint32(&s.state, stateRetired)
		if atomic.LoadUint32(&s.pins) != 0 {
			s.next = None
			h.retired++
			continue
		}
		atomic.StoreUint32(&s.state, stateFree)
		s.next = h.free
		h.free = ID(i)
	}
}

// Len reports the number of segments in the region.
func (a *Arena) Len() int { return len(a.records) }

// Size reports the size of every segment in bytes.
func (a *Arena) Size() int { return a.segSize }

// Queued reports the number of segments in the queue.
func (a *Arena) Queued() int { return int(a.hdr.queued) }

// Retired reports the number of retired segments still pinned by readers.
func (a *Arena) Retired() int { return int(a.hdr.retired) }

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

// Head returns the oldest queued segment, or None.
func (a *Arena) Head() ID { return a.hdr.head }

// Tail returns the newest queued segment, the one being written, or None.
func (a *Arena) Tail() ID { return a.hdr.tail }

// Next returns the segment queued after id, or None.
func (a *Arena) Next(id ID) ID { return a.records[id].next }

// IsQueued reports whether segment id is in the queue.
func (a *Arena) IsQueued(id ID) bool { return a.records[id].state == stateQueued }

// Grab takes a free (or else a fresh) segment, clears its record and appends it to the queue's
// tail. It returns false when no segment is free.
func (a *Arena) Grab() (ID, bool) {
	h := a.hdr
	id := h.free
	switch {
	case id != None:
		h.free = a.records[id].next
	case int(h.fresh) < len(a.records):
		id = ID(h.fresh)
		h.fresh++
	default:
		return None, false
	}
	s := &a.records[id]
	s.Used, s.Live, s.MinExpire = 0, 0, 0
	a.pushTail(id)
	return id, true
}

// Release takes a queued or retired segment out and puts it on the free list.
func (a *Arena) Release(id ID) {
	s := &a.records[id]
	switch s.state {
	case stateQueued:
		a.unlink(id)
	case stateRetired:
		a.hdr.retired--
	default:
		panic(fmt.Sprintf("arena: release of segment %d in state %d", id, s.state))
	}
	s.Used, s.Live, s.MinExpire = 0, 0, 0
	atomic.StoreUint32(&s.state, stateFree)
	s.prev, s.next = None, a.hdr.free
	a.hdr.free = id
}

// Retire takes a queued segment out of the queue without freeing it: a pinned segment whose
// contents are dropped. It reports true when no reader holds it any more, in which case the
// caller releases it at once; otherwise [Arena.Unpin] reports when its last reader has gone.
func (a *Arena) Retire(id ID) (unpinned bool) {
	a.unlink(id)
	s := &a.records[id]
	atomic.StoreUint32(&s.state, stateRetired) // before the pins check: see Reset
	a.hdr.retired++
	return atomic.LoadUint32(&s.pins) == 0
}

// MoveToTail moves a queued segment to the queue's tail, making it the segment being written.
func (a *Arena) MoveToTail(id ID) {
	if a.hdr.tail == id {
		return
	}
	a.unlink(id)
	a.pushTail(id)
}

// Pin records a reader holding a view into segment id. Safe under a shared lock.
func (a *Arena) Pin(id ID) { atomic.AddUint32(&a.records[id].pins, 1) }

// Unpin ends a view into segment id. It reports true when that was the last view of a retired
// segment, which the caller must then [Arena.Release] under its exclusive lock. Safe under no lock.
func (a *Arena) Unpin(id ID) (lastOfRetired bool) {
	s := &a.records[id]
	return atomic.AddUint32(&s.pins, ^uint32(0)) == 0 && atomic.LoadUint32(&s.state) == stateRetired
}

// Pins reports how many readers hold a view into segment id.
func (a *Arena) Pins(id ID) uint32 { return atomic.LoadUint32(&a.records[id].pins) }

// IsRetired reports whether segment id is retired.
func (a *Arena) IsRetired(id ID) bool { return atomic.LoadUint32(&a.records[id].state) == stateRetired }

func (a *Arena) pushTail(id ID) {
	h := a.hdr
	s := &a.records[id]
	atomic.StoreUint32(&s.state, stateQueued)
	s.prev, s.next = h.tail, None
	if h.tail != None {
		a.records[h.tail].next = id
	} else {
		h.head = id
	}
	h.tail = id
	h.queued++
}

func (a *Arena) unlink(id ID) {
	h := a.hdr
	s := &a.records[id]
	if s.state != stateQueued {
		panic(fmt.Sprintf("arena: unlink of segment %d in state %d", id, s.state))
	}
	if s.prev != None {
		a.records[s.prev].next = s.next
	} else {
		h.head = s.next
	}
	if s.next != None {
		a.records[s.next].prev = s.prev
	} else {
		h.tail = s.prev
	}
	s.prev, s.next = None, None
	h.queued--
}

// Check verifies the arena's structure: queue links both ways, counts, and that every segment is
// in exactly one place. It is for tests and debug builds; it returns the first fault found.
func (a *Arena) Check() error {
	h := a.hdr
	seen := make([]uint8, len(a.records))
	n, prev := uint32(0), None
	for id := h.head; id != None; id = a.records[id].next {
		if int(id) >= int(h.fresh) {
			return fmt.Errorf("arena: queued segment %d is above the fresh mark %d", id, h.fresh)
		}
		if seen[id] != 0 {
			return fmt.Errorf("arena: segment %d queued twice", id)
		}
		seen[id] = 1
		s := &a.records[id]
		if s.state != stateQueued || s.prev != prev {
			return fmt.Errorf("arena: segment %d: state %d, prev %d, want queued after %d", id, s.state, s.prev, prev)
		}
		if s.Live > s.Used || int(s.Used) > a.segSize {
			return fmt.Errorf("arena: segment %d: live %d, used %d, size %d", id, s.Live, s.Used, a.segSize)
		}
		prev = id
		n++
	}
	if prev != h.tail || n != h.queued {
		return fmt.Errorf("arena: queue ends at %d with %d segments, header says %d and %d", prev, n, h.tail, h.queued)
	}
	for id := h.free; id != None; id = a.records[id].next {
		if seen[id] != 0 || a.records[id].state != stateFree {
			return fmt.Errorf("arena: free segment %d is also elsewhere or in state %d", id, a.records[id].state)
		}
		seen[id] = 2
	}
	retired := uint32(0)
	for i := range h.fresh {
		if seen[i] == 0 {
			if a.records[i].state != stateRetired {
				return fmt.Errorf("arena: segment %d is lost (state %d)", i, a.records[i].state)
			}
			retired++
		}
	}
	if retired != h.retired {
		return fmt.Errorf("arena: %d retired segments, header says %d", retired, h.retired)
	}
	return nil
}
