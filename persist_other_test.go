//go:build !linux

package mmcache

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Outside Linux, Config.Path is refused with a clear error, and nothing is created.
func TestPathNotSupported(t *testing.T) {
	// os.Remove, not t.TempDir's RemoveAll, clears the directory: it fails if New left anything
	// in it. (Wine, under which CI runs this test, also lacks a call that RemoveAll makes.)
	dir, err := os.MkdirTemp("", "mmcache-path")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.Remove(dir)) })
	path := filepath.Join(dir, "cache")
	_, err = New(Config{Capacity: 16 << 20, Path: path})
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorContains(t, err, "Linux only")
	require.NoFileExists(t, path)
}
