//go:build linux

package mmcache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/mmcache/mmcache/arena"
)

// cacheFilePath is a path for a cache file in a fresh directory, on tmpfs where there is one.
func cacheFilePath(t *testing.T) string {
	dir := t.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "mmcache-test-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(d) })
			dir = d
		}
	}
	return filepath.Join(dir, "cache")
}

func fileConfig(path string) Config {
	return Config{Capacity: 16 << 20, Path: path, JanitorInterval: -1}
}

// closedCacheFile makes a cache file on fileConfig, writes into it with fill, closes it and
// returns its path.
func closedCacheFile(t *testing.T, fill func(c *Cache)) string {
	path := cacheFilePath(t)
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	fill(c)
	require.NoError(t, c.Close())
	return path
}

// setOne is a fill for closedCacheFile: one entry, k = v.
func setOne(t *testing.T) func(c *Cache) {
	return func(c *Cache) { require.NoError(t, c.Set([]byte("k"), []byte("v"))) }
}

// fillModel writes n entries (some with a TTL, some overwritten, some deleted) and returns what
// the cache must hold.
func fillModel(t *testing.T, c *Cache, n int) map[string]string {
	want := map[string]string{}
	for i := range n {
		k := fmt.Appendf(nil, "key-%d", i)
		v := valueFor(k, 0, 10+i%500)
		if i%4 == 0 {
			require.NoError(t, c.SetWithTTL(k, v, time.Hour))
		} else {
			require.NoError(t, c.Set(k, v))
		}
		want[string(k)] = string(v)
	}
	for i := 0; i < n; i += 7 {
		k := fmt.Appendf(nil, "key-%d", i)
		v := valueFor(k, 1, 20)
		require.NoError(t, c.Set(k, v))
		want[string(k)] = string(v)
	}
	for i := 3; i < n; i += 11 {
		k := fmt.Appendf(nil, "key-%d", i)
		c.Delete(k)
		delete(want, string(k))
	}
	return want
}

func TestRestartServesEverything(t *testing.T) {
	leakCheck(t)
	path := cacheFilePath(t)
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	want := fillModel(t, c, 20000)
	require.Equal(t, want, contents(c))
	seed := c.e.seed
	require.NoError(t, c.Close())

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	for round := range 3 {
		c, err = New(fileConfig(path))
		require.NoError(t, err, "round %d", round)
		require.Equal(t, seed, c.e.seed, "the hash seed is the file's")
		require.Equal(t, len(want), c.Len())
		require.Equal(t, want, contents(c))
		mustCheck(t, c, "reattached, round %d", round)
		_, ttl, ok := c.GetWithTTL(nil, []byte("key-4"))
		require.True(t, ok)
		require.InDelta(t, float64(time.Hour), float64(ttl), float64(time.Minute))
		// It goes on as any cache: writes, deletes, evictions.
		k := fmt.Appendf(nil, "round-%d", round)
		require.NoError(t, c.Set(k, []byte("v")))
		want[string(k)] = "v"
		require.NoError(t, c.Close())
	}
}

// Entries whose time ran out while no process had the file are not served.
func TestRestartExpiryOnTheWallClock(t *testing.T) {
	leakCheck(t)
	path := closedCacheFile(t, func(c *Cache) { setExpiring(t, c) })
	// As if the process had been down two hours: the file's Close was that long ago.
	editHeader(t, path, func(h *fileHeader) { h.ClosedWall -= int64(2 * time.Hour) })
	checkTwoHoursOn(t, path)
}

// setExpiring stores an entry for an hour, one for a day and one for ever.
func setExpiring(t *testing.T, c *Cache) {
	require.NoError(t, c.SetWithTTL([]byte("hour"), []byte("a"), time.Hour))
	require.NoError(t, c.SetWithTTL([]byte("day"), []byte("b"), 24*time.Hour))
	require.NoError(t, c.Set([]byte("never"), []byte("c")))
}

