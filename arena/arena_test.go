package arena

import (
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSeg is the segment size of the small arenas below.
const testSeg = 128

// newRegion returns a zeroed, 8-byte aligned region of n bytes (Go's allocator aligns a
// []byte of 8 bytes or more to at least 8).
func newRegion(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	require.Zero(t, uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8)
	return b
}

// newArena returns an arena of exactly nsegs segments of testSeg bytes.
func newArena(t *testing.T, nsegs int) *Arena {
	t.Helper()
	// Segments reserves Align-1 bytes of padding beyond the header and records.
	size := headerSize + Align - 1 + nsegs*(testSeg+recordSize)
	a, err := New(newRegion(t, size), testSeg)
	require.NoError(t, err)
	require.Equal(t, nsegs, a.Len())
	check(t, a)
	return a
}

// newQueue returns an empty queue: a zero Queue, as an owner keeps one.
func newQueue() *Queue { return new(Queue) }

// check runs the whole-arena Check over qs, and CheckQueue on each of them.
func check(t *testing.T, a *Arena, qs ...*Queue) {
	t.Helper()
	require.NoError(t, a.Check(qs...))
	for _, q := range qs {
		require.NoError(t, a.CheckQueue(q))
	}
}

// ids returns q's segments from head to tail, and checks the prev links, the tail and the count
// agree.
func ids(t *testing.T, a *Arena, q *Queue) []ID {
	t.Helper()
	got := []ID{}
	prev := None
	for id := q.Head(); id != None; id = a.Next(id) {
		require.Less(t, len(got), a.Len(), "the queue loops")
		require.Equal(t, prev, a.Seg(id).prev)
		got = append(got, id)
		prev = id
	}
	require.Equal(t, prev, q.Tail())
	require.Equal(t, len(got), q.Queued())
	return got
}

// freeList returns the free list in order, from the segment Grab takes next.
func freeList(a *Arena) []ID {
	f := []ID{}
	for id := a.hdr.free; id != None && len(f) <= a.Len(); id = a.records[id].next {
		f = append(f, id)
	}
	return f
}

// grabN grabs n segments into q and returns them.
func grabN(t *testing.T, a *Arena, q *Queue, n int) []ID {
	t.Helper()
	var got []ID
	for range n {
		id, ok := a.Grab(q)
		require.True(t, ok)
		got = append(got, id)
	}
	return got
}

func TestLayoutSizes(t *testing.T) {
	require.Equal(t, 32, recordSize)
	require.Equal(t, 16, QueueSize)
	require.Equal(t, 16, int(unsafe.Sizeof(header{})))
	assert.Equal(t, 0, Segments(headerSize, 64))
	assert.Equal(t, 0, Segments(1<<20, 0))
	assert.Equal(t, 0, Segments(1<<20, -64))
	// One segment needs header + padding reserve + record + segment.
	assert.Equal(t, 0, Segments(headerSize+Align-1+recordSize+testSeg-1, testSeg))
	assert.Equal(t, 1, Segments(headerSize+Align-1+recordSize+testSeg, testSeg))
	assert.Equal(t, 4, Segments(headerSize+Align-1+4*(recordSize+testSeg), testSeg))
	assert.Equal(t, (1<<20-headerSize-Align+1)/(4096+recordSize), Segments(1<<20, 4096))

	assert.Equal(t, 64, Overhead(0))
	assert.Equal(t, 128, Overhead(1))    // 64 + 32, rounded up to 64
	assert.Equal(t, 128, Overhead(2))    // 64 + 64
	assert.Equal(t, 192, Overhead(3))    // 64 + 96, rounded up
	assert.Equal(t, 3264, Overhead(100)) // 64 + 3200
}

func TestNewRejects(t *testing.T) {
	region := newRegion(t, 1<<16)
	for _, seg := range []int{0, -64, 1, 63, 65, 100, MaxSegmentSize + Align} {
		_, err := New(region, seg)
		assert.Error(t, err, "segment size %d", seg)
	}
	_, err := New(region[1:], 64)
	assert.ErrorContains(t, err, "aligned")
	_, err = New(region[4:], 64)
	assert.ErrorContains(t, err, "aligned")
	_, err = New(region[:headerSize+Align-1+recordSize+testSeg-1], testSeg)
	assert.ErrorIs(t, err, ErrTooSmall)
	_, err = New(region[:0], testSeg)
	assert.ErrorIs(t, err, ErrTooSmall)

	a, err := New(region[8:], 64) // 8-byte aligned is enough
	require.NoError(t, err)
	check(t, a)
	// Segment data starts Align-aligned relative to the region, after header and records.
	assert.Equal(t, dataStart(a.Len()), int(uintptr(unsafe.Pointer(&a.Data()[0]))-uintptr(unsafe.Pointer(&region[8]))))
}

func TestNewWritesOnlyHeader(t *testing.T) {
	region := newRegion(t, headerSize+Align-1+8*(recordSize+testSeg))
	a, err := New(region, testSeg)
	require.NoError(t, err)
	for i, b := range region[headerSize:] {
		require.Zero(t, b, "byte %d beyond the header", headerSize+i)
	}
	assert.Equal(t, header{free: None}, *a.hdr)
	assert.Equal(t, 8, a.Free(), "every segment is fresh")
	assert.Equal(t, 0, a.Held())
	assert.Equal(t, testSeg, a.Size())
	assert.Equal(t, 8, a.Len())
	assert.Len(t, a.Data(), 8*testSeg)
	for id := range ID(8) {
		assert.False(t, a.IsQueued(id))
		assert.False(t, a.IsRetired(id))
		assert.False(t, a.IsHeld(id))
		assert.Equal(t, uint32(0), a.Pins(id))
	}
	assert.Empty(t, freeList(a))
	q := newQueue()
	check(t, a, q)
	assert.Equal(t, None, q.Head())
	assert.Equal(t, None, q.Tail())
	assert.Equal(t, 0, q.Queued())
	assert.Equal(t, 0, q.Retired())

	// New touches nothing beyond the header even when those bytes are not zero.
	dirty := newRegion(t, len(region))
	for i := range dirty {
		dirty[i] = 0xa5
	}
	_, err = New(dirty, testSeg)
	require.NoError(t, err)
	for i, b := range dirty[headerSize:] {
		require.Equal(t, byte(0xa5), b, "byte %d beyond the header", headerSize+i)
	}
}

// TestZeroQueueIsEmpty checks what Queue's documentation promises: its zero value is an empty
// queue, and a zeroed Queue in the region too.
func TestZeroQueueIsEmpty(t *testing.T) {
	a := newArena(t, 4)
	var q1 Queue
	mem := newRegion(t, QueueSize) // zeroed bytes, as in a fresh mapping
	q2 := (*Queue)(unsafe.Pointer(&mem[0]))
	for _, q := range []*Queue{&q1, q2} {
		assert.Equal(t, None, q.Head())
		assert.Equal(t, None, q.Tail())
		assert.Equal(t, 0, q.Queued())
		assert.Equal(t, 0, q.Retired())
	}
	check(t, a, &q1, q2)
	a.ResetQueue(&q1) // nothing to do
	check(t, a, &q1, q2)
	assert.Equal(t, 4, a.Free())
	assert.Empty(t, freeList(a))

	id, ok := a.Grab(&q1)
	require.True(t, ok)
	assert.Equal(t, ID(0), id)
	assert.Equal(t, ID(0), q1.Head())
	assert.Equal(t, ID(0), q1.Tail())
	assert.Equal(t, None, a.Next(0))
	id, ok = a.Grab(q2)
	require.True(t, ok)
	assert.Equal(t, ID(1), id)
	check(t, a, &q1, q2)
	assert.Equal(t, []ID{0}, ids(t, a, &q1))
	assert.Equal(t, []ID{1}, ids(t, a, q2))
	a.ResetQueue(q2)
	check(t, a, &q1, q2)
	assert.Equal(t, []ID{0}, ids(t, a, &q1))
	assert.Equal(t, []ID{1}, freeList(a))
	assert.Equal(t, make([]byte, QueueSize), mem, "an empty queue is all zero again")
	a.Release(&q1, 0)
	assert.Equal(t, Queue{}, q1)
	check(t, a, &q1, q2)
}

func TestDataAndBytes(t *testing.T) {
	a := newArena(t, 4)
	base := uintptr(unsafe.Pointer(&a.Data()[0]))
	assert.Zero(t, base%Align)
	for id := range ID(4) {
		b := a.Bytes(id)
		require.Len(t, b, testSeg)
		require.Equal(t, testSeg, cap(b), "Bytes must not reach into the next segment")
		require.Equal(t, base+uintptr(id)*testSeg, uintptr(unsafe.Pointer(&b[0])))
	}
	assert.Panics(t, func() { a.Bytes(4) })
}

func TestGrabFreshThenExhausted(t *testing.T) {
	a := newArena(t, 4)
	q := newQueue()
	for want := range ID(4) {
		require.Equal(t, 4-int(want), a.Free())
		id, ok := a.Grab(q)
		require.True(t, ok)
		require.Equal(t, want, id, "fresh segments come in index order")
		require.Equal(t, uint32(want+1), a.hdr.fresh)
		require.Equal(t, 3-int(want), a.Free())
		require.True(t, a.IsQueued(id))
		require.Equal(t, id, q.Tail())
		require.Equal(t, ID(0), q.Head())
		require.Equal(t, int(want)+1, q.Queued())
		check(t, a, q)
	}
	assert.Equal(t, []ID{0, 1, 2, 3}, ids(t, a, q))
	id, ok := a.Grab(q)
	assert.False(t, ok)
	assert.Equal(t, None, id)
	id, ok = a.Take()
	assert.False(t, ok)
	assert.Equal(t, None, id)
	assert.Equal(t, uint32(4), a.hdr.fresh)
	assert.Equal(t, 0, a.Free())
	assert.Equal(t, 0, a.Held())
	assert.Equal(t, 4, q.Queued())
	check(t, a, q)
}

func TestReleaseAndRegrab(t *testing.T) {
	a := newArena(t, 4)
	q := newQueue()
	grabN(t, a, q, 4)
	r := a.Seg(2)
	r.Used, r.Live, r.MinExpire = 100, 60, 12345

	a.Release(q, 2) // middle of the queue
	check(t, a, q)
	assert.Equal(t, []ID{0, 1, 3}, ids(t, a, q))
	assert.Equal(t, []ID{2}, freeList(a))
	assert.Equal(t, 1, a.Free())
	assert.False(t, a.IsQueued(2))
	assert.Equal(t, Segment{prev: None, next: None, state: stateFree}, *a.Seg(2))

	a.Release(q, 0) // head
	check(t, a, q)
	assert.Equal(t, []ID{1, 3}, ids(t, a, q))
	assert.Equal(t, ID(1), q.Head())
	assert.Equal(t, []ID{0, 2}, freeList(a), "the free list is LIFO")

	a.Release(q, 3) // tail
	check(t, a, q)
	assert.Equal(t, []ID{1}, ids(t, a, q))
	assert.Equal(t, ID(1), q.Tail())
	assert.Equal(t, []ID{3, 0, 2}, freeList(a))
	assert.Equal(t, 3, a.Free())

	// Grab takes from the free list, most recently freed first, and clears the record.
	r = a.Seg(3)
	r.Used, r.Live, r.MinExpire = 7, 7, 7 // a stale record must not survive Grab
	id, ok := a.Grab(q)
	require.True(t, ok)
	assert.Equal(t, ID(3), id)
	assert.Equal(t, uint32(0), a.Seg(3).Used)
	assert.Equal(t, uint32(0), a.Seg(3).Live)
	assert.Equal(t, int64(0), a.Seg(3).MinExpire)
	assert.Equal(t, []ID{1, 3}, ids(t, a, q))
	assert.Equal(t, 2, a.Free())
	check(t, a, q)

	a.Release(q, 1)
	a.Release(q, 3)
	check(t, a, q)
	assert.Empty(t, ids(t, a, q))
	assert.Equal(t, None, q.Head())
	assert.Equal(t, None, q.Tail())
	assert.Equal(t, []ID{3, 1, 0, 2}, freeList(a))
	assert.Equal(t, uint32(4), a.hdr.fresh, "releasing never lowers the fresh mark")
	assert.Equal(t, 4, a.Free())

	var got []ID
	for {
		id, ok := a.Grab(q)
		if !ok {
			break
		}
		got = append(got, id)
		check(t, a, q)
	}
	assert.Equal(t, []ID{3, 1, 0, 2}, got)
	assert.Equal(t, got, ids(t, a, q))
	assert.Equal(t, 0, a.Free())
}

func TestReleaseInWrongStatePanics(t *testing.T) {
	a := newArena(t, 4)
	q := newQueue()
	assert.Panics(t, func() { a.Release(q, 0) }, "fresh")
	assert.Panics(t, func() { a.ReleaseHeld(0) }, "fresh")

	id, _ := a.Grab(q)
	require.Equal(t, ID(0), id)
	a.Release(q, id)
	assert.Panics(t, func() { a.Release(q, id) }, "free")
	assert.Panics(t, func() { a.MoveToTail(q, id) }, "free")
	assert.Panics(t, func() { a.Retire(q, id) }, "free")
	assert.Panics(t, func() { a.ReleaseHeld(id) }, "free")
	check(t, a, q)

	held, ok := a.Take()
	require.True(t, ok)
	require.Equal(t, ID(0), held)
	assert.Panics(t, func() { a.Release(q, held) }, "held")
	assert.Panics(t, func() { a.MoveToTail(q, held) }, "held")
	assert.Panics(t, func() { a.Retire(q, held) }, "held")

	queued, _ := a.Grab(q)
	require.Equal(t, ID(1), queued)
	assert.Panics(t, func() { a.ReleaseHeld(queued) }, "queued")
	a.Pin(queued)
	require.False(t, a.Retire(q, queued))
	assert.Panics(t, func() { a.ReleaseHeld(queued) }, "retired")
	assert.Panics(t, func() { a.MoveToTail(q, queued) }, "retired")
	assert.Panics(t, func() { a.Retire(q, queued) }, "retired")

	// None of the panics changed anything.
	check(t, a, q)
	assert.True(t, a.IsHeld(held))
	assert.Equal(t, 1, a.Held())
	assert.True(t, a.IsRetired(queued))
	assert.Equal(t, 1, q.Retired())
	assert.Empty(t, ids(t, a, q))
	assert.Empty(t, freeList(a))
	assert.Equal(t, 2, a.Free())
}

func TestTransfer(t *testing.T) {
	a := newArena(t, 5)
	q, r := newQueue(), newQueue()
	grabN(t, a, q, 3)
	grabN(t, a, r, 2)
	seg := a.Seg(1)
	seg.Used, seg.Live = 70, 60
	a.Transfer(q, r, 1) // from the middle of q to the tail of r
	check(t, a, q, r)
	assert.Equal(t, []ID{0, 2}, ids(t, a, q))
	assert.Equal(t, []ID{3, 4, 1}, ids(t, a, r))
	assert.Equal(t, uint32(70), a.Seg(1).Used, "moving keeps the record's contents")
	assert.Equal(t, uint32(60), a.Seg(1).Live)
	a.Transfer(q, r, 0)
	a.Transfer(q, r, 2) // q is empty now
	check(t, a, q, r)
	assert.Empty(t, ids(t, a, q))
	assert.Equal(t, 0, q.Queued())
	assert.Equal(t, []ID{3, 4, 1, 0, 2}, ids(t, a, r))
	assert.Equal(t, 5, r.Queued())
	a.Release(r, 3)
	check(t, a, q, r)
	assert.Panics(t, func() { a.Transfer(r, q, 3) }, "free")
}

func TestMoveToTail(t *testing.T) {
	a := newArena(t, 5)
	q := newQueue()
	grabN(t, a, q, 5)
	a.MoveToTail(q, 4) // already the tail: nothing changes
	check(t, a, q)
	assert.Equal(t, []ID{0, 1, 2, 3, 4}, ids(t, a, q))

	a.MoveToTail(q, 0) // head
	check(t, a, q)
	assert.Equal(t, []ID{1, 2, 3, 4, 0}, ids(t, a, q))

	a.MoveToTail(q, 3) // middle
	check(t, a, q)
	assert.Equal(t, []ID{1, 2, 4, 0, 3}, ids(t, a, q))

	r := a.Seg(2)
	r.Used, r.Live = 50, 40
	a.MoveToTail(q, 2)
	check(t, a, q)
	assert.Equal(t, []ID{1, 4, 0, 3, 2}, ids(t, a, q))
	assert.Equal(t, uint32(50), a.Seg(2).Used, "moving keeps the record's contents")
	assert.Equal(t, uint32(40), a.Seg(2).Live)
	assert.Equal(t, 5, q.Queued())
	assert.Equal(t, 0, a.Free())

	// A single queued segment.
	b := newArena(t, 2)
	qb := newQueue()
	id, _ := b.Grab(qb)
	b.MoveToTail(qb, id)
	check(t, b, qb)
	assert.Equal(t, []ID{id}, ids(t, b, qb))
}

func TestPinUnpin(t *testing.T) {
	a := newArena(t, 4)
	q := newQueue()
	id, _ := a.Grab(q)
	assert.Equal(t, uint32(0), a.Pins(id))
	a.Pin(id)
	a.Pin(id)
	assert.Equal(t, uint32(2), a.Pins(id))
	assert.False(t, a.Unpin(id), "a queued segment is not retired")
	assert.False(t, a.Unpin(id))
	assert.Equal(t, uint32(0), a.Pins(id))
	check(t, a, q)

	held, _ := a.Take()
	a.Pin(held)
	assert.Equal(t, uint32(1), a.Pins(held))
	assert.False(t, a.Unpin(held), "a held segment is not retired")
	assert.Equal(t, uint32(0), a.Pins(held))
	assert.Equal(t, uint32(0), a.Pins(id), "pins are per segment")
	check(t, a, q)
}

func TestRetire(t *testing.T) {
	a := newArena(t, 4)
	q := newQueue()
	grabN(t, a, q, 4)

	// Unpinned: Retire reports it and the caller releases it at once.
	a.Seg(1).Used, a.Seg(1).Live = 30, 20
	assert.True(t, a.Retire(q, 1))
	assert.True(t, a.IsRetired(1))
	assert.False(t, a.IsQueued(1))
	assert.Equal(t, 1, q.Retired())
	assert.Equal(t, uint32(30), a.Seg(1).Used, "Retire keeps the record for the last reader")
	assert.Equal(t, []ID{0, 2, 3}, ids(t, a, q))
	check(t, a, q)
	a.Release(q, 1)
	assert.Equal(t, 0, q.Retired())
	assert.False(t, a.IsRetired(1))
	assert.Equal(t, []ID{1}, freeList(a))
	assert.Equal(t, uint32(0), a.Seg(1).Used)
	check(t, a, q)

	// Pinned twice: only the last Unpin reports it.
	a.Pin(3)
	a.Pin(3)
	assert.False(t, a.Retire(q, 3))
	assert.Equal(t, 1, q.Retired())
	assert.Equal(t, []ID{0, 2}, ids(t, a, q))
	assert.Equal(t, ID(2), q.Tail())
	check(t, a, q)
	assert.False(t, a.Unpin(3))
	assert.Equal(t, 1, q.Retired())
	check(t, a, q)
	assert.True(t, a.Unpin(3))
	assert.True(t, a.IsRetired(3), "the caller releases it, not Unpin")
	assert.Equal(t, 1, a.Free(), "a retired segment is not free until released")
	check(t, a, q)
	a.Release(q, 3)
	assert.Equal(t, 0, q.Retired())
	assert.Equal(t, []ID{3, 1}, freeList(a))
	assert.Equal(t, 2, a.Free())
	check(t, a, q)
}

func TestResetQueueUnpinned(t *testing.T) {
	a := newArena(t, 6)
	q := newQueue()
	grabN(t, a, q, 4)
	a.Release(q, 2)
	assert.True(t, a.Retire(q, 0))
	a.Release(q, 0)
	a.Seg(1).Used, a.Seg(1).Live, a.Seg(1).MinExpire = 100, 50, 7
	check(t, a, q)
	require.Equal(t, []ID{1, 3}, ids(t, a, q))
	require.Equal(t, []ID{0, 2}, freeList(a))

	a.ResetQueue(q)
	check(t, a, q)
	assert.Equal(t, None, q.Head())
	assert.Equal(t, None, q.Tail())
	assert.Equal(t, 0, q.Queued())
	assert.Equal(t, 0, q.Retired())
	assert.Equal(t, uint32(4), a.hdr.fresh, "ResetQueue never lowers the fresh mark")
	assert.Equal(t, []ID{3, 1, 0, 2}, freeList(a), "the queue's segments are freed head first")
	assert.Equal(t, 6, a.Free())
	assert.Equal(t, Segment{prev: None, next: 0, state: stateFree}, *a.Seg(1), "the record is cleared")

	for _, want := range []ID{3, 1, 0, 2, 4, 5} {
		r := a.Seg(want)
		r.Used, r.Live, r.MinExpire = 9, 9, 9 // stale bytes from before the reset
		id, ok := a.Grab(q)
		require.True(t, ok)
		require.Equal(t, want, id)
		require.Equal(t, uint32(0), a.Seg(id).Used)
		require.Equal(t, uint32(0), a.Seg(id).Live)
		require.Equal(t, int64(0), a.Seg(id).MinExpire)
		check(t, a, q)
	}
	_, ok := a.Grab(q)
	assert.False(t, ok)
}

func TestResetQueuePinned(t *testing.T) {
	a := newArena(t, 6)
	q := newQueue()
	grabN(t, a, q, 5)
	a.Release(q, 4)
	a.Seg(1).Used, a.Seg(1).Live = 100, 100
	a.Pin(1)
	a.Pin(3)
	check(t, a, q)

	a.ResetQueue(q)
	check(t, a, q)
	assert.Equal(t, uint32(5), a.hdr.fresh)
	assert.Empty(t, ids(t, a, q))
	assert.Equal(t, 2, q.Retired())
	assert.True(t, a.IsRetired(1))
	assert.True(t, a.IsRetired(3))
	assert.Equal(t, uint32(0), a.Seg(1).Used)
	assert.Equal(t, uint32(0), a.Seg(1).Live)
	assert.Equal(t, []ID{2, 0, 4}, freeList(a), "unpinned segments are freed head first")
	assert.Equal(t, 4, a.Free())

	// A second ResetQueue while still pinned keeps them retired and counts them once.
	a.ResetQueue(q)
	check(t, a, q)
	assert.Equal(t, 2, q.Retired())
	assert.Equal(t, []ID{2, 0, 4}, freeList(a))

	// Grabs take the free ones, then fresh ones, never the retired ones.
	var got []ID
	for {
		id, ok := a.Grab(q)
		if !ok {
			break
		}
		got = append(got, id)
	}
	assert.Equal(t, []ID{2, 0, 4, 5}, got)
	check(t, a, q)

	assert.True(t, a.Unpin(1))
	a.Release(q, 1)
	check(t, a, q)
	assert.Equal(t, 1, q.Retired())
	id, ok := a.Grab(q)
	require.True(t, ok)
	assert.Equal(t, ID(1), id)
	assert.True(t, a.Unpin(3))
	a.Release(q, 3)
	assert.Equal(t, 0, q.Retired())
	check(t, a, q)
	assert.Equal(t, []ID{2, 0, 4, 5, 1}, ids(t, a, q))
	assert.Equal(t, []ID{3}, freeList(a))
	assert.Equal(t, 1, a.Free())
}

// TestResetQueueLeavesOtherQueues resets one of two queues sharing a pool: only its own
// segments change; the other queue, its records, its retired segment and a held segment are
// untouched, and the freed segments serve the other queue.
func TestResetQueueLeavesOtherQueues(t *testing.T) {
	a := newArena(t, 8)
	q1, q2 := newQueue(), newQueue()
	for range 3 {
		grabN(t, a, q1, 1)
		grabN(t, a, q2, 1)
	}
	held, ok := a.Take()
	require.True(t, ok)
	require.Equal(t, ID(6), held)
	require.Equal(t, []ID{0, 2, 4}, ids(t, a, q1))
	require.Equal(t, []ID{1, 3, 5}, ids(t, a, q2))
	for id := range ID(6) {
		r := a.Seg(id)
		r.Used, r.Live, r.MinExpire = 10*uint32(id+1), 5*uint32(id+1), 100+int64(id)
	}
	a.Pin(2)
	a.Pin(3)
	a.Pin(5)
	require.False(t, a.Retire(q2, 5))
	check(t, a, q1, q2)
	assert.Equal(t, 1, a.Free())

	q2Before := *q2
	recBefore := map[ID]Segment{}
	for _, id := range []ID{1, 3, 5, held} {
		recBefore[id] = *a.Seg(id)
	}

	a.ResetQueue(q1)
	check(t, a, q1, q2)
	assert.Empty(t, ids(t, a, q1))
	assert.Equal(t, 1, q1.Retired(), "segment 2 is pinned")
	assert.True(t, a.IsRetired(2))
	assert.Equal(t, uint32(0), a.Seg(2).Used)
	assert.Equal(t, []ID{4, 0}, freeList(a))
	assert.Equal(t, 3, a.Free())
	assert.Equal(t, 1, a.Held())
	assert.Equal(t, q2Before, *q2, "the other queue is untouched")
	for id, want := range recBefore {
		assert.Equal(t, want, *a.Seg(id), "record %d is not q1's", id)
	}
	assert.Equal(t, []ID{1, 3}, ids(t, a, q2))
	assert.Equal(t, 1, q2.Retired())

	// q1's freed segments serve q2.
	id, ok := a.Grab(q2)
	require.True(t, ok)
	assert.Equal(t, ID(4), id)
	check(t, a, q1, q2)

	a.ResetQueue(q2)
	check(t, a, q1, q2)
	assert.Empty(t, ids(t, a, q2))
	assert.Equal(t, 2, q2.Retired(), "segment 5 from before and segment 3 now")
	assert.Equal(t, 1, q1.Retired())
	assert.Equal(t, []ID{4, 1, 0}, freeList(a))

	assert.True(t, a.Unpin(2))
	a.Release(q1, 2)
	assert.True(t, a.Unpin(3))
	a.Release(q2, 3)
	assert.True(t, a.Unpin(5))
	a.Release(q2, 5)
	a.ReleaseHeld(held)
	check(t, a, q1, q2)
	assert.Equal(t, 0, q1.Retired())
	assert.Equal(t, 0, q2.Retired())
	assert.Equal(t, 0, a.Held())
	assert.Equal(t, []ID{6, 5, 3, 2, 4, 1, 0}, freeList(a))
	assert.Equal(t, 8, a.Free())
}

// TestTwoQueuesShareThePool moves segments between two owners through the pool.
func TestTwoQueuesShareThePool(t *testing.T) {
	a := newArena(t, 6)
	q1, q2 := newQueue(), newQueue()
	assert.Equal(t, []ID{0, 1, 2}, grabN(t, a, q1, 3))
	assert.Equal(t, []ID{3, 4}, grabN(t, a, q2, 2))
	check(t, a, q1, q2)
	assert.Equal(t, 1, a.Free())

	a.Release(q1, 1)
	check(t, a, q1, q2)
	assert.Equal(t, 2, a.Free())
	assert.Equal(t, []ID{0, 2}, ids(t, a, q1))

	// The segment q1 gave up goes to q2 before any fresh one.
	id, ok := a.Grab(q2)
	require.True(t, ok)
	assert.Equal(t, ID(1), id)
	assert.Equal(t, 1, a.Free())
	id, ok = a.Grab(q2)
	require.True(t, ok)
	assert.Equal(t, ID(5), id)
	assert.Equal(t, 0, a.Free())
	assert.Equal(t, []ID{3, 4, 1, 5}, ids(t, a, q2))
	check(t, a, q1, q2)

	// The pool is empty for both.
	_, ok = a.Grab(q1)
	assert.False(t, ok)
	_, ok = a.Grab(q2)
	assert.False(t, ok)
	_, ok = a.Take()
	assert.False(t, ok)
	check(t, a, q1, q2)

	a.Seg(3).Used, a.Seg(3).Live = 60, 30
	a.Release(q2, 3)
	id, ok = a.Grab(q1)
	require.True(t, ok)
	assert.Equal(t, ID(3), id)
	assert.Equal(t, uint32(0), a.Seg(3).Used, "q1 does not see q2's record")
	assert.Equal(t, []ID{0, 2, 3}, ids(t, a, q1))
	assert.Equal(t, []ID{4, 1, 5}, ids(t, a, q2))
	check(t, a, q1, q2)

	// Moves and retirements stay within their queue.
	a.MoveToTail(q1, 0)
	assert.Equal(t, []ID{2, 3, 0}, ids(t, a, q1))
	assert.Equal(t, []ID{4, 1, 5}, ids(t, a, q2))
	a.Pin(1)
	assert.False(t, a.Retire(q2, 1))
	assert.Equal(t, []ID{4, 5}, ids(t, a, q2))
	assert.Equal(t, 1, q2.Retired())
	assert.Equal(t, 0, q1.Retired())
	assert.Equal(t, 0, a.Free())
	check(t, a, q1, q2)

	// Check needs every queue: the segments of one left out are lost.
	assert.ErrorContains(t, a.Check(q1), "segment 4 is lost (state 2)", "retired segment 1 counts, queued 4 does not")
	assert.ErrorContains(t, a.Check(q2), "segment 0 is lost (state 2)")
	assert.ErrorContains(t, a.Check(), "segment 0 is lost (state 2)")

	assert.True(t, a.Unpin(1))
	a.Release(q2, 1)
	assert.Equal(t, 1, a.Free())
	id, ok = a.Grab(q1)
	require.True(t, ok)
	assert.Equal(t, ID(1), id)
	assert.Equal(t, []ID{2, 3, 0, 1}, ids(t, a, q1))
	assert.Equal(t, 0, q2.Retired())
	assert.Equal(t, 0, a.Free())
	check(t, a, q1, q2)
}

func TestTakeAndReleaseHeld(t *testing.T) {
	a := newArena(t, 4)
	q := newQueue()
	id, ok := a.Take()
	require.True(t, ok)
	assert.Equal(t, ID(0), id)
	assert.True(t, a.IsHeld(0))
	assert.False(t, a.IsQueued(0))
	assert.False(t, a.IsRetired(0))
	assert.Equal(t, 1, a.Held())
	assert.Equal(t, 3, a.Free())
	assert.Equal(t, uint32(1), a.hdr.fresh)
	assert.Empty(t, ids(t, a, q), "a held segment is in no queue")
	check(t, a, q)

	id, _ = a.Grab(q)
	assert.Equal(t, ID(1), id)
	id, _ = a.Take()
	assert.Equal(t, ID(2), id)
	assert.Equal(t, 2, a.Held())
	assert.Equal(t, 1, a.Free())
	check(t, a, q)

	a.ReleaseHeld(0)
	assert.False(t, a.IsHeld(0))
	assert.Equal(t, 1, a.Held())
	assert.Equal(t, []ID{0}, freeList(a))
	assert.Equal(t, 2, a.Free())
	check(t, a, q)

	// A released held segment is back in the pool, for a queue or another Take.
	id, _ = a.Grab(q)
	assert.Equal(t, ID(0), id)
	assert.Equal(t, []ID{1, 0}, ids(t, a, q))
	id, _ = a.Take()
	assert.Equal(t, ID(3), id)
	assert.Equal(t, 2, a.Held())
	assert.Equal(t, 0, a.Free())
	id, ok = a.Take()
	assert.False(t, ok)
	assert.Equal(t, None, id)
	assert.Equal(t, 2, a.Held())
	check(t, a, q)
	assert.ErrorContains(t, a.Check(), "segment 0 is lost (state 2)")

	// Take clears the record, as Grab does.
	a.Release(q, 1)
	a.Seg(1).Used, a.Seg(1).Live, a.Seg(1).MinExpire = 8, 8, 8
	id, _ = a.Take()
	assert.Equal(t, ID(1), id)
	assert.Equal(t, Segment{prev: None, next: None, state: stateHeld}, *a.Seg(1))
	assert.Equal(t, 3, a.Held())
	check(t, a, q)

	a.ReleaseHeld(2)
	a.ReleaseHeld(3)
	a.ReleaseHeld(1)
	assert.Equal(t, 0, a.Held())
	assert.Equal(t, []ID{1, 3, 2}, freeList(a))
	assert.Equal(t, 3, a.Free())
	assert.Equal(t, []ID{0}, ids(t, a, q))
	check(t, a, q)
	assert.Panics(t, func() { a.ReleaseHeld(1) }, "free")
	assert.Panics(t, func() { a.ReleaseHeld(0) }, "queued")
	assert.Equal(t, 0, a.Held())
	check(t, a, q)
}

func TestCheckFindsFaults(t *testing.T) {
	// Five segments: q holds 0 and 2, 1 is free, 3 is held, 4 is fresh.
	setup := func() (*Arena, *Queue) {
		a := newArena(t, 5)
		q := newQueue()
		grabN(t, a, q, 3)
		held, _ := a.Take()
		require.Equal(t, ID(3), held)
		a.Release(q, 1)
		check(t, a, q)
		return a, q
	}
	faults := []struct {
		name    string
		corrupt func(a *Arena, q *Queue)
		want    string
		inQueue bool // CheckQueue finds it too
	}{
		{"prev link", func(a *Arena, q *Queue) { a.Seg(2).prev = 2 }, "segment 2: state 2, prev 2, want queued after 0", true},
		{"queued count", func(a *Arena, q *Queue) { q.queued++ }, "queue ends at 2 with 2 segments, its header says 2 and 3", true},
		{"tail", func(a *Arena, q *Queue) { q.setTail(0) }, "queue ends at 2 with 2 segments, its header says 0 and 2", true},
		{"live > used", func(a *Arena, q *Queue) { a.Seg(0).Used, a.Seg(0).Live = 10, 11 }, "segment 0: live 11, used 10, size 128", true},
		{"used > size", func(a *Arena, q *Queue) { a.Seg(0).Used, a.Seg(0).Live = testSeg+8, 0 }, "segment 0: live 0, used 136, size 128", true},
		{"queue loops", func(a *Arena, q *Queue) { a.Seg(2).next = 0 }, "segment 0: state 2, prev 4294967295, want queued after 2", true},
		{"queue out of range", func(a *Arena, q *Queue) { q.setHead(99) }, "queue holds segment 99 of 5", true},
		{"free segment queued", func(a *Arena, q *Queue) { a.Seg(1).state = stateQueued }, "free segment 1 is also elsewhere, fresh, or in state 2", false},
		{"queued segment free", func(a *Arena, q *Queue) { a.hdr.free = 2 }, "free segment 2 is also elsewhere, fresh, or in state 2", false},
		{"held segment free", func(a *Arena, q *Queue) { a.Seg(3).next, a.hdr.free, a.hdr.nfree = 1, 3, 2 }, "free segment 3 is also elsewhere, fresh, or in state 4", false},
		{"fresh segment free", func(a *Arena, q *Queue) {
			a.Seg(4).state, a.Seg(4).next, a.hdr.free, a.hdr.nfree = stateFree, 1, 4, 2
		}, "free segment 4 is at or above the fresh mark 4", false},
		{"free list loops", func(a *Arena, q *Queue) { a.Seg(1).next = 1 }, "free segment 1 is also elsewhere, fresh, or in state 1", false},
		{"free list cut", func(a *Arena, q *Queue) { a.hdr.free = None }, "0 free segments, header says 1", false},
		{"free count", func(a *Arena, q *Queue) { a.hdr.nfree++ }, "1 free segments, header says 2", false},
		{"lost free segment", func(a *Arena, q *Queue) { a.hdr.free, a.hdr.nfree = None, 0 }, "segment 1 is lost (state 1)", false},
		{"lost held segment", func(a *Arena, q *Queue) { a.Seg(3).state = stateFresh }, "segment 3 is lost (state 0)", false},
		{"held count", func(a *Arena, q *Queue) { a.hdr.held = 0 }, "1 held and 0 retired segments, the header and queues say 0 and 0", false},
		{"retired count", func(a *Arena, q *Queue) { q.retired = 1 }, "1 held and 0 retired segments, the header and queues say 1 and 1", false},
		{"above fresh", func(a *Arena, q *Queue) { a.hdr.fresh = 1 }, "queued segment 2 is above the fresh mark 1", false},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			a, q := setup()
			f.corrupt(a, q)
			assert.ErrorContains(t, a.Check(q), f.want)
			if f.inQueue {
				assert.ErrorContains(t, a.CheckQueue(q), f.want)
			} else {
				assert.NoError(t, a.CheckQueue(q), "CheckQueue looks only at the queue")
			}
		})
	}
}

