// Package workload makes the keys, values and access sequences the benchmarks replay: 16-byte
// keys derived from integer ids, zipf and uniform id sequences, and the recorded traces.
package workload

import "encoding/binary"

// KeySize is the length of every key the benchmarks use.
const KeySize = 16

// Key writes the 16-byte key for id into dst (which must have room for KeySize bytes) and
// returns dst[:KeySize]. The first half is a mix of id, so that keys differ early; the second
// half is id itself, so that distinct ids give distinct keys.
func Key(dst []byte, id uint64) []byte {
	dst = dst[:KeySize]
	binary.LittleEndian.PutUint64(dst[0:8], mix(id))
	binary.LittleEndian.PutUint64(dst[8:16], id)
	return dst
}

// mix is the splitmix64 finalizer: a bijection that spreads consecutive ids over 64 bits.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Value returns a value of n bytes with a recognisable pattern.
func Value(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// IsRead decides, for the i-th operation of a mixed workload, whether it is a read: true for
// about readPct percent of the operations, spread evenly and deterministically.
func IsRead(i uint64, readPct int) bool {
	return int((mix(i)>>32)%100) < readPct
}
