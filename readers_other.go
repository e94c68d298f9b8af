//go:build !(amd64 || arm64) || !gc

package mmcache

import "sync/atomic"

// Elsewhere, reads take the shard's read lock: on a weakly ordered CPU a seqlock reader needs
// fences that cost about what the lock does.
const lockFreeReads = false

func releaseStore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// orderLoads is never called here: reads take the lock.
func (r *readerSlot) orderLoads() {}
