package mmcache

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzEntry writes an entry for arbitrary keys, values and expiries between two guard areas,
// and reads it back: every field round-trips, the size is what entrySize promised, padding is
// zero, and nothing outside the entry's bytes is written.
func FuzzEntry(f *testing.F) {
	f.Add([]byte("key"), []byte("value"), int64(0))
	f.Add([]byte{}, []byte{}, int64(1))
	f.Add(bytes.Repeat([]byte("k"), 300), bytes.Repeat([]byte("v"), 128), int64(-1))
	f.Add([]byte("k"), bytes.Repeat([]byte("v"), 16384), int64(1<<62))
	f.Fuzz(func(t *testing.T, key, value []byte, expire int64) {
		if len(key) > maxKeyLen {
			key = key[:maxKeyLen]
		}
		if expire < 0 {
			expire = -expire // expiries are positive; 0 means none
		}
		if expire < 0 {
			expire = 0 // -MinInt64 overflowed
		}
		size := entrySize(len(key), len(value), expire != 0)
		require.Zero(t, size%entryAlign)
		const guard = 16
		buf := bytes.Repeat([]byte{0xA5}, guard+size+guard)
		require.Equal(t, size, putEntry(buf[guard:guard+size], key, value, expire))
		require.Equal(t, bytes.Repeat([]byte{0xA5}, guard), buf[:guard], "written before the entry")
		require.Equal(t, bytes.Repeat([]byte{0xA5}, guard), buf[guard+size:], "written after the entry")

		en := readEntry(buf[guard:])
		require.Equal(t, size, en.size())
		require.Equal(t, len(key), en.keyLen)
		require.Equal(t, len(value), en.valLen)
		require.Zero(t, en.flags&flagDead)
		require.Equal(t, expire != 0, en.flags&flagTTL != 0)
		if expire != 0 {
			require.Equal(t, expire, en.expire)
			require.True(t, en.expired(expire))
			require.False(t, en.expired(expire-1))
		} else {
			require.False(t, en.expired(1<<62))
		}
		peeked, ok := peekEntry(buf, guard)
		require.True(t, ok)
		require.Equal(t, en, peeked)
		_, ok = peekEntry(buf[:guard+en.valOff()+en.valLen-1], guard)
		require.False(t, ok, "an entry cut short")

		pos := guard
		require.Equal(t, key, append([]byte{}, buf[pos+en.keyOff:pos+en.valOff()]...))
		require.Equal(t, value, append([]byte{}, buf[pos+en.valOff():pos+en.valOff()+en.valLen]...))
		pad := buf[pos+en.valOff()+en.valLen : pos+size]
		require.Equal(t, make([]byte, len(pad)), pad, "padding not cleared")
	})
}

// FuzzPeekEntry reads headers from arbitrary bytes, as a reader without the lock may see
// them: peekEntry never panics, and an entry it accepts lies inside the data.
func FuzzPeekEntry(f *testing.F) {
	f.Add([]byte{0, 3, 0, 5, 'k', 'e', 'y', 'v', 'a', 'l', 'u', 'e'}, 0)
	f.Add([]byte{flagTTL, 0xff, 0xff, 0x80, 0x80, 0x80, 0x80, 0x0f, 1, 2, 3}, 0)
	f.Add([]byte{0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 0)
	f.Add([]byte{0, 1, 0, 1}, 2)
	f.Add([]byte{}, -8)
	f.Fuzz(func(t *testing.T, data []byte, pos int) {
		en, ok := peekEntry(data, pos)
		if !ok {
			return
		}
		require.GreaterOrEqual(t, pos, 0)
		require.GreaterOrEqual(t, en.keyOff, 4)
		require.GreaterOrEqual(t, en.keyLen, 0)
		require.GreaterOrEqual(t, en.valLen, 0)
		require.LessOrEqual(t, pos+en.valOff()+en.valLen, len(data))
	})
}
