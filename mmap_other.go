//go:build !unix && !windows

package mmcache

// Platforms without mmap or VirtualAlloc (js/wasm, wasip1, plan9) keep the region in one heap
// allocation. It holds no pointers, so the garbage collector never scans it, but it does count
// toward the heap goal.

func mapMemory(size int) ([]byte, error) { return make([]byte, size), nil }

func unmapMemory([]byte) error { return nil }

func releaseMemory(b []byte) (zeroed bool, err error) {
	clear(b)
	return true, nil
}

func adviseHugePages([]byte) {}
