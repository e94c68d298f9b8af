package mmcache

import (
	"time"

	"github.com/mmcache/mmcache/arena"
)

// The janitor does the work that no single call should pay for: it drops expired entries
// wherever they lie, without waiting for the eviction clock to reach them, and it compacts
// segments that deletes and overwrites have left mostly dead, so their space comes back.
//
// It works in steps of one segment each, taking the shard's write lock for one step at a time,
// so a Get waits at most for one segment's worth of work. With Config.JanitorInterval > 0 a
// goroutine runs a pass over all shards every interval; it references only the engine, never
// the Cache handle, so a dropped Cache can still be collected and cleaned up. With a negative
// interval the same steps run inline, one every inlineJanitorEvery writes to a shard.

const (
	// janitorStepsPerPass bounds the steps a pass takes per shard.
	janitorStepsPerPass = 64
	// inlineJanitorEvery is the number of writes to a shard between inline janitor steps.
	inlineJanitorEvery = 256
)

func (e *engine) runJanitor(interval time.Duration) {
	defer close(e.janitorDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.janitorPass()
		}
	}
}

// janitorPass runs janitor steps on every shard until each has no work left or has taken
// janitorStepsPerPass steps.
func (e *engine) janitorPass() {
	for i := range e.shards {
		s := &e.shards[i]
		for range janitorStepsPerPass {
			did, closed := s.janitorStep()
			if closed {
				return
			}
			if !did {
				break
			}
		}
	}
}

// janitorStep takes the shard's write lock for one janitor step (see janitorStepLocked) and,
// once it has released it, reports the entries the step removed.
func (s *shard) janitorStep() (did, closed bool) {
	rm := s.e.newRemovals()
	if rm == nil {
		return s.janitorStepRecording(nil)
	}
	did, closed = s.janitorStepRecording(rm)
	s.e.janitorReporting.Store(true)
	defer s.e.janitorReporting.Store(false)
	s.e.deliver(rm)
	return did, closed
}

func (s *shard) janitorStepRecording(rm *removals) (did, closed bool) {
	s.lockWith(rm)
	defer s.unlock()
	mayPanic(pointJanitor)
	if s.closed {
		return false, true
	}
	did = s.janitorStepLocked()
	s.debugCheckLocked()
	return did, false
}

// janitorStepLocked does one unit of janitor work on the shard and reports whether there was
// any: it drops the expired entries of the oldest segment that has some, or else compacts the
// oldest segment of which at most half is live; the small queue first, then the main one.
func (s *shard) janitorStepLocked() bool {
	now := s.e.now()
	queues := s.queues()
	for _, q := range queues {
		for x := q.Head(); x != arena.None; x = s.ar.Next(x) {
			if r := s.ar.Seg(x); r.MinExpire != 0 && r.MinExpire <= now {
				s.expireLocked(x)
				return true
			}
		}
	}
	for _, q := range queues {
		if s.compactStepLocked(q) {
			return true
		}
	}
	return false
}

// compactStepLocked compacts the oldest segment of queue q of which at most half is live, into
// q's tail or where it lies, and reports whether it did.
func (s *shard) compactStepLocked(q *arena.Queue) bool {
	tail := q.Tail()
	if tail == arena.None {
		return false
	}
	tailRoom := s.segSize - int(s.ar.Seg(tail).Used)
	for x := q.Head(); x != tail; x = s.ar.Next(x) {
		r := s.ar.Seg(x)
		// Reclaimable is all the segment does not hold live: dead entries, and the room left
		// at its end when it was sealed because the next entry did not fit.
		if 2*int(r.Live) > s.segSize || s.ar.Pins(x) != 0 {
			continue
		}
		switch {
		case r.Live == 0:
			s.releaseSeg(q, x)
		case int(r.Live) <= tailRoom:
			s.moveOutLocked(q, x)
		case tailRoom <= s.segSize/8:
			// The tail is nearly full: compact x where it lies and let it take the tail's place,
			// wasting at most the eighth of a segment left in the old tail.
			s.compactLocked(x, s.segSize, keepLive)
			s.ar.MoveToTail(q, x)
		default:
			continue // the tail will fill up; come back then
		}
		return true
	}
	return false
}
