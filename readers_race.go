//go:build gc && race && (amd64 || arm64)

package mmcache

import "sync/atomic"

const lockFreeReads = true

// releaseStore is atomic under the race detector, which cannot know that on amd64 a plain
// store already releases. (On arm64 it is atomic in every build.)
func releaseStore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

func (r *readerSlot) orderLoads() { atomic.StoreUint64(&r.fence, 0) }
