package mmcache

import "github.com/cespare/xxhash/v2"

// hashKey is the cache's keyed hash. xxhash is fast but unkeyed, so keys that an attacker
// chose to share the bits that pick a shard and a bucket would share them in every process.
// Mixing a per-cache random seed through a full 64-bit finalizer (murmur3's fmix64, a bijection
// in which every input bit reaches every output bit) spreads such keys. Keys whose whole 64-bit
// xxhash is equal still collide; the index bounds the probe length, so they can only displace
// each other, never slow down lookups of other keys.
func hashKey(key []byte, seed uint64) uint64 {
	h := xxhash.Sum64(key) ^ seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// The hash's bits are used once each:
//
//	bits  0-15  shard (as many as the shard count needs; at most maxShards)
//	(h>>8)%7    victim in a full bucket, when no entry there is expired or unread; the
//	            shard's bits overlap it, which only makes the choice less random
//	bits 32-63  fingerprint, kept in the index slot (index.go): its top bits pick the index
//	            page through the shard's directory, its low six bits the page's home bucket
const maxShards = 1 << 16
