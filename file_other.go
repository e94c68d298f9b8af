//go:build !linux

package mmcache

import "errors"

// Config.Path needs a shared file mapping whose pages can be punched out (MADV_REMOVE) and an
// advisory lock; this build has it on Linux only.

type cacheFile struct{ created bool }

var errNoCacheFiles = errors.New("Config.Path is supported on Linux only")

func openCacheFile(string, int) (*cacheFile, error)   { return nil, errNoCacheFiles }
func (*cacheFile) recreate(int) error                 { return errNoCacheFiles }
func (*cacheFile) mapFile(int) ([]byte, error)        { return nil, errNoCacheFiles }
func (*cacheFile) close() error                       { return nil }
func releaseShared(b []byte) (zeroed bool, err error) { return false, errNoCacheFiles }

type errWrongSize struct{ got int64 }

func (e errWrongSize) Error() string { return "" }

const cacheFilesSupported = false

func prefault([]byte) {}
