//go:build unix && !linux

package mmcache

import "golang.org/x/sys/unix"

const mapNoReserve = 0 // macOS and the BSDs overcommit anonymous memory already

// releaseMemory lets the kernel reclaim b's pages. Outside Linux the advice does not promise
// zeros, so the caller clears what must read as zeros.
func releaseMemory(b []byte) (zeroed bool, err error) {
	return false, unix.Madvise(b, unix.MADV_DONTNEED)
}

func adviseHugePages([]byte) {}
