package mmcache

// Panic points name the places, most of them under a shard lock, where a build with the
// mmcache_debug tag lets tests inject a panic (mayPanic), to show that no panic, whatever its
// cause, leaves a lock held, a segment pinned or a reader slot owned, and that the cache
// answers afterwards. In other builds mayPanic is an empty function.
type panicPoint uint8

const (
	pointReadLocked  panicPoint = iota + 1 // under a read lock: Get, View, Has, TTL, Len, Stats
	pointWriteLocked                       // under the write lock, before a Set or Delete changes anything
	pointOverwrite                         // a Set has overwritten an entry in place
	pointAppend                            // a Set has appended its entry, not yet indexed it
	pointBucketFull                        // a Set found its probe window full and no page to split into
	pointSplit                             // a Set is about to split an index page
	pointEvict                             // a Set is about to evict a segment
	pointCompact                           // a compaction has updated the index, not the segment
	pointMoveOut                           // the janitor has moved a segment's entries, not freed it
	pointExpire                            // the janitor has dropped an expired entry
	pointReset                             // a Reset has emptied the queue, not the index
	pointEndView                           // a View's end frees a segment that Reset retired
	pointJanitor                           // a janitor step holds the lock
	pointClose                             // Close has marked a shard closed
	pointLockFree                          // a lock-free reader owns its reader slot
	numPanicPoints
)

var panicPointNames = [numPanicPoints]string{
	pointReadLocked: "read locked", pointWriteLocked: "write locked", pointOverwrite: "overwrite",
	pointAppend: "append", pointBucketFull: "bucket full", pointSplit: "split", pointEvict: "evict",
	pointCompact: "compact", pointMoveOut: "move out", pointExpire: "expire", pointReset: "reset",
	pointEndView: "end of view", pointJanitor: "janitor", pointClose: "close",
	pointLockFree: "lock-free read",
}

func (p panicPoint) String() string { return panicPointNames[p] }
