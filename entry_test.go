package mmcache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUvarintLen(t *testing.T) {
	for _, c := range []struct {
		v    uint32
		want int
	}{
		{0, 1}, {1, 1}, {127, 1}, {128, 2}, {16383, 2}, {16384, 3},
		{1<<21 - 1, 3}, {1 << 21, 4}, {1<<28 - 1, 4}, {1 << 28, 5}, {math.MaxUint32, 5},
	} {
		assert.Equal(t, c.want, uvarintLen(c.v), "%d", c.v)
		var buf [binary.MaxVarintLen64]byte
		assert.Equal(t, binary.PutUvarint(buf[:], uint64(c.v)), uvarintLen(c.v), "%d agrees with encoding/binary", c.v)
	}
}

func TestEntrySizeExact(t *testing.T) {
	// flags 1 + key length 2 + value length varint + [expiry 8] + key + value, padded to 4.
	assert.Equal(t, 4, entrySize(0, 0, false))        // exactly 4, no padding
	assert.Equal(t, 12, entrySize(0, 0, true))        // 12
	assert.Equal(t, 84, entrySize(16, 64, false))     // 84: the documented small entry
	assert.Equal(t, 92, entrySize(16, 64, true))      // 92
	assert.Equal(t, 132, entrySize(1, 127, false))    // 132
	assert.Equal(t, 136, entrySize(1, 128, false))    // 134: two varint bytes
	assert.Equal(t, 8, entrySize(1, 3, false))        // exactly 8, no padding
	assert.Equal(t, 12, entrySize(1, 4, false))       // 9
	assert.Equal(t, 1048, entrySize(16, 1024, false)) // 1045
	assert.Equal(t, (3+3+65535+(1<<20)+8+3)&^3, entrySize(65535, 1<<20, true))
}

func TestEntryRoundTrip(t *testing.T) {
	keyLens := []int{0, 1, 7, 16, 65535}
	valLens := []int{0, 1, 127, 128, 16383, 16384, 1 << 20}
	expires := []int64{0, 1, 1 << 40, math.MaxInt64}
	buf := make([]byte, entrySize(65535, 1<<20, true)+64)
	for _, kl := range keyLens {
		key := bytes.Repeat([]byte{'k'}, kl)
		for i := range key {
			key[i] = byte(i*31 + 1)
		}
		for _, vl := range valLens {
			value := make([]byte, vl)
			for i := range value {
				value[i] = byte(i*7 + kl)
			}
			for _, exp := range expires {
				name := fmt.Sprintf("key %d value %d expire %d", kl, vl, exp)
				size := entrySize(kl, vl, exp != 0)
				require.Zero(t, size%entryAlign, name)
				// Fill with garbage: putEntry must write every byte up to size, padding included.
				for i := range buf[:size+entryAlign] {
					buf[i] = 0xee
				}
				n := putEntry(buf, key, value, exp)
				require.Equal(t, size, n, name)
				hdr := 3 + uvarintLen(uint32(vl)) + ttlBytes(exp)
				for i := hdr + kl + vl; i < n; i++ {
					require.Zero(t, buf[i], "%s: padding byte %d", name, i)
				}
				require.Equal(t, byte(0xee), buf[n], "%s: putEntry wrote past its size", name)

				en := readEntry(buf)
				require.Equal(t, kl, en.keyLen, name)
				require.Equal(t, vl, en.valLen, name)
				require.Equal(t, hdr, en.keyOff, name)
				require.Equal(t, hdr+kl, en.valOff(), name)
				require.Equal(t, size, en.size(), name)
				require.Equal(t, exp, en.expire, name)
				require.Zero(t, en.flags&flagDead, name)
				require.Equal(t, exp != 0, en.flags&flagTTL != 0, name)
				require.True(t, bytes.Equal(key, buf[en.keyOff:en.valOff()]), name)
				require.True(t, bytes.Equal(value, buf[en.valOff():en.valOff()+en.valLen]), name)

				// The dead flag leaves the rest readable.
				buf[0] |= flagDead
				en2 := readEntry(buf)
				require.NotZero(t, en2.flags&flagDead, name)
				en2.flags &^= flagDead
				require.Equal(t, en, en2, name)
			}
		}
	}
}

func ttlBytes(expire int64) int {
	if expire != 0 {
		return 8
	}
	return 0
}

func TestEntryExpired(t *testing.T) {
	buf := make([]byte, 64)
	putEntry(buf, []byte("k"), []byte("v"), 100)
	en := readEntry(buf)
	assert.False(t, en.expired(99))
	assert.True(t, en.expired(100), "an entry expires at its expiry, not after")
	assert.True(t, en.expired(101))

	putEntry(buf, []byte("k"), []byte("v"), 0)
	en = readEntry(buf)
	assert.False(t, en.expired(math.MaxInt64), "no TTL: never expires")
	assert.Equal(t, int64(0), en.expire)
}

// TestEntriesBackToBack writes entries one after another as a segment holds them and walks
// them by size, as compaction does.
func TestEntriesBackToBack(t *testing.T) {
	buf := make([]byte, 1<<16)
	type kv struct {
		k, v []byte
		exp  int64
	}
	var in []kv
	pos := 0
	for i := range 200 {
		e := kv{k: []byte(fmt.Sprintf("key-%d", i)), v: bytes.Repeat([]byte{byte(i)}, i*3%300), exp: int64(i % 3 * 1000)}
		n := putEntry(buf[pos:], e.k, e.v, e.exp)
		require.Equal(t, entrySize(len(e.k), len(e.v), e.exp != 0), n)
		pos += n
		in = append(in, e)
	}
	p := 0
	for _, e := range in {
		en := readEntry(buf[p:])
		require.Equal(t, e.k, buf[p+en.keyOff:p+en.valOff()])
		require.Equal(t, len(e.v), en.valLen)
		require.True(t, bytes.Equal(e.v, buf[p+en.valOff():p+en.valOff()+en.valLen]))
		require.Equal(t, e.exp, en.expire)
		p += en.size()
	}
	require.Equal(t, pos, p)
}

// TestCopyEntryBytes: the fenced copy copies, below and above the size that takes the fences.
func TestCopyEntryBytes(t *testing.T) {
	for _, n := range []int{0, 1, ntCopyMin - 1, ntCopyMin, 1 << 20, 1<<20 + 65535} {
		src, dst := make([]byte, n), make([]byte, n+8)
		for i := range src {
			src[i] = byte(i*7 + 1)
		}
		require.Equal(t, n, copyEntryBytes(dst, src))
		require.Equal(t, src, dst[:n])
		require.Equal(t, make([]byte, 8), dst[n:])
	}
}

// BenchmarkCopyEntryBytes measures what the fences cost on a copy that takes them, against a
// plain copy of the same size.
func BenchmarkCopyEntryBytes(b *testing.B) {
	for _, n := range []int{ntCopyMin, 1 << 20, 1<<20 + 65535} {
		src, dst := make([]byte, n), make([]byte, n)
		b.Run(fmt.Sprintf("fenced/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				copyEntryBytes(dst, src)
			}
		})
		b.Run(fmt.Sprintf("plain/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}
