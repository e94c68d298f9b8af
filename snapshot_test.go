package mmcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
)

// snapKey is the i-th key of the snapshot tests.
func snapKey(i int) []byte { return fmt.Appendf(nil, "snap-%06d", i) }

// contents is every live entry of c, by key.
func contents(c *Cache) map[string]string {
	m := map[string]string{}
	for k, v := range c.All() {
		m[string(k)] = string(v)
	}
	return m
}

// snapBlock is a block of a snapshot as the format describes it, found by a reader written
// from docs/persistence.md rather than from Load: where it starts and ends in the stream, its
// entries' keys and whether its checksum holds.
type snapBlock struct {
	start, end int
	keys       []string
	sane       bool
	last       bool // the end block
}

// splitSnapshot cuts a stream into its blocks, as far as their lengths allow.
func splitSnapshot(b []byte) []snapBlock {
	var out []snapBlock
	for at := snapshotHeaderSize; at+8 <= len(b); {
		n := binary.LittleEndian.Uint32(b[at:])
		size64 := uint64(binary.LittleEndian.Uint32(b[at+4:]))
		if size64 > uint64(len(b)) || uint64(at)+16+size64 > uint64(len(b)) {
			break
		}
		end := at + 8 + int(size64) + 8
		blk := snapBlock{start: at, end: end, last: n == 0}
		blk.sane = binary.LittleEndian.Uint64(b[end-8:]) == xxhash.Sum64(b[at:end-8])
		if p := b[at+8 : end-8]; blk.sane && n > 0 {
			for range n {
				kl, a := binary.Uvarint(p)
				vl, c := binary.Uvarint(p[a:])
				_, d := binary.Uvarint(p[a+c:])
				p = p[a+c+d:]
				blk.keys = append(blk.keys, string(p[:kl]))
				p = p[kl+vl:]
			}
		}
		out = append(out, blk)
		at = end
	}
	return out
}

// fillSnap stores n entries of sizes up to 3000 bytes, every third with a TTL, and returns them.
func fillSnap(t *testing.T, c *Cache, n int) map[string]string {
	want := map[string]string{}
	for i := range n {
		k := snapKey(i)
		v := valueFor(k, 1, i%3000)
		if i%3 == 0 {
			require.NoError(t, c.SetWithTTL(k, v, time.Hour))
		} else {
			require.NoError(t, c.Set(k, v))
		}
		want[string(k)] = string(v)
	}
	return want
}

func TestSaveLoadRoundTrip(t *testing.T) {
	leakCheck(t)
	stream, want := snapshotOf(t, 20000)
	blocks := splitSnapshot(stream)
	require.Greater(t, len(blocks), 3, "a 30 MB snapshot is cut in blocks of about 1 MiB")
	require.True(t, blocks[len(blocks)-1].last)
	require.Equal(t, len(stream), blocks[len(blocks)-1].end)

	// Into caches of other shapes: another shard count, and one with room for all of it.
	for _, cfg := range []Config{
		{Capacity: 48 << 20, Shards: 2, JanitorInterval: -1},
		{Capacity: 200 << 20, JanitorInterval: -1},
	} {
		dst := newCacheT(t, cfg, nil, nil)
		n, err := dst.Load(bytes.NewReader(stream))
		require.NoError(t, err)
		require.Equal(t, len(want), n)
		require.Equal(t, want, contents(dst))
		for i := 0; i < 20000; i += 3 {
			_, ttl, ok := dst.GetWithTTL(nil, snapKey(i))
			require.True(t, ok)
			require.InDelta(t, float64(time.Hour), float64(ttl), float64(time.Minute), "key %d", i)
		}
		_, ttl, _ := dst.GetWithTTL(nil, snapKey(1))
		require.Zero(t, ttl, "an entry without a TTL gets none")
	}
}

// A snapshot larger than the cache that loads it: every Set is made, the cache evicts, and
// what it holds is whole and right.
func TestLoadIntoSmallerCache(t *testing.T) {
	leakCheck(t)
	stream, want := snapshotOf(t, 20000)
	dst := newCacheT(t, Config{Capacity: 4 << 20, JanitorInterval: -1}, nil, nil)
	n, err := dst.Load(bytes.NewReader(stream))
	require.NoError(t, err)
	require.Equal(t, len(want), n, "every entry was stored, and some evicted since")
	got := contents(dst)
	require.Less(t, len(got), len(want))
	require.NotEmpty(t, got)
	for k, v := range got {
		require.Equal(t, want[k], v, "key %q", k)
	}
	require.Positive(t, dst.Stats().Evictions)
}

