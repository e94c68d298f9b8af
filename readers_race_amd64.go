//go:build gc && race

package mmcache

import "sync/atomic"

const lockFreeReads = true

// releaseStore is atomic under the race detector, which cannot know that on amd64 a plain
// store already releases.
func releaseStore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
