//go:build mmcache_debug

package mmcache

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInjectedPanicsAfterStealReportRemovals: a write that took a segment from other shards,
// evicting their entries, and then panicked still reports those entries: they left the cache,
// and Stats counts them. (The shard the panic salvages reports nothing, as a Reset.)
func TestInjectedPanicsAfterStealReportRemovals(t *testing.T) {
	rec := &rmRecorder{}
	c := newCacheT(t, Config{Capacity: 4 << 20, Shards: 8, JanitorInterval: -1, OnRemoval: rec.record}, nil, nil)
	shard0 := &c.e.shards[0]
	for i := 0; c.Stats().Evictions < 40; i++ {
		k := fmt.Appendf(nil, "one-%d", i)
		if c.e.shardFor(c.e.hash(k)) == shard0 {
			continue
		}
		require.NoError(t, c.Set(k, make([]byte, 1000)))
	}
	rec.take()
	before := c.Stats().Evictions
	injectPanic.Store(uint32(pointAppend))
	require.Panics(t, func() { _ = c.Set(rmKeyInShard(c, 0, "two-0"), make([]byte, 1000)) })
	injectPanic.Store(0)
	counted := c.Stats().Evictions - before
	require.NotZero(t, counted, "the premise: the write evicted entries of other shards")
	require.Equal(t, int(counted), len(rec.take()))
}