// checkTwoHoursOn reattaches the file at path, which setExpiring filled two hours ago as its
// header tells, and checks that the hour's entry is gone, the day's has 22 hours left, and the
// other is there.
func checkTwoHoursOn(t *testing.T, path string) {
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	defer c.Close()
	require.False(t, c.Has([]byte("hour")))
	_, ttl, ok := c.GetWithTTL(nil, []byte("day"))
	require.True(t, ok)
	require.InDelta(t, float64(22*time.Hour), float64(ttl), float64(time.Minute))
	require.True(t, c.Has([]byte("never")))
}

// editHeader changes the file header of a closed cache file and fixes its checksum.
func editHeader(t *testing.T, path string, edit func(h *fileHeader)) {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h := (*fileHeader)(unsafe.Pointer(&b[0]))
	edit(h)
	h.Check = h.sum()
	writeAt(t, path, 0, b[:unsafe.Sizeof(fileHeader{})])
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestRestartIncompatible(t *testing.T) {
	leakCheck(t)
	path := closedCacheFile(t, setOne(t))

	for _, tc := range []struct {
		cfg  Config
		says string
	}{
		{Config{Capacity: 32 << 20, Path: path}, "the file has 16777216 bytes, this Config maps 33554432"},
		{Config{Capacity: 16 << 20, Shards: 2, Path: path}, "shards is 4 in the file, 2 in this Config"},
		{Config{Capacity: 16 << 20, MaxEntrySize: 8192, Path: path}, "segment size"},
	} {
		_, err := New(tc.cfg)
		require.ErrorIs(t, err, ErrIncompatible)
		require.ErrorContains(t, err, tc.says)
	}
	// The file is untouched by the refusals: it reattaches.
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	require.True(t, c.Has([]byte("k")))
	require.NoError(t, c.Close())

	// ResetIncompatible starts empty over it, and the file is the new layout's from then on.
	cfg := Config{Capacity: 32 << 20, Path: path, ResetIncompatible: true, JanitorInterval: -1}
	c, err = New(cfg)
	require.NoError(t, err)
	require.Zero(t, c.Len())
	require.NoError(t, c.Set([]byte("k2"), []byte("v2")))
	require.NoError(t, c.Close())
	cfg.ResetIncompatible = false
	c, err = New(cfg)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"k2": "v2"}, contents(c))
	require.NoError(t, c.Close())
}

// Bit flips in the header, a file of another format version, something that is not a cache
// file, a file cut short: each is refused, never used.
func TestRestartDamagedHeader(t *testing.T) {
	leakCheck(t)
	path := closedCacheFile(t, setOne(t))
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	restore := func() { require.NoError(t, os.WriteFile(path, good, 0o600)) }

	hsize := int(unsafe.Sizeof(fileHeader{}))
	for bit := 0; bit < hsize*8; bit += 37 {
		restore()
		b := bytes.Clone(good[:hsize])
		b[bit/8] ^= 1 << (bit % 8)
		writeAt(t, path, 0, b)
		_, err := New(fileConfig(path))
		require.ErrorIs(t, err, ErrIncompatible, "bit %d", bit)
	}
	restore()
	editHeader(t, path, func(h *fileHeader) { h.Version = fileVersion + 1 })
	_, err = New(fileConfig(path))
	require.ErrorContains(t, err, fmt.Sprintf("format version %d", fileVersion+1))

	restore()
	writeAt(t, path, 0, []byte("this is not a cache file at all"))
	_, err = New(fileConfig(path))
	require.ErrorContains(t, err, "not a cache file")

	restore()
	require.NoError(t, os.Truncate(path, int64(len(good)/2)))
	_, err = New(fileConfig(path))
	require.ErrorIs(t, err, ErrIncompatible)
	require.ErrorContains(t, err, "the file has")
}