// Times to live carry over: what was left at the Save, less the time since, by the wall clock.
func TestLoadTimeToLive(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	src := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, clock, nil)
	require.NoError(t, src.SetWithTTL([]byte("short"), []byte("a"), 10*time.Second))
	require.NoError(t, src.SetWithTTL([]byte("long"), []byte("b"), time.Hour))
	require.NoError(t, src.Set([]byte("never"), []byte("c")))
	require.NoError(t, src.SetWithTTL([]byte("gone"), []byte("d"), time.Second))
	clock.advance(int64(4 * time.Second)) // gone has expired, short has 6 s left
	var buf bytes.Buffer
	require.NoError(t, src.Save(&buf))

	load := func(age time.Duration) map[string]time.Duration {
		b := bytes.Clone(buf.Bytes())
		saved := int64(binary.LittleEndian.Uint64(b[16:]))
		binary.LittleEndian.PutUint64(b[16:], uint64(saved-int64(age)))
		binary.LittleEndian.PutUint64(b[24:], xxhash.Sum64(b[:24]))
		dstClock := newFakeClock()
		dst := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, dstClock, nil)
		_, err := dst.Load(bytes.NewReader(b))
		require.NoError(t, err)
		got := map[string]time.Duration{}
		for k := range dst.Keys() {
			_, ttl, ok := dst.GetWithTTL(nil, k)
			require.True(t, ok)
			got[string(k)] = ttl
		}
		return got
	}
	// Loaded at once: the loader's real wall clock has moved a little since the Save.
	got := load(0)
	require.Len(t, got, 3)
	require.InDelta(t, float64(6*time.Second), float64(got["short"]), float64(time.Second))
	require.LessOrEqual(t, got["short"], 6*time.Second)
	require.InDelta(t, float64(time.Hour-4*time.Second), float64(got["long"]), float64(time.Second))
	require.Zero(t, got["never"])
	// Saved 5 s before: short has about 1 s left. Saved 7 s before: short has expired.
	got = load(5 * time.Second)
	require.InDelta(t, float64(time.Second), float64(got["short"]), float64(time.Second))
	got = load(7 * time.Second)
	require.Equal(t, []string{"long", "never"}, sortedKeys(got))
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// snapshotOf saves n entries of a fresh cache and returns the stream and the entries.
func snapshotOf(t *testing.T, n int) ([]byte, map[string]string) {
	src := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, nil, nil)
	want := fillSnap(t, src, n)
	var buf bytes.Buffer
	require.NoError(t, src.Save(&buf))
	return buf.Bytes(), want
}

// checkPartialLoad loads stream into a fresh cache, expects an ErrBadSnapshot, and checks that
// the cache holds exactly the entries of the sane blocks before the first bad or missing one.
// Each load runs as its own subtest, so its cache is closed before the next one is mapped:
// dozens of 64 MiB mappings held at once would exhaust a 32-bit address space.
func checkPartialLoad(t *testing.T, stream []byte, want map[string]string, what string) {
	t.Helper()
	t.Run(what, func(t *testing.T) { checkPartialLoadInto(t, stream, want, what) })
}

func checkPartialLoadInto(t *testing.T, stream []byte, want map[string]string, what string) {
	dst := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, nil, nil)
	n, err := dst.Load(bytes.NewReader(stream))
	require.ErrorIs(t, err, ErrBadSnapshot, what)
	expect := map[string]string{}
	if len(stream) >= snapshotHeaderSize && bytes.Equal(stream[:snapshotHeaderSize], fullHeader(stream)) {
		for _, b := range splitSnapshot(stream) {
			if !b.sane || b.last {
				break
			}
			for _, k := range b.keys {
				expect[k] = want[k]
			}
		}
	}
	require.Equal(t, len(expect), n, what)
	require.Equal(t, expect, contents(dst), what)
}

// fullHeader is stream's header if it is sane, else nil.
func fullHeader(stream []byte) []byte {
	h := stream[:snapshotHeaderSize]
	if binary.LittleEndian.Uint64(h[24:]) != xxhash.Sum64(h[:24]) || string(h[:8]) != snapshotMagic {
		return nil
	}
	return h
}

// A stream cut short anywhere, at a block's boundary or within one, is refused, and what was
// stored is exactly the whole blocks before the cut.
func TestLoadTruncated(t *testing.T) {
	leakCheck(t)
	stream, want := snapshotOf(t, 5000)
	blocks := splitSnapshot(stream)
	require.Greater(t, len(blocks), 3)
	cuts := []int{0, 1, snapshotHeaderSize - 1, snapshotHeaderSize, len(stream) - 1, len(stream) - 8, len(stream) - 16}
	for _, b := range blocks {
		cuts = append(cuts, b.start, b.start+4, b.start+9, (b.start+b.end)/2, b.end-1)
	}
	for _, cut := range cuts {
		checkPartialLoad(t, stream[:cut], want, fmt.Sprintf("cut at %d of %d", cut, len(stream)))
	}
}

