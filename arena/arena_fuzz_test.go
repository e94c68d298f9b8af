package arena

import (
	"testing"
)

// Fuzz opcodes (harness.do): a byte b runs operation b%numOps on queue b/numOps%fuzzQueues, and
// the operations that pick a segment read their argument from the next byte.
const (
	fGrab        = 0
	fTransfer    = 1
	fRelease     = 2
	fMoveToTail  = 3
	fPin         = 4
	fUnpin       = 5
	fRetire      = 6
	fResetQueue  = 7
	fTake        = 8
	fReleaseHeld = 9
	fWrite       = 10

	fuzzQueues = 3
	fuzzSegs   = 6
)

// fuzzTakesArg reports whether operation op reads an argument byte.
func fuzzTakesArg(op int) bool {
	switch op {
	case fTransfer, fRelease, fMoveToTail, fPin, fUnpin, fRetire, fReleaseHeld, fWrite:
		return true
	}
	return false
}

// on encodes operation op on queue k.
func on(op, k int) byte { return byte(op + numOps*k) }

// FuzzArena decodes its input into operations on an arena shared by three queues plus held
// segments, and runs them against the plain-Go model of harness: every queue's order, the free
// list, the fresh mark, the held count, each segment's state, pins and record. After every
// operation Check over all the queues must pass and the arena must equal the model.
func FuzzArena(f *testing.F) {
	// The first corpus of the one-queue arena: still valid inputs.
	f.Add([]byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 1, 5})
	f.Add([]byte{0, 4, 0, 0, 4, 1, 3, 0, 6, 5, 5, 0, 0, 7})
	f.Add([]byte{0, 0, 4, 0, 3, 1, 6, 0, 5, 2, 6, 1, 0, 0, 0, 0})
	// Three queues exhaust the pool, then trade segments through it.
	f.Add([]byte{
		on(fGrab, 0), on(fGrab, 0), on(fGrab, 1), on(fGrab, 1), on(fGrab, 2), on(fGrab, 2),
		on(fGrab, 0), on(fTake, 0), // the pool is empty
		on(fRelease, 1), 0, on(fGrab, 2), // q1's head goes to q2
		on(fResetQueue, 0), on(fGrab, 1), on(fGrab, 1), on(fResetQueue, 2), on(fTake, 0),
		on(fGrab, 0), on(fMoveToTail, 1), 0, on(fWrite, 1), 77,
	})
	// Readers pin segments that are retired, or reset while pinned, and release them by Unpin.
	f.Add([]byte{
		on(fGrab, 0), on(fGrab, 0), on(fGrab, 0), on(fGrab, 1), on(fGrab, 1),
		on(fPin, 0), 1, on(fPin, 1), 0, on(fPin, 1), 0, on(fWrite, 1), 200,
		on(fRetire, 0), 1, // pinned: retired from q0
		on(fResetQueue, 1), // q1's head is pinned twice: retired from q1
		on(fGrab, 2), on(fGrab, 2), on(fGrab, 2), on(fGrab, 2),
		on(fUnpin, 0), 0, on(fUnpin, 0), 0, on(fUnpin, 0), 0, // the last of each releases it
		on(fGrab, 2), on(fGrab, 2), on(fRetire, 2), 3, on(fUnpin, 0), 0,
	})
	// Held segments share the pool with the queues.
	f.Add([]byte{
		on(fTake, 0), on(fTake, 0), on(fTake, 0), on(fGrab, 0),
		on(fReleaseHeld, 0), 1, on(fGrab, 1), // the released held segment goes to q1
		on(fTake, 0), on(fTake, 0), on(fTake, 0), on(fGrab, 2), // the pool is empty
		on(fReleaseHeld, 0), 0, on(fReleaseHeld, 0), 5, on(fReleaseHeld, 0), 2,
		on(fPin, 1), 0, on(fRetire, 1), 0, on(fTake, 0), on(fResetQueue, 0),
		on(fUnpin, 0), 0, on(fReleaseHeld, 0), 0, on(fReleaseHeld, 0), 0, on(fReleaseHeld, 0), 0,
	})
	// Segments change queues, pinned or not, and are retired from their new queue.
	f.Add([]byte{
		on(fGrab, 0), on(fGrab, 0), on(fGrab, 1), on(fTransfer, 0), 1, on(fTransfer, 1), 0,
		on(fPin, 1), 1, on(fTransfer, 1), 1, on(fRetire, 2), 0, on(fResetQueue, 0),
		on(fUnpin, 0), 0, on(fTransfer, 2), 0, on(fGrab, 0),
	})
	// Every operation on every queue, twice over.
	var all []byte
	for range 2 {
		for k := range fuzzQueues {
			for op := range numOps {
				all = append(all, on(op, k))
				if fuzzTakesArg(op) {
					all = append(all, byte(k+1))
				}
			}
		}
	}
	f.Add(all)

	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t, fuzzSegs, fuzzQueues)
		for i := 0; i < len(ops); i++ {
			b := int(ops[i])
			op, k, x := b%numOps, b/numOps%fuzzQueues, 0
			if fuzzTakesArg(op) && i+1 < len(ops) {
				i++
				x = int(ops[i])
			}
			h.do(op, k, x)
			h.verify(i)
		}
	})
}