// TestCheckTwoQueues corrupts an arena shared by two queues: Check must find a segment that no
// list holds or that two lists hold, even where each queue on its own is sound.
func TestCheckTwoQueues(t *testing.T) {
	// Seven segments: q1 holds 0 and 2, q2 holds 1 and 3 and has retired 6, 4 is held, 5 free.
	setup := func() (*Arena, *Queue, *Queue) {
		a := newArena(t, 7)
		q1, q2 := newQueue(), newQueue()
		grabN(t, a, q1, 1)
		grabN(t, a, q2, 1)
		grabN(t, a, q1, 1)
		grabN(t, a, q2, 1)
		held, _ := a.Take()
		require.Equal(t, ID(4), held)
		require.Equal(t, []ID{5}, grabN(t, a, q1, 1))
		require.Equal(t, []ID{6}, grabN(t, a, q2, 1))
		a.Pin(6)
		require.False(t, a.Retire(q2, 6))
		a.Release(q1, 5)
		check(t, a, q1, q2)
		require.Equal(t, []ID{0, 2}, ids(t, a, q1))
		require.Equal(t, []ID{1, 3}, ids(t, a, q2))
		require.Equal(t, []ID{5}, freeList(a))
		require.Equal(t, 1, q2.Retired())
		return a, q1, q2
	}
	t.Run("queue left out", func(t *testing.T) {
		a, q1, q2 := setup()
		assert.ErrorContains(t, a.Check(q1), "segment 1 is lost (state 2)")
		assert.ErrorContains(t, a.Check(q2), "segment 0 is lost (state 2)")
	})
	t.Run("queue given twice", func(t *testing.T) {
		a, q1, q2 := setup()
		assert.ErrorContains(t, a.Check(q1, q2, q1), "segment 0 queued twice")
	})
	t.Run("segment dropped from a queue", func(t *testing.T) {
		a, q1, q2 := setup()
		a.Seg(1).next, q2.queued = None, 1
		q2.setTail(1)
		require.NoError(t, a.CheckQueue(q2), "q2 on its own is sound")
		assert.ErrorContains(t, a.Check(q1, q2), "segment 3 is lost (state 2)")
	})
	t.Run("queues share their segments", func(t *testing.T) {
		a, q1, q2 := setup()
		*q2 = *q1 // q2's header is a copy of q1's
		require.NoError(t, a.CheckQueue(q2), "q2 on its own is sound")
		assert.ErrorContains(t, a.Check(q1, q2), "segment 0 queued twice")
	})
	t.Run("segment linked into both queues", func(t *testing.T) {
		a, q1, q2 := setup()
		a.Seg(3).next, q2.queued = 2, 3 // q1's tail appended to q2 too
		q2.setTail(2)
		assert.ErrorContains(t, a.Check(q1, q2), "segment 2: state 2, prev 0, want queued after 3")
	})
	t.Run("queued segment also free", func(t *testing.T) {
		a, q1, q2 := setup()
		a.Seg(5).next, a.hdr.nfree = 3, 2
		require.NoError(t, a.CheckQueue(q1))
		require.NoError(t, a.CheckQueue(q2))
		assert.ErrorContains(t, a.Check(q1, q2), "free segment 3 is also elsewhere, fresh, or in state 2")
	})
	t.Run("retired counted by no queue", func(t *testing.T) {
		a, q1, q2 := setup()
		q2.retired = 0
		assert.ErrorContains(t, a.Check(q1, q2), "1 held and 1 retired segments, the header and queues say 1 and 0")
	})
	t.Run("retired counted twice", func(t *testing.T) {
		a, q1, q2 := setup()
		q1.retired = 1
		assert.ErrorContains(t, a.Check(q1, q2), "1 held and 1 retired segments, the header and queues say 1 and 2")
	})
	t.Run("held segment marked queued", func(t *testing.T) {
		a, q1, q2 := setup()
		a.Seg(4).state = stateQueued
		assert.ErrorContains(t, a.Check(q1, q2), "segment 4 is lost (state 2)")
	})
}

