package mmcache

import (
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"time"

	"github.com/mmcache/mmcache/arena"
)

// Config sets up a [Cache]. Only Capacity is required; every other zero value picks a default.
type Config struct {
	// Capacity is the size in bytes of the cache's memory mapping, and the hard bound on all the
	// cache keeps there: hash table, entry headers, keys, values and eviction state. It is
	// rounded down to a multiple of the page size. At least [MinCapacity].
	Capacity int

	// Shards is the number of independently locked parts, a power of two up to 65536. 0 picks
	// one from GOMAXPROCS and Capacity.
	Shards int

	// DefaultTTL is the time to live that [Cache.Set] gives an entry. 0 means never expires.
	DefaultTTL time.Duration

	// JanitorInterval is how often a background goroutine drops expired entries and compacts
	// fragmented segments. 0 picks [DefaultJanitorInterval]; a negative value starts no goroutine
	// and does the same work inline, a step every few hundred writes to a shard.
	JanitorInterval time.Duration

	// MaxEntrySize is the largest key+value [Cache.Set] accepts. 0 picks 1 MiB when Capacity is
	// at least 64 MiB, and Capacity/64 (at least 4 KiB) below that. Memory is allocated in
	// segments of about MaxEntrySize, and every shard needs at least four of them.
	MaxEntrySize int

	// AvgEntrySize is the expected average key+value size, used to size the hash table: one slot
	// per AvgEntrySize+8 bytes of Capacity. 0 means 80 (a 16-byte key with a 64-byte value).
	// A guess too small wastes table space; too large, and the table fills before the memory
	// and evicts early. Either way nothing breaks.
	AvgEntrySize int

	// NoHugePages turns off the transparent-huge-page advice on Linux. Huge pages cut TLB misses
	// on lookups in a large cache; RSS is bounded by Capacity either way.
	NoHugePages bool
}

const (
	// MinCapacity is the smallest Capacity New accepts.
	MinCapacity = 1 << 20
	// DefaultJanitorInterval is the janitor's period when Config.JanitorInterval is 0.
	DefaultJanitorInterval = time.Second
	// DefaultAvgEntrySize is the table sizing guess when Config.AvgEntrySize is 0.
	DefaultAvgEntrySize = 80
	// MaxKeySize is the longest key accepted.
	MaxKeySize = maxKeyLen

	minSegmentsPerShard = 4
	minSegmentSize      = 64 << 10
	// An entry's offset is stored in 32 bits in units of 8 bytes.
	maxArenaData = (1 << 32) * entryAlign
)

// layout is a validated Config turned into sizes.
type layout struct {
	mapSize    int // bytes mapped: Capacity rounded down to a page
	shards     int
	shardSize  int // bytes of mapping per shard, a multiple of the page size
	buckets    int // table buckets per shard
	tableBytes int // bytes per shard for the table, page-rounded
	segSize    int
	segments   int // per shard
	maxEntry   int // largest key+value
	ttl        time.Duration
	janitor    time.Duration
	hugePages  bool
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

func (cfg Config) layout() (layout, error) {
	page := os.Getpagesize()
	var l layout
	switch {
	case cfg.Capacity < MinCapacity:
		return l, invalid("Capacity %d is below the minimum %d", cfg.Capacity, MinCapacity)
	case cfg.Shards < 0 || cfg.Shards > maxShards || cfg.Shards&(cfg.Shards-1) != 0:
		return l, invalid("Shards %d is not 0 or a power of two up to %d", cfg.Shards, maxShards)
	case cfg.DefaultTTL < 0:
		return l, invalid("DefaultTTL %v is negative", cfg.DefaultTTL)
	case cfg.MaxEntrySize < 0:
		return l, invalid("MaxEntrySize %d is negative", cfg.MaxEntrySize)
	case cfg.MaxEntrySize > arena.MaxSegmentSize-maxHeaderSize:
		return l, invalid("MaxEntrySize %d is above the limit %d", cfg.MaxEntrySize, arena.MaxSegmentSize-maxHeaderSize)
	case cfg.AvgEntrySize < 0:
		return l, invalid("AvgEntrySize %d is negative", cfg.AvgEntrySize)
	}
	l.mapSize = cfg.Capacity &^ (page - 1)
	l.ttl = cfg.DefaultTTL
	l.hugePages = !cfg.NoHugePages
	l.janitor = cfg.JanitorInterval
	if l.janitor == 0 {
		l.janitor = DefaultJanitorInterval
	}
	l.maxEntry = cfg.MaxEntrySize
	if l.maxEntry == 0 {
		l.maxEntry = 1 << 20
		if cfg.Capacity < 64<<20 {
			l.maxEntry = max(cfg.Capacity/64, 4<<10)
		}
	}
	segSize := max(roundUp(l.maxEntry+maxHeaderSize, page), minSegmentSize)
	l.segSize = segSize
	avg := cfg.AvgEntrySize
	if avg == 0 {
		avg = DefaultAvgEntrySize
	}
	slotBytes := avg + 8 // header and padding of a small entry

	fits := func(shards int) bool {
		l.shards = shards
		l.shardSize = (l.mapSize / shards) &^ (page - 1)
		l.buckets = max(l.shardSize/(slotBytes*slotsPerBucket), 1)
		l.tableBytes = roundUp(l.buckets*bucketSize, page)
		if l.tableBytes >= l.shardSize {
			return false
		}
		l.segments = arena.Segments(l.shardSize-l.tableBytes, segSize)
		if l.segments < minSegmentsPerShard {
			return false
		}
		// Spread what is left over among the segments, page by page, so that no part of the
		// shard short of a whole segment goes unused.
		l.segSize = (l.shardSize - l.tableBytes - arena.Overhead(l.segments)) / l.segments &^ (page - 1)
		if l.segSize > arena.MaxSegmentSize {
			// No larger than the arena accepts; what that leaves may hold more segments.
			l.segSize = arena.MaxSegmentSize
			l.segments = arena.Segments(l.shardSize-l.tableBytes, l.segSize)
		}
		return true
	}
	tooBig := func(shards int) bool {
		return uint64(l.mapSize/shards) > maxArenaData
	}
	if cfg.Shards != 0 {
		if tooBig(cfg.Shards) {
			return l, invalid("Capacity %d needs more than %d shards: a shard holds at most %d bytes", cfg.Capacity, cfg.Shards, uint64(maxArenaData))
		}
		if !fits(cfg.Shards) {
			return l, invalid("Capacity %d with %d shards holds %d segments of %d bytes per shard, need %d: lower MaxEntrySize or Shards", cfg.Capacity, cfg.Shards, l.segments, l.segSize, minSegmentsPerShard)
		}
		return l, nil
	}
	// Default: a few shards per P, so that goroutines rarely meet on a lock, fewer when the
	// capacity is small, and more when a shard would exceed what 32-bit offsets address.
	shards := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	shards = min(shards, 256)
	for shards < maxShards && tooBig(shards) {
		shards *= 2
	}
	for shards > 1 && !fits(shards) {
		shards /= 2
	}
	if tooBig(shards) || !fits(shards) {
		return l, invalid("Capacity %d holds %d segments of %d bytes, need %d: lower MaxEntrySize", cfg.Capacity, l.segments, l.segSize, minSegmentsPerShard)
	}
	return l, nil
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }
