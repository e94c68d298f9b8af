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

	// MaxEntrySize is the largest key+value [Cache.Set] accepts, at most 1 GiB less 16 bytes.
	// 0 picks [DefaultMaxEntrySize] (a 1 MiB value under any key up to [MaxKeySize]) wherever
	// the shards have room for it: from about 5 MiB of Capacity when Shards is 0. Otherwise it
	// picks Capacity/64 (at least 4 KiB), or the largest power of two below that which leaves
	// room for the shards set. Memory is allocated in segments of about MaxEntrySize, and every
	// shard needs at least four of them: a large MaxEntrySize in a small cache means fewer shards.
	MaxEntrySize int

	// AvgEntrySize is the expected average key+value size, used to size the hash table: one slot
	// per AvgEntrySize+8 bytes of Capacity. 0 means 80 (a 16-byte key with a 64-byte value); a
	// value above MaxEntrySize counts as MaxEntrySize. A guess too small wastes table space; too
	// large, and the table fills before the memory and evicts early. Either way nothing breaks.
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
	// MaxKeySize is the longest key accepted, in bytes.
	MaxKeySize = 1<<16 - 1
	// DefaultMaxEntrySize is the largest key+value a cache accepts when Config.MaxEntrySize is 0
	// and Capacity has room for it: a value of 1 MiB under a key of up to MaxKeySize bytes,
	// 1,114,111 bytes in all.
	DefaultMaxEntrySize = 1<<20 + MaxKeySize

	// maxMaxEntry is the largest Config.MaxEntrySize: an entry and its header fill a segment of
	// at most 1 GiB.
	maxMaxEntry = arena.MaxSegmentSize - maxHeaderSize
	// maxCapacity is the largest Capacity on a 64-bit platform: 65536 shards of 32 GiB. On a
	// 32-bit one, the address space is the limit.
	maxCapacity = maxShards * maxArenaData

	minSegmentsPerShard = 4
	// minDefaultMaxEntry is the smallest MaxEntrySize a Config that leaves it 0 gets.
	minDefaultMaxEntry = 4 << 10
	minSegmentSize     = 64 << 10
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

// plural writes n and a noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (cfg Config) layout() (layout, error) {
	switch {
	case cfg.Capacity < MinCapacity:
		return layout{}, invalid("Capacity %d is below the minimum of %d bytes", cfg.Capacity, MinCapacity)
	case uint64(cfg.Capacity) > maxCapacity:
		return layout{}, invalid("Capacity %d is above the limit of %d bytes (%d shards of at most %d bytes)", cfg.Capacity, uint64(maxCapacity), maxShards, uint64(maxArenaData))
	case cfg.Shards < 0 || cfg.Shards > maxShards || cfg.Shards&(cfg.Shards-1) != 0:
		return layout{}, invalid("Shards %d is not 0 or a power of two up to %d", cfg.Shards, maxShards)
	case cfg.DefaultTTL < 0:
		return layout{}, invalid("DefaultTTL %v is negative", cfg.DefaultTTL)
	case cfg.MaxEntrySize < 0:
		return layout{}, invalid("MaxEntrySize %d is negative", cfg.MaxEntrySize)
	case cfg.MaxEntrySize > maxMaxEntry:
		return layout{}, invalid("MaxEntrySize %d is above the limit of %d bytes", cfg.MaxEntrySize, maxMaxEntry)
	case cfg.AvgEntrySize < 0:
		return layout{}, invalid("AvgEntrySize %d is negative", cfg.AvgEntrySize)
	}
	if cfg.MaxEntrySize != 0 {
		return cfg.layoutFor(cfg.MaxEntrySize)
	}
	if l, err := cfg.layoutFor(DefaultMaxEntrySize); err == nil {
		return l, nil
	}
	// Too little room per shard for the default: entries of up to a 64th of Capacity, and
	// less, power of two by power of two, while that leaves a shard too small for four
	// segments (many shards set by the caller).
	m := max(min(cfg.Capacity/64, DefaultMaxEntrySize), minDefaultMaxEntry)
	for {
		l, err := cfg.layoutFor(m)
		if err == nil || m <= minDefaultMaxEntry {
			return l, err
		}
		m = 1 << (bits.Len(uint(m-1)) - 1) // the next power of two down
	}
}

// layoutFor is layout with a valid Config and a largest entry of maxEntry bytes.
func (cfg Config) layoutFor(maxEntry int) (layout, error) {
	page := os.Getpagesize()
	l := layout{
		mapSize:   cfg.Capacity &^ (page - 1),
		ttl:       cfg.DefaultTTL,
		hugePages: !cfg.NoHugePages,
		janitor:   cfg.JanitorInterval,
		maxEntry:  maxEntry,
	}
	if l.janitor == 0 {
		l.janitor = DefaultJanitorInterval
	}
	segSize := max(roundUp(l.maxEntry+maxHeaderSize, page), minSegmentSize)
	l.segSize = segSize
	avg := cfg.AvgEntrySize
	if avg == 0 {
		avg = DefaultAvgEntrySize
	}
	// An average above the largest entry cannot be; capping it also keeps the sums below
	// from overflowing an int on 32-bit platforms.
	slotBytes := min(avg, l.maxEntry) + 8 // header and padding of a small entry

	fits := func(shards int) bool {
		l.shards = shards
		l.shardSize = (l.mapSize / shards) &^ (page - 1)
		l.buckets = max(l.shardSize/slotBytes/slotsPerBucket, 1)
		l.tableBytes = roundUp(l.buckets*bucketSize, page)
		if l.tableBytes >= l.shardSize {
			l.segments = 0
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
			need := cfg.Shards
			for tooBig(need) {
				need *= 2
			}
			return l, invalid("Shards %d is too few for Capacity %d: a shard holds at most %d bytes; use %d or more, or 0", cfg.Shards, cfg.Capacity, uint64(maxArenaData), need)
		}
		if !fits(cfg.Shards) {
			return l, invalid("Capacity %d in %s leaves room for %s of %d bytes per shard, and a shard needs %d (MaxEntrySize %d sets the segment size): lower Shards or MaxEntrySize, or raise Capacity",
				cfg.Capacity, plural(cfg.Shards, "shard"), plural(l.segments, "segment"), segSize, minSegmentsPerShard, l.maxEntry)
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
	if !fits(shards) {
		return l, invalid("Capacity %d leaves room for %s of %d bytes, and a shard needs %d (MaxEntrySize %d sets the segment size): lower MaxEntrySize or raise Capacity",
			cfg.Capacity, plural(l.segments, "segment"), segSize, minSegmentsPerShard, l.maxEntry)
	}
	return l, nil
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }
