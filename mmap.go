package mmcache

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"
)

// A cache keeps everything in one region of memory obtained from the operating system, outside
// the Go heap: an anonymous private mapping on unix (mmap_unix.go), VirtualAlloc on Windows
// (mmap_windows.go), and on platforms with neither, one pointer-free heap allocation
// (mmap_other.go). Each platform file provides:
//
//	mapMemory(size int) ([]byte, error)  // zeroed memory of exactly size bytes, page aligned
//	unmapMemory(b []byte) error          // b exactly as mapMemory returned it
//	releaseMemory(b []byte) (zeroed bool, err error)
//	                                     // give b's physical pages back; zeroed reports that
//	                                     // b now reads as zeros
//	adviseHugePages(b []byte)            // ask for transparent huge pages where there are any

// Hooks over the platform calls, so tests can inject failures. Never changed outside tests.
var (
	mapFunc           = mapMemory
	releaseFunc       = releaseMemory
	releaseSharedFunc = releaseShared // for a mapping of a file (Config.Path)
)

// liveMappings counts regions mapped and not yet unmapped, across all caches. Tests read it to
// see that Close and the cleanup release what New mapped.
var liveMappings atomic.Int64

func newRegion(size int) ([]byte, error) {
	b, err := mapFunc(size)
	if err != nil {
		return nil, fmt.Errorf("mmcache: mapping %d bytes: %w", size, err)
	}
	if len(b) != size {
		_ = unmapMemory(b)
		return nil, fmt.Errorf("mmcache: mapping %d bytes returned %d", size, len(b))
	}
	liveMappings.Add(1)
	return b, nil
}

func freeRegion(b []byte) error {
	liveMappings.Add(-1)
	return unmapMemory(b)
}

// pageTrim returns the page-aligned part of b: the whole pages it covers.
func pageTrim(b []byte) (start, end int) {
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	s := (base + page - 1) &^ (page - 1)
	e := (base + uintptr(len(b))) &^ (page - 1)
	if e <= s {
		return 0, 0
	}
	return int(s - base), int(e - base)
}

// release is releaseFunc, or releaseSharedFunc for a shared mapping of a file.
func release(b []byte, shared bool) (zeroed bool, err error) {
	if shared {
		return releaseSharedFunc(b)
	}
	return releaseFunc(b)
}

// dropPages gives the whole pages of b, part of a shared file mapping or not, back to the
// operating system; b's contents become undefined. A failure only keeps the memory resident.
func dropPages(b []byte, shared bool) {
	if s, e := pageTrim(b); e > s {
		_, _ = release(b[s:e], shared)
	}
}

// zeroPages makes b read as zeros, giving its whole pages back to the operating system where
// the platform zeroes released pages, and clearing the rest.
func zeroPages(b []byte, shared bool) {
	s, e := pageTrim(b)
	if e > s {
		if zeroed, err := release(b[s:e], shared); err == nil && zeroed {
			clear(b[:s])
			clear(b[e:])
			return
		}
	}
	clear(b)
}