// A flipped bit anywhere is caught: in the header nothing is stored, in a block the blocks
// before it are, and none of its entries.
func TestLoadCorrupt(t *testing.T) {
	leakCheck(t)
	stream, want := snapshotOf(t, 5000)
	r := rand.New(rand.NewPCG(1, 2))
	flips := []int{0, 9, 16, 30}
	for _, b := range splitSnapshot(stream) {
		flips = append(flips, b.start, b.start+5, b.start+8, b.start+8+r.IntN(b.end-b.start-16), b.end-1)
	}
	for _, at := range flips {
		bad := bytes.Clone(stream)
		bad[at] ^= 1 << r.IntN(8)
		checkPartialLoad(t, bad, want, fmt.Sprintf("bit flipped at %d", at))
	}
}

// A crafted block: its checksum holds but its lengths lie. Nothing of it is stored.
func TestLoadCraftedBlock(t *testing.T) {
	leakCheck(t)
	stream, _ := snapshotOf(t, 10)
	head := stream[:snapshotHeaderSize]
	block := func(n uint32, payload []byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, n)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
		b = append(b, payload...)
		return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
	}
	entry := func(kl, vl, left uint64, body string) []byte {
		p := binary.AppendUvarint(nil, kl)
		p = binary.AppendUvarint(p, vl)
		p = binary.AppendUvarint(p, left)
		return append(p, body...)
	}
	for name, blk := range map[string][]byte{
		"value longer than the block":  block(1, entry(1, 100, 0, "kv")),
		"key longer than MaxKeySize":   block(1, entry(MaxKeySize+1, 0, 0, "k")),
		"more entries than bytes":      block(1000, entry(1, 1, 0, "kv")),
		"bytes after the last entry":   block(1, append(entry(1, 1, 0, "kv"), 0)),
		"varint overflowing 64 bits":   block(1, append(bytes.Repeat([]byte{0xff}, 11), 0, 0, 'k')),
		"end block with a wrong count": block(0, binary.LittleEndian.AppendUint64(nil, 1)),
	} {
		dst := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, nil, nil)
		n, err := dst.Load(bytes.NewReader(append(bytes.Clone(head), blk...)))
		require.ErrorIs(t, err, ErrBadSnapshot, name)
		require.Zero(t, n, name)
		require.Zero(t, dst.Len(), name)
	}
	// A block claiming more bytes than a Save ever writes is refused before it is read.
	huge := binary.LittleEndian.AppendUint32(bytes.Clone(head), 1)
	huge = binary.LittleEndian.AppendUint32(huge, 1<<31)
	dst := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, nil, nil)
	_, err := dst.Load(bytes.NewReader(huge))
	require.ErrorIs(t, err, ErrBadSnapshot)
	require.ErrorContains(t, err, "more than any Save writes")
}

func TestLoadForeignStreams(t *testing.T) {
	leakCheck(t)
	stream, _ := snapshotOf(t, 10)
	version := bytes.Clone(stream)
	binary.LittleEndian.PutUint32(version[8:], 2)
	binary.LittleEndian.PutUint64(version[24:], xxhash.Sum64(version[:24]))
	for name, tc := range map[string]struct {
		stream []byte
		msg    string
	}{
		"empty":         {nil, "cut short in its header"},
		"text":          {[]byte("this is not a snapshot, only some text long enough"), "not a snapshot"},
		"a new version": {version, "version 2"},
	} {
		dst := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, nil, nil)
		_, err := dst.Load(bytes.NewReader(tc.stream))
		require.ErrorIs(t, err, ErrBadSnapshot, name)
		require.ErrorContains(t, err, tc.msg, name)
	}
}

// Entries larger than the loading cache's MaxEntrySize are skipped; the rest are stored.
func TestLoadSkipsEntriesTooLarge(t *testing.T) {
	leakCheck(t)
	src := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, nil, nil)
	require.NoError(t, src.Set([]byte("small"), make([]byte, 100)))
	require.NoError(t, src.Set([]byte("large"), make([]byte, 10000)))
	var buf bytes.Buffer
	require.NoError(t, src.Save(&buf))
	dst := newCacheT(t, Config{Capacity: 8 << 20, MaxEntrySize: 4096, JanitorInterval: -1}, nil, nil)
	n, err := dst.Load(&buf)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.True(t, dst.Has([]byte("small")))
	require.False(t, dst.Has([]byte("large")))
}