// Model states of a segment.
const (
	mFree    = iota // fresh or free
	mQueued         // in queue owner[id]
	mRetired        // retired from queue owner[id]
	mHeld           // handed out by Take
)

// harness drives an arena and a plain-Go model of it side by side: the queues as lists, the
// free list as a stack, the fresh mark, each segment's state, pins and the record fields the
// owner writes. Each method makes one arena call as an owner would, checks its result against
// the model and updates the model; verify compares everything the arena exposes.
type harness struct {
	t       testing.TB
	a       *Arena
	qs      []*Queue
	queues  [][]ID // per queue, head first
	retired []int  // per queue
	state   []int
	owner   []int // the queue of a queued or retired segment
	pins    []uint32
	used    []uint32
	live    []uint32
	expire  []int64
	free    []ID // the free list, the next one Grab takes last
	fresh   int
	held    int
}

func newHarness(t testing.TB, nsegs, nqueues int) *harness {
	size := headerSize + Align - 1 + nsegs*(testSeg+recordSize)
	region := make([]byte, size)
	a, err := New(region, testSeg)
	require.NoError(t, err)
	require.Equal(t, nsegs, a.Len())
	h := &harness{
		t: t, a: a,
		queues:  make([][]ID, nqueues),
		retired: make([]int, nqueues),
		state:   make([]int, nsegs),
		owner:   make([]int, nsegs),
		pins:    make([]uint32, nsegs),
		used:    make([]uint32, nsegs),
		live:    make([]uint32, nsegs),
		expire:  make([]int64, nsegs),
	}
	for range nqueues {
		h.qs = append(h.qs, newQueue())
	}
	h.verify("new")
	return h
}

