package mmcache

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTable returns an empty table of n buckets over a 64-byte aligned part of a heap slice.
func newTable(t testing.TB, n int) *table {
	t.Helper()
	raw := make([]byte, n*bucketSize+bucketSize)
	skip := int((bucketSize - uintptr(unsafe.Pointer(&raw[0]))%bucketSize) % bucketSize)
	mem := raw[skip : skip+n*bucketSize : skip+n*bucketSize]
	require.Zero(t, uintptr(unsafe.Pointer(&mem[0]))%bucketSize)
	return &table{mem: mem, n: uint32(n)}
}

// setTags writes tags into bucket b's slots directly.
func setTags(tb *table, b uint32, tags [slotsPerBucket]uint8) {
	copy(tb.mem[int(b)*bucketSize+tagsOff:], tags[:])
}

// naiveMatch is match written the obvious way.
func naiveMatch(tags [slotsPerBucket]uint8, tag uint8) uint32 {
	var m uint32
	for i, x := range tags {
		if x == tag {
			m |= 1 << i
		}
	}
	return m
}

func naiveZeroBytes(x uint64) uint64 {
	var r uint64
	for i := range 8 {
		if byte(x>>(8*i)) == 0 {
			r |= 0x80 << (8 * i)
		}
	}
	return r
}

func TestZeroBytesExhaustive(t *testing.T) {
	// Every value in every byte position, over backgrounds that provoke the borrow and carry
	// false positives of the shorter SWAR forms.
	for _, bg := range []uint64{0, 0x0101010101010101, 0x8080808080808080, 0xffffffffffffffff, 0x7f7f7f7f7f7f7f7f, 0x0100010001000100} {
		for pos := range 8 {
			for v := range 256 {
				x := bg&^(0xff<<(8*pos)) | uint64(v)<<(8*pos)
				require.Equal(t, naiveZeroBytes(x), zeroBytes(x), "x=%#016x", x)
			}
		}
	}
	// Every pair of values in every pair of adjacent positions.
	for pos := range 7 {
		for v := range 1 << 16 {
			x := uint64(0x5a5a5a5a5a5a5a5a)&^(0xffff<<(8*pos)) | uint64(v)<<(8*pos)
			if zeroBytes(x) != naiveZeroBytes(x) {
				t.Fatalf("zeroBytes(%#016x) = %#016x, want %#016x", x, zeroBytes(x), naiveZeroBytes(x))
			}
		}
	}
}

func TestMovemaskExhaustive(t *testing.T) {
	for m := range 256 {
		var x uint64
		for i := range 8 {
			if m&(1<<i) != 0 {
				x |= 0x80 << (8 * i)
			}
		}
		require.Equal(t, uint32(m), movemask(x), "x=%#016x", x)
	}
}