type failingWriter struct{ after int }

var errWriter = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after < len(p) {
		n := max(w.after, 0)
		w.after = -1
		return n, errWriter
	}
	w.after -= len(p)
	return len(p), nil
}

func TestSaveErrors(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, nil, nil)
	fillSnap(t, c, 5000)
	for _, after := range []int{0, 100, 1 << 20, 5 << 20} {
		require.ErrorIs(t, c.Save(&failingWriter{after: after}), errWriter, "failing after %d bytes", after)
	}
	require.NoError(t, c.Close())
	require.ErrorIs(t, c.Save(io.Discard), ErrClosed)
	_, err := c.Load(bytes.NewReader(nil))
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, (&Cache{}).Save(io.Discard), ErrClosed)
}

// An empty cache saves a snapshot of no entries, which loads as such.
func TestSaveEmpty(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, nil, nil)
	var buf bytes.Buffer
	require.NoError(t, c.Save(&buf))
	require.Equal(t, snapshotHeaderSize+8+8+8, buf.Len())
	n, err := c.Load(&buf)
	require.NoError(t, err)
	require.Zero(t, n)
}

// Save while other goroutines write and read: every entry untouched during the Save is in the
// snapshot, with its value, and every entry in it has a value that was written for its key.
func TestSaveWhileWriting(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 64 << 20}, nil, nil)
	const stable, churn = 5000, 2000
	for i := range stable {
		require.NoError(t, c.Set(snapKey(i), valueFor(snapKey(i), 0, 200)))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				k := snapKey(stable + (v*7+w)%churn)
				if v%5 == 0 {
					c.Delete(k)
				} else if err := c.Set(k, churnValue(k, v)); err != nil {
					t.Error(err)
					return
				}
				c.Get(nil, snapKey(v%stable))
			}
		}()
	}
	var buf bytes.Buffer
	err := c.Save(&buf)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	dst := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, nil, nil)
	_, err = dst.Load(&buf)
	require.NoError(t, err)
	got := contents(dst)
	for i := range stable {
		require.Equal(t, string(valueFor(snapKey(i), 0, 200)), got[string(snapKey(i))], "key %d", i)
	}
	for k, v := range got {
		var i int
		_, _ = fmt.Sscanf(k, "snap-%06d", &i)
		if i >= stable {
			version, _, ok := strings.Cut(v, ":")
			require.True(t, ok, "key %q", k)
			n, err := strconv.Atoi(version)
			require.NoError(t, err, "key %q", k)
			require.Equal(t, string(churnValue([]byte(k), n)), v, "key %q", k)
		}
	}
}

// churnValue is the value version v of key k: the version, a colon, and bytes that name both.
func churnValue(k []byte, v int) []byte {
	return append(fmt.Appendf(nil, "%d:", v), valueFor(k, v, 100+v%300)...)
}

// FuzzLoad: whatever the stream, Load never panics, and every entry it stores comes from a
// block whose checksum holds, with the value written for its key in the seed snapshot.
func FuzzLoad(f *testing.F) {
	src, err := New(Config{Capacity: 8 << 20, JanitorInterval: -1})
	require.NoError(f, err)
	want := map[string]string{}
	for i := range 300 {
		k := snapKey(i)
		v := valueFor(k, 1, i*7%5000)
		require.NoError(f, src.SetWithTTL(k, v, time.Duration(i%2)*time.Hour))
		want[string(k)] = string(v)
	}
	var buf bytes.Buffer
	require.NoError(f, src.Save(&buf))
	require.NoError(f, src.Close())
	stream := buf.Bytes()
	f.Add(stream)
	f.Add(stream[:len(stream)/2])
	f.Add(stream[:snapshotHeaderSize+20])
	f.Add([]byte(snapshotMagic))
	bad := bytes.Clone(stream)
	bad[len(bad)/3] ^= 4
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		dst, err := New(Config{Capacity: 8 << 20, JanitorInterval: -1})
		require.NoError(t, err)
		defer dst.Close()
		n, err := dst.Load(bytes.NewReader(b))
		got := contents(dst)
		require.Equal(t, n, len(got))
		if err != nil {
			require.ErrorIs(t, err, ErrBadSnapshot)
		}
		sane := map[string]bool{}
		for _, blk := range splitSnapshot(b) {
			if !blk.sane {
				break
			}
			for _, k := range blk.keys {
				sane[k] = true
			}
		}
		for k, v := range got {
			require.True(t, sane[k], "key %q stored from a block that fails its checksum", k)
			if w, ok := want[k]; ok && bytes.HasPrefix(b, stream[:snapshotHeaderSize]) {
				require.Equal(t, w, v)
			}
		}
	})
}