// next is the segment the pool hands out next, per the model.
func (h *harness) next() (ID, bool) {
	if n := len(h.free); n > 0 {
		return h.free[n-1], true
	}
	if h.fresh < len(h.state) {
		return ID(h.fresh), true
	}
	return None, false
}

// handOut takes the model's next segment out of the pool.
func (h *harness) handOut(id ID) {
	if n := len(h.free); n > 0 {
		h.free = h.free[:n-1]
	} else {
		h.fresh++
	}
	h.used[id], h.live[id], h.expire[id] = 0, 0, 0
}

// putFree returns id to the model's pool.
func (h *harness) putFree(id ID) {
	h.state[id] = mFree
	h.used[id], h.live[id], h.expire[id] = 0, 0, 0
	h.free = append(h.free, id)
}

// pick returns the x-th segment of queue k, or false if it is empty.
func (h *harness) pick(k, x int) (int, ID, bool) {
	q := h.queues[k]
	if len(q) == 0 {
		return 0, None, false
	}
	i := x % len(q)
	return i, q[i], true
}

func (h *harness) grab(k int) {
	want, wantOK := h.next()
	id, ok := h.a.Grab(h.qs[k])
	require.Equal(h.t, wantOK, ok, "grab ok")
	require.Equal(h.t, want, id, "grab")
	if ok {
		h.handOut(id)
		h.state[id], h.owner[id] = mQueued, k
		h.queues[k] = append(h.queues[k], id)
	}
}