func TestMatchExhaustive(t *testing.T) {
	tb := newTable(t, 3)
	const b = 1 // a middle bucket: match must not read its neighbours
	setTags(tb, 0, [slotsPerBucket]uint8{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	setTags(tb, 2, [slotsPerBucket]uint8{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	binary.LittleEndian.PutUint32(tb.mem[b*bucketSize+metaOff:], 0xffffffff)
	for i := range slotsPerBucket {
		binary.LittleEndian.PutUint32(tb.mem[b*bucketSize+offsetsOff+4*i:], 0x07070707)
	}
	for q := range 256 {
		for v := range 256 {
			// All slots the same value.
			var tags [slotsPerBucket]uint8
			for i := range tags {
				tags[i] = uint8(v)
			}
			setTags(tb, b, tags)
			if got, want := tb.match(b, uint8(q)), naiveMatch(tags, uint8(q)); got != want {
				t.Fatalf("all %d, query %d: match %#x, want %#x", v, q, got, want)
			}
		}
		// One slot at a time equal to q, the others differing from it by one bit or one unit.
		for i := range slotsPerBucket {
			for _, other := range []uint8{uint8(q) ^ 1, uint8(q) + 1, uint8(q) - 1, uint8(q) ^ 0x80, 0, 0xff} {
				var tags [slotsPerBucket]uint8
				for j := range tags {
					tags[j] = other
				}
				tags[i] = uint8(q)
				setTags(tb, b, tags)
				if got, want := tb.match(b, uint8(q)), naiveMatch(tags, uint8(q)); got != want {
					t.Fatalf("tags %v, query %d: match %#x, want %#x", tags, q, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var tags [slotsPerBucket]uint8
		for j := range tags {
			tags[j] = uint8(rng.IntN(6)) // few values: many matches, zeros and near-zeros
		}
		q := uint8(rng.IntN(6))
		setTags(tb, b, tags)
		if got, want := tb.match(b, q), naiveMatch(tags, q); got != want {
			t.Fatalf("tags %v, query %d: match %#x, want %#x", tags, q, got, want)
		}
	}
}

func TestHomeAndNext(t *testing.T) {
	for _, n := range []uint32{1, 2, 3, 7, 100, 1 << 20} {
		tb := &table{n: n}
		assert.Equal(t, uint32(0), tb.home(0))
		assert.Equal(t, uint32(0), tb.home(1<<32-1), "the low 32 bits do not pick the bucket")
		assert.Equal(t, n-1, tb.home(^uint64(0)), "n=%d", n)
		assert.Equal(t, n/2, tb.home(1<<63), "n=%d", n)
		assert.Equal(t, uint32(0), tb.next(n-1), "n=%d wraps", n)
		if n > 1 {
			assert.Equal(t, uint32(1), tb.next(0))
		}
		assert.Equal(t, int(min(n, maxProbe)), tb.probeLen())
	}
	// home is within range for any hash.
	rng := rand.New(rand.NewPCG(3, 4))
	tb := &table{n: 12345}
	for range 100000 {
		if h := rng.Uint64(); tb.home(h) >= 12345 {
			t.Fatalf("home(%#x) = %d", h, tb.home(h))
		}
	}
}

func TestTagOf(t *testing.T) {
	assert.Equal(t, uint8(1), tagOf(0), "tag 0 means empty; it is remapped")
	assert.Equal(t, uint8(1), tagOf(0xffffffffff00ffff))
	assert.Equal(t, uint8(1), tagOf(1<<16))
	assert.Equal(t, uint8(0xab), tagOf(0xab<<16))
	assert.Equal(t, uint8(0xff), tagOf(^uint64(0)))
}

func TestOverflowCountAndAccessedBits(t *testing.T) {
	tb := newTable(t, 2)
	assert.Equal(t, uint32(0), tb.overflow(1))
	for i := range slotsPerBucket {
		tb.markAccessed(1, i)
		assert.True(t, tb.accessed(1, i))
		assert.False(t, tb.accessed(0, i))
	}
	for range 254 {
		tb.addOverflow(1, +1)
	}
	assert.Equal(t, uint32(254), tb.overflow(1))
	assert.Equal(t, uint32(0), tb.overflow(0))
	tb.addOverflow(1, -1)
	assert.Equal(t, uint32(253), tb.overflow(1))
	tb.addOverflow(1, +1)
	tb.addOverflow(1, +1)
	assert.Equal(t, uint32(overflowMax), tb.overflow(1))
	tb.addOverflow(1, +1)
	assert.Equal(t, uint32(overflowMax), tb.overflow(1), "the count sticks at the maximum")
	tb.addOverflow(1, -1)
	assert.Equal(t, uint32(overflowMax), tb.overflow(1), "a stuck count never comes down")
	for i := range slotsPerBucket {
		assert.True(t, tb.accessed(1, i), "overflow changes keep accessed bit %d", i)
	}
	tb.clearAccessed(1, 5)
	assert.False(t, tb.accessed(1, 5))
	assert.True(t, tb.accessed(1, 4))
	assert.True(t, tb.accessed(1, 6))
	assert.Equal(t, uint32(overflowMax), tb.overflow(1))
	assert.Equal(t, uint32(overflowMax<<overflowShift|accessedMask&^(1<<5)), *tb.meta(1))
	assert.Equal(t, uint32(0), *tb.meta(0))
}

// tableModel mirrors a table: for each occupied slot, the home of the entry in it.
type tableModel struct {
	tb    *table
	homes map[[2]int]uint32 // (bucket, slot) -> home
	tags  map[[2]int]uint8
	offs  map[[2]int]uint32
	ovf   []int // overflow counts, sticky at overflowMax as the table's
}

func newTableModel(tb *table) *tableModel {
	return &tableModel{tb: tb, homes: map[[2]int]uint32{}, tags: map[[2]int]uint8{}, offs: map[[2]int]uint32{}, ovf: make([]int, tb.n)}
}

func (m *tableModel) passed(home, b uint32, d int) {
	for x := home; x != b; x = m.tb.next(x) {
		if m.ovf[x] != overflowMax {
			m.ovf[x] += d
		}
	}
}

// stuck reports whether any overflow count is stuck at the maximum.
func (m *tableModel) stuck() bool {
	for _, c := range m.ovf {
		if c == overflowMax {
			return true
		}
	}
	return false
}

// expectInsert is where insert must put an entry with the given home: the first empty slot
// in probe order, or ok=false if the window is full.
func (m *tableModel) expectInsert(home uint32) (b uint32, i int, ok bool) {
	b = home
	for range m.tb.probeLen() {
		for i := range slotsPerBucket {
			if _, used := m.homes[[2]int{int(b), i}]; !used {
				return b, i, true
			}
		}
		b = m.tb.next(b)
	}
	return 0, 0, false
}

func (m *tableModel) insert(t testing.TB, home uint32, tag uint8, off uint32) bool {
	wb, wi, wok := m.expectInsert(home)
	b, i, ok := m.tb.insert(home, tag, off)
	require.Equal(t, wok, ok, "insert from home %d", home)
	if !ok {
		return false
	}
	require.Equal(t, [2]int{int(wb), wi}, [2]int{int(b), i}, "insert from home %d", home)
	k := [2]int{int(b), i}
	m.homes[k], m.tags[k], m.offs[k] = home, tag, off
	m.passed(home, b, +1)
	return true
}

func (m *tableModel) remove(k [2]int) {
	m.tb.remove(m.homes[k], uint32(k[0]), k[1])
	m.passed(m.homes[k], uint32(k[0]), -1)
	delete(m.homes, k)
	delete(m.tags, k)
	delete(m.offs, k)
}

// verify checks every slot, every overflow count, and that findOff finds every entry.
func (m *tableModel) verify(t testing.TB) {
	t.Helper()
	tb := m.tb
	want := make([]int, tb.n)
	for k, home := range m.homes {
		for x := home; x != uint32(k[0]); x = tb.next(x) {
			want[x]++
		}
	}
	for b := range tb.n {
		if got := tb.overflow(b); got != uint32(m.ovf[b]) {
			t.Fatalf("overflow of bucket %d is %d, want %d", b, got, m.ovf[b])
		}
		if m.ovf[b] != overflowMax && want[b] != m.ovf[b] {
			t.Fatalf("overflow of bucket %d: the model says %d, its slots %d", b, m.ovf[b], want[b])
		}
		for i := range slotsPerBucket {
			k := [2]int{int(b), i}
			wantTag, wantOff := m.tags[k], m.offs[k] // zero for an empty slot
			if tag, off := tb.tag(b, i), tb.off(b, i); tag != wantTag || off != wantOff {
				t.Fatalf("slot %d/%d holds tag %d offset %d, want %d and %d", b, i, tag, off, wantTag, wantOff)
			}
		}
	}
	for k, home := range m.homes {
		b, i, ok := tb.findOff(home, m.tags[k], m.offs[k])
		if !ok || b != uint32(k[0]) || i != k[1] {
			t.Fatalf("findOff of slot %v from home %d: %d/%d %v", k, home, b, i, ok)
		}
	}
}

func TestInsertWrapAroundAndRemove(t *testing.T) {
	for _, n := range []int{maxProbe + 4, maxProbe, 5, 1} {
		t.Run("", func(t *testing.T) {
			tb := newTable(t, n)
			m := newTableModel(tb)
			last := uint32(n - 1)
			window := tb.probeLen() * slotsPerBucket
			// Fill the window of the last bucket: it wraps around to bucket 0 and on.
			for k := range window {
				require.True(t, m.insert(t, last, 0x42, uint32(k+1)), "entry %d", k)
				m.verify(t)
			}
			if n > 1 {
				// The entries passed the last bucket, then bucket 0, and so on.
				assert.Equal(t, uint32(window-slotsPerBucket), tb.overflow(last))
				assert.Equal(t, uint32(0), tb.overflow(uint32(tb.probeLen()-2)), "the window's last bucket was passed by none")
			}
			if tb.probeLen() > 1 {
				assert.Equal(t, uint8(0x42), tb.tag(0, 0), "wrapped into bucket 0")
			}
			// Full window: insert fails and changes nothing.
			before := append([]byte(nil), tb.mem...)
			_, _, ok := tb.insert(last, 0x42, 99999)
			assert.False(t, ok)
			assert.Equal(t, before, tb.mem)
			m.verify(t)

			// A miss with a tag that is nowhere, and with the right tag but a wrong offset.
			_, _, ok = tb.findOff(last, 0x43, 1)
			assert.False(t, ok)
			_, _, ok = tb.findOff(last, 0x42, 99999)
			assert.False(t, ok)

			// Delete from the home bucket first: the slot is reused by the next insert.
			m.remove([2]int{int(last), 3})
			m.verify(t)
			require.True(t, m.insert(t, last, 0x42, 5000))
			assert.Equal(t, uint32(5000), tb.off(last, 3))
			m.verify(t)

			// Delete everything in a scrambled order: counts come back to exactly zero.
			rng := rand.New(rand.NewPCG(uint64(n), 9))
			keys := make([][2]int, 0, len(m.homes))
			for k := range m.homes {
				keys = append(keys, k)
			}
			// Map order is random; sort, then shuffle with a fixed seed for a repeatable order.
			sortKeys(keys)
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for _, k := range keys {
				m.remove(k)
				m.verify(t)
			}
			for b := range tb.n {
				require.Equal(t, uint32(0), *tb.meta(b), "bucket %d meta", b)
			}
			for i, x := range tb.mem {
				require.Zero(t, x, "byte %d of an empty table", i)
			}
		})
	}
}

func sortKeys(keys [][2]int) {
	slices.SortFunc(keys, func(a, b [2]int) int {
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		return cmp.Compare(a[1], b[1])
	})
}

func TestOverflowStopsProbe(t *testing.T) {
	tb := newTable(t, maxProbe+2)
	m := newTableModel(tb)
	// Bucket 0 full of entries homed there; then an entry homed at 0 lands in bucket 1.
	for k := range slotsPerBucket + 1 {
		require.True(t, m.insert(t, 0, uint8(k+1), uint32(k+1)))
	}
	m.verify(t)
	require.Equal(t, uint32(1), tb.overflow(0))
	b, i, ok := tb.findOff(0, uint8(slotsPerBucket+1), slotsPerBucket+1)
	require.True(t, ok)
	assert.Equal(t, [2]int{1, 0}, [2]int{int(b), i})
	// An entry planted in bucket 2 that nothing overflowed into is not found from home 1,
	// because bucket 1's overflow count is zero: the probe stops there.
	tb.mem[2*bucketSize+tagsOff] = 0x77
	tb.setOff(2, 0, 777)
	_, _, ok = tb.findOff(1, 0x77, 777)
	assert.False(t, ok)
	_, _, ok = tb.findOff(2, 0x77, 777)
	assert.True(t, ok)
	// Removing the overflowed entry brings bucket 0's count back to zero.
	m.remove([2]int{1, 0})
	assert.Equal(t, uint32(0), tb.overflow(0))
}

func TestInsertClearsAccessed(t *testing.T) {
	tb := newTable(t, 1)
	tb.markAccessed(0, 0)
	tb.markAccessed(0, 1)
	b, i, ok := tb.insert(0, 9, 1)
	require.True(t, ok)
	assert.Equal(t, [2]int{0, 0}, [2]int{int(b), i})
	assert.False(t, tb.accessed(0, 0), "a new entry starts unread")
	assert.True(t, tb.accessed(0, 1))
	tb.markAccessed(0, 0)
	tb.remove(0, 0, 0)
	assert.False(t, tb.accessed(0, 0), "remove clears the bit")
}

// TestTableRandom runs random inserts and removes over a small table with clustered homes
// against the model.
func TestTableRandom(t *testing.T) {
	for _, n := range []int{3, maxProbe - 1, maxProbe + 5, 64} {
		tb := newTable(t, n)
		m := newTableModel(tb)
		rng := rand.New(rand.NewPCG(uint64(n), 77))
		off := uint32(0)
		for step := range 10000 {
			if rng.IntN(3) > 0 || len(m.homes) == 0 {
				// Homes cluster near the end so probes wrap around.
				home := uint32(n-1-rng.IntN(min(n, 4))) % uint32(n)
				off++
				m.insert(t, home, uint8(1+rng.IntN(3)), off)
			} else {
				keys := make([][2]int, 0, len(m.homes))
				for k := range m.homes {
					keys = append(keys, k)
				}
				sortKeys(keys)
				m.remove(keys[rng.IntN(len(keys))])
			}
			if step%97 == 0 {
				m.verify(t)
			}
		}
		m.verify(t)
	}
}

// FuzzTable decodes bytes into inserts and removes on a table of a few buckets and checks the
// whole table against the model after every operation.
func FuzzTable(f *testing.F) {
	f.Add(uint8(3), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(1), []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff"))
	f.Add(uint8(maxProbe+2), []byte("insert insert insert remove insert remove remove remove"))
	f.Add(uint8(5), func() []byte {
		b := make([]byte, 400)
		for i := range b {
			b[i] = byte(i*7) | 0x40 // mostly inserts homed at the last bucket
		}
		return b
	}())
	f.Add(uint8(2), []byte{0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0x01, 0x81, 0x01, 0x81})
	f.Fuzz(func(t *testing.T, nb uint8, ops []byte) {
		n := int(nb)%(maxProbe+8) + 1
		ops = ops[:min(len(ops), 2000)] // the model check after each op is quadratic
		tb := newTable(t, n)
		m := newTableModel(tb)
		off := uint32(0)
		for _, op := range ops {
			if op&0x80 == 0 || len(m.homes) == 0 {
				// insert: bits 0-3 pick the home (counted back from the last bucket), 4-5 the tag
				home := uint32(n-1-int(op&0x0f)%n) % uint32(n)
				off++
				m.insert(t, home, uint8(op>>4&3)+1, off)
			} else {
				keys := make([][2]int, 0, len(m.homes))
				for k := range m.homes {
					keys = append(keys, k)
				}
				sortKeys(keys)
				m.remove(keys[int(op&0x7f)%len(keys)])
			}
			m.verify(t)
		}
		for len(m.homes) > 0 {
			for k := range m.homes {
				m.remove(k)
				break
			}
		}
		m.verify(t)
		if !m.stuck() {
			for b := range tb.n {
				require.Equal(t, uint32(0), *tb.meta(b))
			}
		}
	})
}
