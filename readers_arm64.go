//go:build gc && !race

package mmcache

import "sync/atomic"

// arm64 reorders plain loads with each other and plain stores with each other, so the
// seqlock needs ordering that x86 gives for free. It comes from the two atomics Go's
// sync/atomic compiles to on arm64: a store-release (STLR) and a load-acquire (LDAR), which
// ARMv8 keeps in order when a store-release precedes a load-acquire. docs/design.md gives the
// argument and the instructions the compiler emits.
const lockFreeReads = true

// releaseStore is a store-release (STLR): every load and store before it is ordered before it.
func releaseStore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// orderLoads is a store-release to the reader's own slot. It orders every load before it
// before the store, and ARMv8 orders a store-release before a later load-acquire (RCsc), so
// the loads of a read complete before the load-acquire of the sequence that validates them.
func (r *readerSlot) orderLoads() { atomic.StoreUint64(&r.fence, 0) }