// A file whose header holds but whose insides were changed: offsets and links that point
// outside the mapping or at the wrong places. What emptying a shard would walk (segment
// records, queues, the index directory) is verified by New, which refuses the file; the slots
// and entries are verified when their shard is first used, and a shard that fails is emptied.
// Never a fault, never a wrong value.
func TestRestartCorruptInsides(t *testing.T) {
	leakCheck(t)
	path := cacheFilePath(t)
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	want := fillModel(t, c, 2000)
	// Where things are, as offsets into the file.
	base := uintptr(unsafe.Pointer(&c.e.region[0]))
	at := func(p unsafe.Pointer) int64 { return int64(uintptr(p) - base) }
	s := &c.e.shards[0]
	var slotOff int64 = -1
	s.idx.eachPage(func(p uint32) {
		for b := int(p) * indexPageSize; b < int(p+1)*indexPageSize && slotOff < 0; b += bucketBytes {
			for k := range bucketSlots {
				if s.idx.off(slot{b, k}) != 0 {
					slotOff = at(unsafe.Pointer(&s.data[b+offsOff+4*k]))
					break
				}
			}
		}
	})
	require.Positive(t, slotOff)
	inShard0 := map[string]bool{}
	for k := range want {
		if c.e.hash([]byte(k))&c.e.mask == 0 {
			inShard0[k] = true
		}
	}
	require.NotEmpty(t, inShard0)
	queueOff := at(unsafe.Pointer(s.q))
	recordOff := at(unsafe.Pointer(s.ar.Seg(s.q.Head())))
	dirOff := at(unsafe.Pointer(&s.idx.dir[0]))
	require.NoError(t, c.Close())
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	for name, change := range map[string]struct {
		off int64
		b   []byte
	}{
		"queue head beyond the segments":         {queueOff, u32(0xfffffff0)},
		"segment record linking outside":         {recordOff + 4, u32(0xfffffff0)}, // next
		"segment record with Used past its size": {recordOff + 8, u32(0xfffffff0)},
		"directory naming a page outside":        {dirOff, u32(0xfffffff0)},
	} {
		require.NoError(t, os.WriteFile(path, good, 0o600))
		writeAt(t, path, change.off, change.b)
		_, err := New(fileConfig(path))
		require.ErrorIs(t, err, ErrIncompatible, name)
		require.ErrorContains(t, err, "corrupt", name)
	}
	for name, change := range map[string]struct {
		off int64
		b   []byte
	}{
		"slot offset far outside the mapping": {slotOff, u32(0xfffffff0)},
		"slot offset into the headers":        {slotOff, u32(1)},
		"slot offset into another entry":      {slotOff, u32(3)},
	} {
		require.NoError(t, os.WriteFile(path, good, 0o600))
		writeAt(t, path, change.off, change.b)
		c, err := New(fileConfig(path))
		require.NoError(t, err, name)
		// Reads without the lock come first, before any verification: each is the key's
		// value or a miss.
		for k, v := range want {
			if got, ok := c.Get(nil, []byte(k)); ok {
				require.Equal(t, v, string(got), name)
			}
		}
		// A Set of a key of the damaged shard, looked up before the shard was verified and
		// emptied, is stored as a new key.
		var k0 string
		for k := range inShard0 {
			k0 = k
			break
		}
		require.NoError(t, c.Set([]byte(k0), []byte("new")), name)
		got := contents(c)
		require.Equal(t, "new", got[k0], name)
		delete(got, k0)
		require.Equal(t, int64(1), c.e.shardsEmptied.Load(), name)
		for k, v := range want {
			if inShard0[k] {
				require.NotContains(t, got, k, name)
			} else {
				require.Equal(t, v, got[k], name)
			}
		}
		require.Equal(t, len(want)-len(inShard0), len(got), name)
		mustCheck(t, c, "%s", name)
		require.NoError(t, c.Close())
	}
	// Refused files can be replaced, never half-used.
	require.NoError(t, os.WriteFile(path, good, 0o600))
	writeAt(t, path, queueOff, u32(0xfffffff0))
	c, err = New(Config{Capacity: 16 << 20, Path: path, ResetIncompatible: true, JanitorInterval: -1})
	require.NoError(t, err)
	require.Zero(t, c.Len())
	mustCheck(t, c, "after a reset")
	require.NoError(t, c.Close())
}

// runningFileCache is a cache on fileConfig, open until the test ends, filled by fillModel with
// n entries; it returns the cache, its file's path and what it holds.
func runningFileCache(t *testing.T, n int) (*Cache, string, map[string]string) {
	path := cacheFilePath(t)
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, path, fillModel(t, c, n)
}

