//go:build linux && (amd64 || arm64)

package mmcache

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHugeCapacity maps 1 TiB: with MAP_NORESERVE and lazy formatting it costs next to nothing
// until written.
func TestHugeCapacity(t *testing.T) {
	leakCheck(t)
	c, err := New(Config{Capacity: 1 << 40})
	require.NoError(t, err)
	defer c.Close()
	for i := range 1000 {
		require.NoError(t, c.Set([]byte{byte(i), byte(i >> 8)}, []byte("v")))
	}
	require.Equal(t, 1000, c.Len())
	// A page of arena header per shard, the table pages written, and a segment page per shard
	// written, which may be a 2 MiB huge page.
	resident := regionRSS(t, c)
	t.Logf("1 TiB mapped, %d shards, 1000 entries: %d KiB resident", len(c.e.shards), resident>>10)
	require.Less(t, resident, int64(len(c.e.shards))*(2<<20)+(8<<20))
}
