//go:build !linux

package mmcache

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Outside Linux, Config.Path is refused with a clear error, and nothing is created.
func TestPathNotSupported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache")
	_, err := New(Config{Capacity: 16 << 20, Path: path})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "Linux only")
	require.NoFileExists(t, path)
}