// benchSnapshotCache is a cache of n entries of 16+64 bytes, as in bench/cmd/snapshot.
func benchSnapshotCache(b *testing.B, n int) *Cache {
	c, err := New(Config{Capacity: 2 * n * 80})
	require.NoError(b, err)
	v := make([]byte, 64)
	for i := range n {
		require.NoError(b, c.Set(fmt.Appendf(nil, "key-%012d", i), v))
	}
	return c
}

func BenchmarkSave(b *testing.B) {
	c := benchSnapshotCache(b, 1_000_000)
	defer c.Close()
	b.SetBytes(1_000_000 * 80)
	for b.Loop() {
		require.NoError(b, c.Save(io.Discard))
	}
}

func BenchmarkLoad(b *testing.B) {
	c := benchSnapshotCache(b, 1_000_000)
	var buf bytes.Buffer
	require.NoError(b, c.Save(&buf))
	require.NoError(b, c.Close())
	b.SetBytes(1_000_000 * 80)
	for b.Loop() {
		b.StopTimer()
		dst, err := New(Config{Capacity: 2 * 1_000_000 * 80})
		require.NoError(b, err)
		b.StartTimer()
		n, err := dst.Load(bytes.NewReader(buf.Bytes()))
		require.NoError(b, err)
		require.Equal(b, 1_000_000, n)
		b.StopTimer()
		require.NoError(b, dst.Close())
		b.StartTimer()
	}
}

// snapshotGoroutines counts the goroutines running Save's or Load's workers.
func snapshotGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("mmcache.(*saver).work")) + bytes.Count(buf, []byte("mmcache.(*loader).work"))
}

// waitNoSnapshotWorkers polls until no worker of Save or Load is left.
func waitNoSnapshotWorkers(t *testing.T) {
	deadline := time.Now().Add(10 * time.Second)
	for snapshotGoroutines() > 0 {
		require.False(t, time.Now().After(deadline), "Save or Load workers still running")
		runtime.Gosched()
	}
}

type panickingWriter struct{ after int }

func (w *panickingWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		panic("writer broke")
	}
	return len(p), nil
}

type panickingReader struct {
	r     io.Reader
	after int
}

func (r *panickingReader) Read(p []byte) (int, error) {
	if r.after -= len(p); r.after < 0 {
		panic("reader broke")
	}
	return r.r.Read(p)
}

// A panic in the writer, the reader or an OnRemoval callback goes on to the caller of Save or
// Load, leaves no worker running and no shard locked: the cache serves on.
func TestSnapshotPanics(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, nil, nil)
	fillSnap(t, c, 20000)
	require.PanicsWithValue(t, "writer broke", func() { _ = c.Save(&panickingWriter{after: 3 << 20}) })
	waitNoSnapshotWorkers(t)
	var buf bytes.Buffer
	require.NoError(t, c.Save(&buf))
	stream := buf.Bytes()

	dst := newCacheT(t, Config{Capacity: 64 << 20, JanitorInterval: -1}, nil, nil)
	require.PanicsWithValue(t, "reader broke", func() {
		_, _ = dst.Load(&panickingReader{r: bytes.NewReader(stream), after: len(stream) / 2})
	})
	waitNoSnapshotWorkers(t)
	n, err := dst.Load(bytes.NewReader(stream))
	require.NoError(t, err)
	require.Equal(t, 20000, n)

	// An OnRemoval that panics at the first entry the Load replaces.
	var panicked atomic.Bool
	cfg := Config{Capacity: 64 << 20, JanitorInterval: -1, OnRemoval: func(key, _ []byte, cause RemovalCause) {
		if cause == RemovalReplaced && panicked.CompareAndSwap(false, true) {
			panic("callback broke")
		}
	}}
	rc := newCacheT(t, cfg, nil, nil)
	require.NoError(t, rc.Set(snapKey(1), []byte("old")))
	require.PanicsWithValue(t, "callback broke", func() { _, _ = rc.Load(bytes.NewReader(stream)) })
	waitNoSnapshotWorkers(t)
	require.True(t, shardsUnlocked(rc, 5*time.Second))
	n, err = rc.Load(bytes.NewReader(stream))
	require.NoError(t, err)
	require.Equal(t, 20000, n)
	mustCheck(t, rc, "after the Loads")
}