func (h *harness) take() {
	want, wantOK := h.next()
	id, ok := h.a.Take()
	require.Equal(h.t, wantOK, ok, "take ok")
	require.Equal(h.t, want, id, "take")
	if ok {
		h.handOut(id)
		h.state[id] = mHeld
		h.held++
	}
}

// releaseHeld gives back the x-th held segment, if any.
func (h *harness) releaseHeld(x int) {
	if h.held == 0 {
		return
	}
	x %= h.held
	for id, s := range h.state {
		if s != mHeld {
			continue
		}
		if x > 0 {
			x--
			continue
		}
		h.a.ReleaseHeld(ID(id))
		h.held--
		h.putFree(ID(id))
		return
	}
	h.t.Fatalf("model holds %d segments but none is held", h.held)
}

// release frees the x-th segment of queue k, unless a reader pins it (no owner releases a
// queued segment a reader is in).
func (h *harness) release(k, x int) {
	i, id, ok := h.pick(k, x)
	if !ok || h.pins[id] != 0 {
		return
	}
	h.a.Release(h.qs[k], id)
	h.queues[k] = slices.Delete(h.queues[k], i, i+1)
	h.putFree(id)
}

func (h *harness) moveToTail(k, x int) {
	i, id, ok := h.pick(k, x)
	if !ok {
		return
	}
	h.a.MoveToTail(h.qs[k], id)
	h.queues[k] = append(slices.Delete(h.queues[k], i, i+1), id)
}

