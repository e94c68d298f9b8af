package mmcache

import (
	"math"
	"os"
	"testing"

	"github.com/mmcache/mmcache/arena"
	"github.com/stretchr/testify/require"
)

// TestLayoutFormattable sweeps capacities, entry sizes and shard counts: every layout that
// Config.layout accepts can be formatted as it says (New fails otherwise), fits its mapping, and
// has segments that hold the largest entry.
func TestLayoutFormattable(t *testing.T) {
	page := os.Getpagesize()
	checked := 0
	for _, maxEntry := range []int{0, 1, 4096, 100_000, 1 << 20, 16 << 20, 1 << 29, arena.MaxSegmentSize - maxHeaderSize} {
		for _, shards := range []int{0, 1, 2, 8, 64} {
			for c := uint64(MinCapacity); c <= 64<<30 && c <= math.MaxInt; c = c*5/4 + 7*4096 {
				cfg := Config{Capacity: int(c), MaxEntrySize: maxEntry, Shards: shards}
				l, err := cfg.layout()
				if err != nil {
					require.ErrorIs(t, err, ErrInvalidConfig, "%+v", cfg)
					continue
				}
				checked++
				perGroup := l.shards / l.groups
				require.GreaterOrEqual(t, l.segments, minSegmentsPerShard*perGroup, "%+v", cfg)
				require.LessOrEqual(t, l.segSize, arena.MaxSegmentSize, "%+v: %+v", cfg, l)
				require.GreaterOrEqual(t, l.segSize, l.maxEntry+maxHeaderSize, "%+v: %+v", cfg, l)
				require.Zero(t, l.segSize%page, "%+v", cfg)
				require.Zero(t, l.segSize%indexPageSize, "%+v", cfg)
				require.Zero(t, l.groupSize%page, "%+v", cfg)
				require.Zero(t, (l.arenaOff+arena.Overhead(l.segments))%page, "%+v: segments are page-aligned", cfg)
				require.GreaterOrEqual(t, l.arenaOff, l.headBytes, "%+v", cfg)
				require.LessOrEqual(t, l.groups*l.groupSize, l.mapSize, "%+v", cfg)
				require.LessOrEqual(t, l.arenaOff+arena.Overhead(l.segments)+l.segments*l.segSize+arena.Align-1, l.groupSize, "%+v", cfg)
				require.LessOrEqual(t, uint64(l.groupSize), uint64(maxGroupBytes), "%+v", cfg)
				require.LessOrEqual(t, l.dirDepth, uint32(maxDirDepth), "%+v", cfg)
				require.GreaterOrEqual(t, l.dirBytes, 4<<l.dirDepth, "%+v", cfg)
				require.Equal(t, int(c)&^(page-1), l.mapSize)
				if shards != 0 {
					require.Equal(t, shards, l.shards)
				}
				if maxEntry != 0 {
					require.Equal(t, maxEntry, l.maxEntry)
				}
			}
		}
	}
	require.Greater(t, checked, 100)
}
