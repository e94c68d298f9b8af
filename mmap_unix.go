//go:build unix

package mmcache

import "golang.org/x/sys/unix"

func mapMemory(size int) ([]byte, error) {
	// MAP_NORESERVE (Linux) reserves no swap, so a huge capacity costs nothing until written.
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapNoReserve)
}

func unmapMemory(b []byte) error { return unix.Munmap(b) }