// transfer moves the x-th segment of queue k to the tail of the next queue.
func (h *harness) transfer(k, x int) {
	i, id, ok := h.pick(k, x)
	if !ok {
		return
	}
	to := (k + 1) % len(h.qs)
	h.a.Transfer(h.qs[k], h.qs[to], id)
	h.queues[k] = slices.Delete(h.queues[k], i, i+1)
	h.queues[to] = append(h.queues[to], id)
	h.owner[id] = to
}

// pin pins the x-th segment of queue k: readers find only queued segments.
func (h *harness) pin(k, x int) {
	_, id, ok := h.pick(k, x)
	if !ok {
		return
	}
	h.a.Pin(id)
	h.pins[id]++
}

// unpin drops one pin of the x-th pinned segment, and on the report of the last view of a
// retired segment releases it as its owner does: under the locks, if it is still retired and
// unpinned.
func (h *harness) unpin(x int) {
	var pinned []ID
	for id, p := range h.pins {
		if p > 0 {
			pinned = append(pinned, ID(id))
		}
	}
	if len(pinned) == 0 {
		return
	}
	id := pinned[x%len(pinned)]
	h.pins[id]--
	last := h.a.Unpin(id)
	require.Equal(h.t, h.pins[id] == 0 && h.state[id] == mRetired, last, "unpin %d", id)
	if last && h.a.IsRetired(id) && h.a.Pins(id) == 0 {
		k := h.owner[id]
		h.a.Release(h.qs[k], id)
		h.retired[k]--
		h.putFree(id)
	}
}

