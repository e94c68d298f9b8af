package mmcache

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// regionResident returns the resident bytes of c's mapping by asking the kernel page by page
// (mincore), which holds whatever VMAs the kernel merged the mapping with; regionRSS needs the
// mapping in VMAs of its own.
func regionResident(t testing.TB, c *Cache) int64 {
	page := os.Getpagesize()
	vec := make([]byte, (len(c.e.region)+page-1)/page)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(c.e.region))),
		uintptr(len(c.e.region)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := int64(0)
	for _, v := range vec {
		n += int64(v & 1)
	}
	return n * int64(page)
}

// regionRSS returns the resident bytes of c's mapping alone, summed over the VMAs the kernel
// split it into (madvise splits it), from /proc/self/smaps: what the cache adds to RSS.
func regionRSS(t testing.TB, c *Cache) int64 {
	b, err := os.ReadFile("/proc/self/smaps")
	require.NoError(t, err)
	lo := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.e.region))))
	hi := lo + uint64(len(c.e.region))
	var total int64
	inside := false
	for line := range bytes.Lines(b) {
		if start, end, ok := parseVMA(line); ok {
			inside = start >= lo && end <= hi
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Rss:")); ok && inside {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			require.NoError(t, err)
			total += kb << 10
		}
	}
	return total
}

// parseVMA parses the "start-end perms ..." line that opens a VMA in /proc/self/smaps.
func parseVMA(line []byte) (start, end uint64, ok bool) {
	field, _, _ := bytes.Cut(line, []byte(" "))
	a, z, found := bytes.Cut(field, []byte("-"))
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseUint(string(a), 16, 64)
	end, err2 := strconv.ParseUint(string(z), 16, 64)
	return start, end, err1 == nil && err2 == nil
}