// crashCopy copies the file at src, a running cache's, to a new path when fn says, while fn
// holds what it holds: the file as a process killed at that moment would leave it.
func crashCopy(t *testing.T, src string, fn func(copyNow func())) string {
	path := cacheFilePath(t)
	fn(func() {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o600))
	})
	return path
}

// A process that died while it wrote one shard, and in the middle of its pool's bookkeeping,
// leaves a file whose other shards are served in full; the pools are rebuilt, and the cache
// goes on writing, checking and closing as any other.
func TestRestartAfterCrashEmptiesTheDirtyShard(t *testing.T) {
	leakCheck(t)
	c, src, want := runningFileCache(t, 20000)
	const dirty = 3
	inDirty := map[string]bool{}
	for k := range want {
		if c.e.hash([]byte(k))&c.e.mask == dirty {
			inDirty[k] = true
		}
	}
	require.NotEmpty(t, inDirty)
	base := uintptr(unsafe.Pointer(&c.e.region[0]))
	at := func(p unsafe.Pointer) int64 { return int64(uintptr(p) - base) }
	g := c.e.shards[0].g
	poolOff := at(unsafe.Pointer(&g.ar.Data()[0])) - int64(arena.Overhead(g.ar.Len())) // the arena's header
	pagesOff := at(unsafe.Pointer(g.hdr))
	pinnedOff := at(unsafe.Pointer(g.ar.Seg(c.e.shards[1].q.Head()))) + 24 // a record's pins
	retiredOff := at(unsafe.Pointer(c.e.shards[1].q)) + 12                 // a queue's retired count
	path := crashCopy(t, src, func(copyNow func()) {
		s := &c.e.shards[dirty]
		s.lock()
		defer s.unlock()
		copyNow()
	})
	u32 := func(vs ...uint32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	writeAt(t, path, poolOff, u32(0xfffffff0))            // the free list's head
	writeAt(t, path, poolOff+8, u32(12345, 0))            // free and held counts
	writeAt(t, path, pagesOff, u32(0xfffffff0, 7, 3, 99)) // page pool
	writeAt(t, path, pinnedOff, u32(2))                   // pinned by two readers
	writeAt(t, path, retiredOff, u32(1))                  // a segment retired, waiting for them

	r, err := New(fileConfig(path))
	require.NoError(t, err)
	require.Equal(t, int64(1), r.e.shardsEmptied.Load())
	got := contents(r)
	require.Equal(t, int64(1), r.e.shardsEmptied.Load(), "the clean shards pass their verification")
	for k := range inDirty {
		delete(want, k)
	}
	require.Equal(t, want, got)
	require.Equal(t, len(want), r.Stats().Entries)
	mustCheck(t, r, "recovered")
	// It goes on: new entries take segments and index pages from the rebuilt pools.
	more := fillModel(t, r, 30000)
	for k, v := range more {
		want[k] = v
	}
	mustCheck(t, r, "recovered, then written")
	got = contents(r)
	require.NoError(t, r.Close())
	r, err = New(fileConfig(path))
	require.NoError(t, err)
	require.Equal(t, got, contents(r))
	require.NoError(t, r.Close())
}

// A file left open whose bookkeeping is damaged as no crash damages it (a byte changed anywhere
// in the headers, directories and segment records) is refused as corrupt, or served: and then
// it passes the full check and serves only what was written under each key.
func TestRestartAfterCrashDamaged(t *testing.T) {
	leakCheck(t)
	c, src, want := runningFileCache(t, 20000)
	good, err := os.ReadFile(crashCopy(t, src, func(copyNow func()) { copyNow() }))
	require.NoError(t, err)
	l := &c.e.lay
	books := l.arenaOff + arena.Overhead(l.segments) // group 0's headers, directories and records
	path := cacheFilePath(t)
	r := rand.New(rand.NewPCG(7, 8))
	rounds := 30
	if runtime.GOARCH != "amd64" {
		rounds = 5 // CI runs the other architectures under emulation, ten times slower
	}
	refused := 0
	for round := range rounds {
		bad := bytes.Clone(good)
		for range 1 + r.IntN(4) {
			bad[l.base+r.IntN(books)] ^= byte(1 + r.IntN(255))
		}
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		d, err := New(fileConfig(path))
		if err != nil {
			require.ErrorIs(t, err, ErrIncompatible, "round %d", round)
			refused++
			continue
		}
		for k, v := range d.All() {
			require.Equal(t, want[string(k)], string(v), "round %d: key %q", round, k)
		}
		mustCheck(t, d, "round %d", round)
		require.NoError(t, d.Close())
	}
	t.Logf("%d of %d damaged files refused, the others served", refused, rounds)
}

// After a crash, expiry goes on from the clocks recorded when the file was opened.
func TestRestartAfterCrashKeepsExpiry(t *testing.T) {
	leakCheck(t)
	src := cacheFilePath(t)
	c, err := New(fileConfig(src))
	require.NoError(t, err)
	defer c.Close()
	setExpiring(t, c)
	path := crashCopy(t, src, func(copyNow func()) { copyNow() })
	// As if the process had opened the file two hours before it died.
	editHeader(t, path, func(h *fileHeader) {
		require.Equal(t, uint32(fileOpen), h.State)
		h.OpenedWall -= int64(2 * time.Hour)
	})
	checkTwoHoursOn(t, path)
}

func TestRestartFileLocked(t *testing.T) {
	leakCheck(t)
	path := cacheFilePath(t)
	c, err := New(fileConfig(path))
	require.NoError(t, err)
	_, err = New(fileConfig(path))
	require.ErrorIs(t, err, ErrFileLocked)
	require.NoError(t, c.Close())
	c, err = New(fileConfig(path))
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

func TestRestartRefusesUnsafeFiles(t *testing.T) {
	leakCheck(t)
	dir := filepath.Dir(cacheFilePath(t))

	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, nil, 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	_, err := New(fileConfig(link))
	require.ErrorContains(t, err, "symbolic link")

	open := filepath.Join(dir, "world-writable")
	require.NoError(t, os.WriteFile(open, make([]byte, 16<<20), 0o600))
	require.NoError(t, os.Chmod(open, 0o666))
	_, err = New(fileConfig(open))
	require.ErrorIs(t, err, ErrUnsafeFile)
	require.ErrorContains(t, err, "group or others may write it")

	_, err = New(fileConfig(dir))
	require.Error(t, err, "a directory")

	// A read-only file is refused, root or not, and left as it was.
	readOnly := closedCacheFile(t, setOne(t))
	require.NoError(t, os.Chmod(readOnly, 0o400))
	before, err := os.ReadFile(readOnly)
	require.NoError(t, err)
	_, err = New(fileConfig(readOnly))
	require.ErrorIs(t, err, fs.ErrPermission)
	_, err = New(Config{Capacity: 16 << 20, Path: readOnly, ResetIncompatible: true})
	require.ErrorIs(t, err, fs.ErrPermission)
	after, err := os.ReadFile(readOnly)
	require.NoError(t, err)
	require.True(t, bytes.Equal(before, after), "the read-only file is untouched")

	// A file another user owns: seen as such by making this process another user.
	mine := closedCacheFile(t, setOne(t))
	defer func(f func() int) { processUID = f }(processUID)
	processUID = func() int { return os.Geteuid() + 1 }
	_, err = New(fileConfig(mine))
	require.ErrorIs(t, err, ErrUnsafeFile)
	require.ErrorContains(t, err, "is owned by user")
}

// A full tmpfs fails New with the system's error, not with a fault at some later write, and
// leaves no file behind.
func TestRestartFullFilesystem(t *testing.T) {
	leakCheck(t)
	path := cacheFilePath(t)
	defer func(f func(int, uint32, int64, int64) error) { fallocate = f }(fallocate)
	fallocate = func(int, uint32, int64, int64) error { return syscall.ENOSPC }
	_, err := New(fileConfig(path))
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorContains(t, err, "making room for")
	require.NoFileExists(t, path)
}