func (h *harness) retire(k, x int) {
	i, id, ok := h.pick(k, x)
	if !ok {
		return
	}
	unpinned := h.a.Retire(h.qs[k], id)
	require.Equal(h.t, h.pins[id] == 0, unpinned, "retire %d", id)
	h.queues[k] = slices.Delete(h.queues[k], i, i+1)
	h.state[id] = mRetired // Retire keeps the record for the last reader
	h.retired[k]++
	if unpinned {
		h.a.Release(h.qs[k], id)
		h.retired[k]--
		h.putFree(id)
	}
}

func (h *harness) resetQueue(k int) {
	h.a.ResetQueue(h.qs[k])
	for _, id := range h.queues[k] {
		if h.pins[id] > 0 {
			h.state[id] = mRetired
			h.used[id], h.live[id], h.expire[id] = 0, 0, 0
			h.retired[k]++
		} else {
			h.putFree(id)
		}
	}
	h.queues[k] = nil
}

// write sets the record of queue k's tail as an owner appending to it does.
func (h *harness) write(k, x int) {
	n := len(h.queues[k])
	if n == 0 {
		return
	}
	id := h.queues[k][n-1]
	require.Equal(h.t, id, h.qs[k].Tail())
	s := h.a.Seg(id)
	s.Used = uint32(x*7) % uint32(testSeg+1)
	s.Live = s.Used / uint32(1+x%3)
	s.MinExpire = int64(x) * 1000
	h.used[id], h.live[id], h.expire[id] = s.Used, s.Live, s.MinExpire
}

// segView is what the arena tells about one segment.
type segView struct {
	State           int
	Pins            uint32
	Used, Live      uint32
	MinExpire       int64
	UntouchedRecord bool // at or above the fresh mark, the record is all zero
}

// arenaView is what the arena tells about itself and its queues.
type arenaView struct {
	Queues  [][]ID
	Retired []int
	Free    []ID // from its head
	Fresh   int
	NFree   int
	Held    int
	Segs    []segView
}

// view reads the arena.
func (h *harness) view() arenaView {
	a := h.a
	v := arenaView{Fresh: int(a.hdr.fresh), NFree: a.Free(), Held: a.Held(), Free: freeList(a)}
	for _, q := range h.qs {
		got := []ID{}
		for id := q.Head(); id != None && len(got) <= a.Len(); id = a.Next(id) {
			got = append(got, id)
		}
		v.Queues = append(v.Queues, got)
		v.Retired = append(v.Retired, q.Retired())
	}
	for id := range ID(a.Len()) {
		s := segView{State: mFree, Pins: a.Pins(id)}
		switch {
		case a.IsQueued(id):
			s.State = mQueued
		case a.IsRetired(id):
			s.State = mRetired
		case a.IsHeld(id):
			s.State = mHeld
		}
		r := a.Seg(id)
		s.Used, s.Live, s.MinExpire = r.Used, r.Live, r.MinExpire
		s.UntouchedRecord = int(id) >= v.Fresh && *r == Segment{}
		v.Segs = append(v.Segs, s)
	}
	return v
}

// want is what the model says view must return.
func (h *harness) want() arenaView {
	n := len(h.state)
	v := arenaView{Fresh: h.fresh, NFree: len(h.free) + n - h.fresh, Held: h.held, Free: []ID{}}
	for i := len(h.free) - 1; i >= 0; i-- {
		v.Free = append(v.Free, h.free[i])
	}
	for k := range h.qs {
		v.Queues = append(v.Queues, append([]ID{}, h.queues[k]...))
		v.Retired = append(v.Retired, h.retired[k])
	}
	for id := range n {
		v.Segs = append(v.Segs, segView{
			State: h.state[id], Pins: h.pins[id],
			Used: h.used[id], Live: h.live[id], MinExpire: h.expire[id],
			UntouchedRecord: id >= h.fresh,
		})
	}
	return v
}

// verify runs Check over every queue and compares the arena with the model.
func (h *harness) verify(step any) {
	h.t.Helper()
	if err := h.a.Check(h.qs...); err != nil {
		h.t.Fatalf("step %v: %v", step, err)
	}
	for k, q := range h.qs {
		if err := h.a.CheckQueue(q); err != nil {
			h.t.Fatalf("step %v: queue %d: %v", step, k, err)
		}
	}
	if got, want := h.view(), h.want(); !reflect.DeepEqual(got, want) {
		require.Equal(h.t, want, got, "step %v", step)
	}
}

// do runs operation op (taken modulo numOps) on queue k with argument x.
func (h *harness) do(op, k, x int) {
	switch op % numOps {
	case 0:
		h.grab(k)
	case 1:
		h.transfer(k, x)
	case 2:
		h.release(k, x)
	case 3:
		h.moveToTail(k, x)
	case 4:
		h.pin(k, x)
	case 5:
		h.unpin(x)
	case 6:
		h.retire(k, x)
	case 7:
		h.resetQueue(k)
	case 8:
		h.take()
	case 9:
		h.releaseHeld(x)
	case 10:
		h.write(k, x)
	}
}

// numOps is the number of operations do knows.
const numOps = 11

