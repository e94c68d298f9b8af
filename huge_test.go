//go:build linux && (amd64 || arm64)

package mmcache

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHugeCapacity maps 1 TiB: with MAP_NORESERVE and lazy formatting it costs next to nothing
// until written.
func TestHugeCapacity(t *testing.T) {
	before := vmRSS(t)
	c, err := New(Config{Capacity: 1 << 40})
	require.NoError(t, err)
	defer c.Close()
	for i := range 1000 {
		require.NoError(t, c.Set([]byte{byte(i), byte(i >> 8)}, []byte("v")))
	}
	require.Equal(t, 1000, c.Len())
	// A page of arena header per shard, and the few pages written; with huge pages each
	// touched shard may take 2 MiB.
	grown := vmRSS(t) - before
	require.Less(t, grown, int64(len(c.e.shards))*(2<<20)+(16<<20), "RSS grew by %d bytes", grown)
}
