package mmcache

import "golang.org/x/sys/unix"

const mapNoReserve = unix.MAP_NORESERVE

// releaseMemory drops b's pages; on Linux a private anonymous page dropped with MADV_DONTNEED
// reads as zeros when next touched.
func releaseMemory(b []byte) (zeroed bool, err error) {
	return true, unix.Madvise(b, unix.MADV_DONTNEED)
}

// adviseHugePages asks for transparent huge pages: with 2 MiB pages a lookup in a large cache
// takes far fewer TLB misses. Where THP is off the advice is ignored, which is harmless.
func adviseHugePages(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
