package arena

import (
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

func check(t *testing.T, a *Arena) {
	t.Helper()
	require.NoError(t, a.Check())
}

// queue returns the queued segments from head to tail, and checks the prev links agree.
func queue(t *testing.T, a *Arena) []ID {
	t.Helper()
	var q []ID
	prev := None
	for id := a.Head(); id != None; id = a.Next(id) {
		require.Equal(t, prev, a.Seg(id).prev)
		q = append(q, id)
		prev = id
	}
	require.Equal(t, prev, a.Tail())
	require.Equal(t, len(q), a.Queued())
	return q
}

// freeList returns the free list in order.
func freeList(a *Arena) []ID {
	var f []ID
	for id := a.hdr.free; id != None; id = a.records[id].next {
		f = append(f, id)
	}
	return f
}

func TestLayoutSizes(t *testing.T) {
	require.Equal(t, 32, recordSize)
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
	assert.Equal(t, uint32(0), a.hdr.fresh)
	assert.Equal(t, None, a.Head())
	assert.Equal(t, None, a.Tail())
	assert.Equal(t, 0, a.Queued())
	assert.Equal(t, 0, a.Retired())
	assert.Equal(t, testSeg, a.Size())
	assert.Equal(t, 8, a.Len())
	assert.Len(t, a.Data(), 8*testSeg)
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
	for want := range ID(4) {
		id, ok := a.Grab()
		require.True(t, ok)
		require.Equal(t, want, id, "fresh segments come in index order")
		require.Equal(t, uint32(want+1), a.hdr.fresh)
		require.True(t, a.IsQueued(id))
		require.Equal(t, id, a.Tail())
		require.Equal(t, ID(0), a.Head())
		check(t, a)
	}
	assert.Equal(t, []ID{0, 1, 2, 3}, queue(t, a))
	id, ok := a.Grab()
	assert.False(t, ok)
	assert.Equal(t, None, id)
	assert.Equal(t, uint32(4), a.hdr.fresh)
	check(t, a)
}

func TestReleaseAndRegrab(t *testing.T) {
	a := newArena(t, 4)
	for range 4 {
		_, ok := a.Grab()
		require.True(t, ok)
	}
	r := a.Seg(2)
	r.Used, r.Live, r.MinExpire = 100, 60, 12345

	a.Release(2) // middle of the queue
	check(t, a)
	assert.Equal(t, []ID{0, 1, 3}, queue(t, a))
	assert.Equal(t, []ID{2}, freeList(a))
	assert.False(t, a.IsQueued(2))
	assert.Equal(t, Segment{prev: None, next: None, state: stateFree}, *a.Seg(2))

	a.Release(0) // head
	check(t, a)
	assert.Equal(t, []ID{1, 3}, queue(t, a))
	assert.Equal(t, ID(1), a.Head())
	assert.Equal(t, []ID{0, 2}, freeList(a), "the free list is LIFO")

	a.Release(3) // tail
	check(t, a)
	assert.Equal(t, []ID{1}, queue(t, a))
	assert.Equal(t, ID(1), a.Tail())
	assert.Equal(t, []ID{3, 0, 2}, freeList(a))

	// Grab takes from the free list, most recently freed first, and clears the record.
	r = a.Seg(3)
	r.Used, r.Live, r.MinExpire = 7, 7, 7 // a stale record must not survive Grab
	id, ok := a.Grab()
	require.True(t, ok)
	assert.Equal(t, ID(3), id)
	assert.Equal(t, uint32(0), a.Seg(3).Used)
	assert.Equal(t, uint32(0), a.Seg(3).Live)
	assert.Equal(t, int64(0), a.Seg(3).MinExpire)
	assert.Equal(t, []ID{1, 3}, queue(t, a))
	check(t, a)

	a.Release(1)
	a.Release(3)
	check(t, a)
	assert.Empty(t, queue(t, a))
	assert.Equal(t, None, a.Head())
	assert.Equal(t, None, a.Tail())
	assert.Equal(t, []ID{3, 1, 0, 2}, freeList(a))
	assert.Equal(t, uint32(4), a.hdr.fresh, "releasing never lowers the fresh mark")

	var got []ID
	for {
		id, ok := a.Grab()
		if !ok {
			break
		}
		got = append(got, id)
		check(t, a)
	}
	assert.Equal(t, []ID{3, 1, 0, 2}, got)
	assert.Equal(t, got, queue(t, a))
}

func TestReleaseOfFreeOrFreshPanics(t *testing.T) {
	a := newArena(t, 4)
	assert.Panics(t, func() { a.Release(0) }, "fresh")
	id, _ := a.Grab()
	a.Release(id)
	assert.Panics(t, func() { a.Release(id) }, "free")
	assert.Panics(t, func() { a.MoveToTail(id) }, "free")
	assert.Panics(t, func() { a.Retire(id) }, "free")
	check(t, a)
}

func TestMoveToTail(t *testing.T) {
	a := newArena(t, 5)
	for range 5 {
		_, ok := a.Grab()
		require.True(t, ok)
	}
	a.MoveToTail(4) // already the tail: nothing changes
	check(t, a)
	assert.Equal(t, []ID{0, 1, 2, 3, 4}, queue(t, a))

	a.MoveToTail(0) // head
	check(t, a)
	assert.Equal(t, []ID{1, 2, 3, 4, 0}, queue(t, a))

	a.MoveToTail(3) // middle
	check(t, a)
	assert.Equal(t, []ID{1, 2, 4, 0, 3}, queue(t, a))

	r := a.Seg(2)
	r.Used, r.Live = 50, 40
	a.MoveToTail(2)
	check(t, a)
	assert.Equal(t, []ID{1, 4, 0, 3, 2}, queue(t, a))
	assert.Equal(t, uint32(50), a.Seg(2).Used, "moving keeps the record's contents")
	assert.Equal(t, uint32(40), a.Seg(2).Live)
	assert.Equal(t, 5, a.Queued())

	// A single queued segment.
	b := newArena(t, 2)
	id, _ := b.Grab()
	b.MoveToTail(id)
	check(t, b)
	assert.Equal(t, []ID{id}, queue(t, b))
}

func TestPinUnpin(t *testing.T) {
	a := newArena(t, 4)
	id, _ := a.Grab()
	assert.Equal(t, uint32(0), a.Pins(id))
	a.Pin(id)
	a.Pin(id)
	assert.Equal(t, uint32(2), a.Pins(id))
	assert.False(t, a.Unpin(id), "a queued segment is not retired")
	assert.False(t, a.Unpin(id))
	assert.Equal(t, uint32(0), a.Pins(id))
	check(t, a)
}

func TestRetire(t *testing.T) {
	a := newArena(t, 4)
	for range 4 {
		_, ok := a.Grab()
		require.True(t, ok)
	}

	// Unpinned: Retire reports it and the caller releases it at once.
	assert.True(t, a.Retire(1))
	assert.True(t, a.IsRetired(1))
	assert.False(t, a.IsQueued(1))
	assert.Equal(t, 1, a.Retired())
	assert.Equal(t, []ID{0, 2, 3}, queue(t, a))
	check(t, a)
	a.Release(1)
	assert.Equal(t, 0, a.Retired())
	assert.False(t, a.IsRetired(1))
	assert.Equal(t, []ID{1}, freeList(a))
	check(t, a)

	// Pinned twice: only the last Unpin reports it.
	a.Pin(3)
	a.Pin(3)
	assert.False(t, a.Retire(3))
	assert.Equal(t, 1, a.Retired())
	assert.Equal(t, []ID{0, 2}, queue(t, a))
	assert.Equal(t, ID(2), a.Tail())
	check(t, a)
	assert.False(t, a.Unpin(3))
	assert.Equal(t, 1, a.Retired())
	check(t, a)
	assert.True(t, a.Unpin(3))
	assert.True(t, a.IsRetired(3), "the caller releases it, not Unpin")
	check(t, a)
	a.Release(3)
	assert.Equal(t, 0, a.Retired())
	assert.Equal(t, []ID{3, 1}, freeList(a))
	check(t, a)
}

func TestResetUnpinned(t *testing.T) {
	a := newArena(t, 6)
	for range 4 {
		_, ok := a.Grab()
		require.True(t, ok)
	}
	a.Release(2)
	assert.True(t, a.Retire(0))
	check(t, a)

	a.Reset()
	check(t, a)
	assert.Equal(t, uint32(0), a.hdr.fresh, "with no pins every segment becomes fresh again")
	assert.Equal(t, None, a.Head())
	assert.Equal(t, None, a.Tail())
	assert.Equal(t, 0, a.Queued())
	assert.Equal(t, 0, a.Retired())
	assert.Empty(t, freeList(a))

	for want := range ID(6) {
		r := a.Seg(want)
		r.Used, r.Live, r.MinExpire = 9, 9, 9 // stale bytes from before the Reset
		id, ok := a.Grab()
		require.True(t, ok)
		require.Equal(t, want, id)
		require.Equal(t, uint32(0), a.Seg(id).Used)
		require.Equal(t, uint32(0), a.Seg(id).Live)
		require.Equal(t, int64(0), a.Seg(id).MinExpire)
		check(t, a)
	}
	_, ok := a.Grab()
	assert.False(t, ok)
}

func TestResetPinned(t *testing.T) {
	a := newArena(t, 6)
	for range 5 {
		_, ok := a.Grab()
		require.True(t, ok)
	}
	a.Release(4)
	a.Seg(1).Used, a.Seg(1).Live = 100, 100
	a.Pin(1)
	a.Pin(3)
	check(t, a)

	a.Reset()
	check(t, a)
	assert.Equal(t, uint32(5), a.hdr.fresh, "the fresh mark stays while segments are pinned")
	assert.Empty(t, queue(t, a))
	assert.Equal(t, 2, a.Retired())
	assert.True(t, a.IsRetired(1))
	assert.True(t, a.IsRetired(3))
	assert.Equal(t, uint32(0), a.Seg(1).Used)
	assert.Equal(t, []ID{0, 2, 4}, freeList(a), "unpinned segments below the mark are free, lowest first")

	// A second Reset while still pinned keeps them retired and counts them once.
	a.Reset()
	check(t, a)
	assert.Equal(t, 2, a.Retired())
	assert.Equal(t, []ID{0, 2, 4}, freeList(a))

	// Grabs take the free ones, then fresh ones, never the retired ones.
	var got []ID
	for {
		id, ok := a.Grab()
		if !ok {
			break
		}
		got = append(got, id)
	}
	assert.Equal(t, []ID{0, 2, 4, 5}, got)
	check(t, a)

	assert.True(t, a.Unpin(1))
	a.Release(1)
	check(t, a)
	assert.Equal(t, 1, a.Retired())
	id, ok := a.Grab()
	require.True(t, ok)
	assert.Equal(t, ID(1), id)
	assert.True(t, a.Unpin(3))
	a.Release(3)
	assert.Equal(t, 0, a.Retired())
	check(t, a)
	assert.Equal(t, []ID{0, 2, 4, 5, 1}, queue(t, a))
}

func TestCheckFindsFaults(t *testing.T) {
	setup := func() *Arena {
		a := newArena(t, 4)
		for range 3 {
			_, ok := a.Grab()
			require.True(t, ok)
		}
		a.Release(1)
		check(t, a)
		return a
	}
	faults := map[string]func(a *Arena){
		"prev link":     func(a *Arena) { a.Seg(2).prev = 2 },
		"queued count":  func(a *Arena) { a.hdr.queued++ },
		"tail":          func(a *Arena) { a.hdr.tail = 0 },
		"live > used":   func(a *Arena) { a.Seg(0).Used, a.Seg(0).Live = 10, 11 },
		"used > size":   func(a *Arena) { a.Seg(0).Used, a.Seg(0).Live = testSeg+8, 0 },
		"lost segment":  func(a *Arena) { a.hdr.free = None },
		"retired count": func(a *Arena) { a.hdr.retired = 1 },
		"free state":    func(a *Arena) { a.Seg(1).state = stateQueued },
		"above fresh":   func(a *Arena) { a.hdr.fresh = 1 },
		"queued twice":  func(a *Arena) { a.Seg(2).next = 0 },
	}
	for name, corrupt := range faults {
		t.Run(name, func(t *testing.T) {
			a := setup()
			corrupt(a)
			assert.Error(t, a.Check())
		})
	}
}

// TestChurn drives an arena through random steps against a simple model of where each
// segment is, checking the structure after every step.
func TestChurn(t *testing.T) {
	const n = 16
	a := newArena(t, n)
	state := make([]int, n) // 0 fresh or free (unlisted), 1 queued, 2 retired
	var q []ID
	pins := make([]int, n)
	rng := uint64(1)
	next := func(k int) int {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(k))
	}
	remove := func(id ID) {
		for i, x := range q {
			if x == id {
				q = append(q[:i], q[i+1:]...)
				return
			}
		}
		t.Fatalf("segment %d not in the model's queue", id)
	}
	for step := range 20000 {
		switch op := next(8); {
		case op == 0:
			id, ok := a.Grab()
			free := 0
			for _, s := range state {
				if s == 0 {
					free++
				}
			}
			require.Equal(t, free > 0, ok, "step %d", step)
			if ok {
				require.Equal(t, 0, state[id])
				state[id] = 1
				q = append(q, id)
			}
		case op == 1 && len(q) > 0:
			id := q[next(len(q))]
			if pins[id] == 0 {
				a.Release(id)
				state[id] = 0
				remove(id)
			}
		case op == 2 && len(q) > 0:
			id := q[next(len(q))]
			a.MoveToTail(id)
			remove(id)
			q = append(q, id)
		case op == 3 && len(q) > 0:
			id := q[next(len(q))]
			a.Pin(id)
			pins[id]++
		case op == 4:
			for id := range ID(n) {
				if pins[id] > 0 {
					pins[id]--
					last := a.Unpin(id)
					require.Equal(t, pins[id] == 0 && state[id] == 2, last)
					if last {
						a.Release(id)
						state[id] = 0
					}
					break
				}
			}
		case op == 5 && len(q) > 0:
			id := q[next(len(q))]
			unpinned := a.Retire(id)
			require.Equal(t, pins[id] == 0, unpinned)
			remove(id)
			state[id] = 2
			if unpinned {
				a.Release(id)
				state[id] = 0
			}
		case op == 6 && next(50) == 0:
			a.Reset()
			q = q[:0]
			for id := range n {
				if state[id] != 0 {
					state[id] = 0
					if pins[id] > 0 {
						state[id] = 2
					}
				}
			}
		}
		require.NoError(t, a.Check(), "step %d", step)
		require.Equal(t, append([]ID{}, q...), append([]ID{}, queue(t, a)...), "step %d", step)
		retired := 0
		for id := range ID(n) {
			require.Equal(t, state[id] == 1, a.IsQueued(id), "step %d segment %d", step, id)
			require.Equal(t, state[id] == 2, a.IsRetired(id), "step %d segment %d", step, id)
			require.Equal(t, uint32(pins[id]), a.Pins(id))
			if state[id] == 2 {
				retired++
			}
		}
		require.Equal(t, retired, a.Retired())
	}
}