// TestChurn drives an arena of three queues through random steps against the model, checking
// the whole structure after every step.
func TestChurn(t *testing.T) {
	const n, nq = 16, 3
	h := newHarness(t, n, nq)
	rng := uint64(1)
	next := func(k int) int {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(k))
	}
	counts := make([]int, numOps)
	for step := range 20000 {
		op := next(numOps)
		if op == 7 && next(20) != 0 {
			continue // ResetQueue empties a queue: keep it rare so queues grow
		}
		counts[op]++
		h.do(op, next(nq), next(256))
		h.verify(step)
	}
	for op, c := range counts {
		assert.NotZero(t, c, "operation %d never ran", op)
	}
}

// TestStaleRetiredAfterReset is the protocol a View ending during a ResetQueue follows.
// ResetQueue retires a segment before it reads the pins, so a reader that unpins in between sees
// the retired state and reports its last view, while ResetQueue sees no pin and frees the
// segment itself. Before the owner takes its locks to act on the report, another queue grabs the
// segment. The owner must then see that the segment is no longer retired and leave it alone.
func TestStaleRetiredAfterReset(t *testing.T) {
	a := newArena(t, 4)
	q1, q2 := newQueue(), newQueue()
	grabN(t, a, q1, 3)

	// First the plain case: the reader is still in when ResetQueue runs.
	a.Pin(0)
	a.ResetQueue(q1)
	require.True(t, a.IsRetired(0))
	require.Equal(t, 1, q1.Retired())
	require.True(t, a.Unpin(0))
	if a.IsRetired(0) && a.Pins(0) == 0 { // what the owner checks under its locks
		a.Release(q1, 0)
	}
	check(t, a, q1, q2)
	require.Equal(t, 0, q1.Retired())
	require.Equal(t, []ID{0, 2, 1}, freeList(a))

	// Now the race, step by step. q1 holds 0, 2 and 1; a reader is in 2.
	require.Equal(t, []ID{0, 2, 1}, grabN(t, a, q1, 3))
	a.Pin(2)
	// ResetQueue's first step on segment 2 stores the retired state; the reader unpins now.
	atomic.StoreUint32(&a.Seg(2).state, stateRetired)
	require.True(t, a.Unpin(2), "the reader sees a retired segment and no pin left")
	// ResetQueue goes on and reads no pin (its retire step is undone here and redone by it).
	atomic.StoreUint32(&a.Seg(2).state, stateQueued)
	a.ResetQueue(q1)
	check(t, a, q1, q2)
	assert.Equal(t, 0, q1.Retired(), "ResetQueue saw no pin and freed the segment")
	assert.Equal(t, []ID{1, 2, 0}, freeList(a))

	// Another owner grabs it before q1's owner acts on the report.
	assert.Equal(t, []ID{1, 2}, grabN(t, a, q2, 2))
	require.False(t, a.IsRetired(2))
	if a.IsRetired(2) && a.Pins(2) == 0 { // the owner's check under its locks
		a.Release(q1, 2)
	}
	check(t, a, q1, q2)
	assert.Equal(t, 0, q1.Retired())
	assert.Equal(t, []ID{1, 2}, ids(t, a, q2))

	// Every segment is handed out exactly once.
	seen := map[ID]bool{1: true, 2: true}
	for {
		id, ok := a.Grab(q1)
		if !ok {
			break
		}
		require.False(t, seen[id], "segment %d handed out twice", id)
		seen[id] = true
		check(t, a, q1, q2)
	}
	assert.Len(t, seen, 4)
}

// TestConcurrentUnpin runs readers that unpin a segment while its owner retires it (by Retire or
// ResetQueue) under its lock. Whichever side sees the last pin go, the segment is released
// exactly once, and the other queue is untouched. Run it with -race.
func TestConcurrentUnpin(t *testing.T) {
	const readers, rounds = 8, 400
	for round := range rounds {
		a := newArena(t, 4)
		q1, q2 := newQueue(), newQueue()
		var mu sync.Mutex // the pool's and both queues' locks
		id, _ := a.Grab(q1)
		other, _ := a.Grab(q2)
		for range readers {
			a.Pin(id)
		}
		var released atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 10 { // more views while this reader still holds its first
					a.Pin(id)
					assert.False(t, a.Unpin(id))
				}
				if a.Unpin(id) {
					mu.Lock()
					if a.IsRetired(id) && a.Pins(id) == 0 {
						a.Release(q1, id)
						released.Add(1)
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		for range round / 2 % 6 { // vary where the owner lands among the readers
			runtime.Gosched()
		}
		mu.Lock()
		if round%2 == 0 {
			a.ResetQueue(q1)
			if q1.Retired() == 0 {
				released.Add(1) // ResetQueue saw no pin and freed it
			}
		} else if a.Retire(q1, id) {
			a.Release(q1, id)
			released.Add(1)
		}
		mu.Unlock()
		wg.Wait()

		require.Equal(t, int32(1), released.Load(), "round %d", round)
		check(t, a, q1, q2)
		require.Equal(t, uint32(0), a.Pins(id))
		require.Equal(t, 0, q1.Retired())
		require.Empty(t, ids(t, a, q1))
		require.Equal(t, []ID{other}, ids(t, a, q2))
		require.Equal(t, []ID{id}, freeList(a))
		require.Equal(t, 3, a.Free())
	}
}

// Recover rebuilds the pool of a region whose owner died in the middle of its bookkeeping:
// the queues it keeps stay as they were, pins and retired segments are dropped, held segments
// are those the owner names, and every other segment handed out before is free again.
func TestRecover(t *testing.T) {
	a := newArena(t, 12)
	kept, dropped := newQueue(), newQueue()
	for range 3 {
		_, ok := a.Grab(kept)
		require.True(t, ok)
		_, ok = a.Grab(dropped)
		require.True(t, ok)
	}
	held, ok := a.Take()
	require.True(t, ok)
	other, ok := a.Take() // held once, not named as held by the owner now
	require.True(t, ok)
	pinned := kept.Head()
	a.Pin(pinned)
	retired := a.Next(pinned)
	a.Pin(retired)
	require.False(t, a.Retire(kept, retired))
	a.Seg(kept.Head()).Used = 40
	keptIDs := ids(t, a, kept)
	// The owner died inside the pool: its free list and counts are half-written, and it has
	// emptied the queue it does not trust.
	a.hdr.free, a.hdr.nfree, a.hdr.held = 7, 5, 0
	*dropped = Queue{}

	r, err := Recover(a.region, testSeg, func(id ID) bool { return id == held }, kept)
	require.NoError(t, err)
	check(t, r, kept)
	require.Equal(t, keptIDs, ids(t, r, kept))
	require.Zero(t, kept.Retired())
	require.Equal(t, uint32(40), r.Seg(pinned).Used)
	require.Zero(t, r.Pins(pinned))
	require.Zero(t, r.Pins(retired))
	require.True(t, r.IsHeld(held))
	require.False(t, r.IsHeld(other))
	require.Equal(t, 1, r.Held())
	require.Equal(t, 12-len(keptIDs)-1, r.Free())
	// Everything not kept can be handed out again, once each.
	seen := map[ID]bool{}
	for range r.Free() {
		id, ok := r.Take()
		require.True(t, ok)
		require.False(t, seen[id] || id == held || slices.Contains(keptIDs, id), "segment %d handed out twice", id)
		seen[id] = true
	}
	_, ok = r.Take()
	require.False(t, ok)

	// A queue that is not intact is refused, never trusted.
	a2 := newArena(t, 4)
	q := newQueue()
	_, _ = a2.Grab(q)
	q.head1 = 100
	_, err = Recover(a2.region, testSeg, func(ID) bool { return false }, q)
	require.Error(t, err)
}