// TestStaleRetiredAfterReset is the protocol a View ending during Resets follows: the reader's
// Unpin reports the last view of a retired segment, but before the owner takes its lock to
// release it, another Reset (with no pins left) returns every segment to fresh. The owner must
// then see that the segment is no longer retired.
func TestStaleRetiredAfterReset(t *testing.T) {
	a := newArena(t, 4)
	for range 3 {
		_, ok := a.Grab()
		require.True(t, ok)
	}
	a.Pin(1)
	a.Reset() // 1 is pinned: retired
	require.True(t, a.IsRetired(1))
	require.True(t, a.Unpin(1)) // the last reader leaves; the owner will lock and release
	a.Reset()                   // meanwhile, no pins: everything becomes fresh
	check(t, a)
	for id := range ID(4) {
		assert.False(t, a.IsRetired(id), "segment %d is fresh, not retired", id)
		assert.False(t, a.IsQueued(id), "segment %d is fresh, not queued", id)
	}
	if a.IsRetired(1) && a.Pins(1) == 0 { // what the owner checks under its lock
		a.Release(1)
	}
	check(t, a)
	assert.Equal(t, 0, a.Retired())
	// Every segment is handed out exactly once.
	seen := map[ID]bool{}
	for {
		id, ok := a.Grab()
		if !ok {
			break
		}
		require.False(t, seen[id], "segment %d handed out twice", id)
		seen[id] = true
		check(t, a)
	}
	assert.Len(t, seen, 4)
}
