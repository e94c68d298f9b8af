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
	// cache keeps there: index, entry headers, keys, values and eviction state. It is
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
	// Memory is handed out in segments, each shard writes into one segment at a time, and an
	// entry too large for the room left in a segment leaves that room behind, so the shards'
	// current segments and the ends of the others are what a cache cannot fill before it
	// evicts. 0 therefore picks a size that keeps both small: segments of at most 1/32 of a
	// shard's share of Capacity, each holding two of the largest entries.
	// That is [DefaultMaxEntrySize] (a 1 MiB value under any key up to [MaxKeySize]) when
	// Capacity is at least 32 × 2 × 1.07 MiB per shard (about 2.2 GiB with the 32 shards a
	// 2-core machine gets), and otherwise the largest power of two up to Capacity/(64 ×
	// shards), at least 4 KiB. When MaxEntrySize is set, a segment holds one such entry. The
	// pool needs at least four segments per shard: a large MaxEntrySize in a small cache means
	// fewer shards.
	MaxEntrySize int

	// AvgEntrySize is ignored, and kept so that code which sets it still compiles.
	//
	// Deprecated: the index grows with the entries it holds, whatever their sizes.
	AvgEntrySize int

	// OnRemoval, when set, is called once for each entry that leaves the cache, with its key,
	// its value and why it left (see [RemovalCause]): deleted, replaced by a write, expired, or
	// evicted to make room. It runs after the operation that removed the entry is visible,
	// outside every lock of the cache, on the goroutine that caused the removal: the Set or
	// other write that evicted or replaced it, the Delete, or the janitor that dropped it
	// expired (which runs on the janitor's goroutine, or inline in writes with a negative
	// JanitorInterval). An expired entry that a read misses on is reported when it is dropped,
	// not by the read. [Cache.Reset] and [Cache.Close] report nothing.
	//
	// key and value are copies, valid only until the call returns: copy what you keep. The
	// function may call any method of the cache, Close included, and may refer to the cache:
	// that does not keep a dropped cache from its cleanup. A panic in it goes on to the caller
	// of the operation, once the other removals of that operation have been reported; the cache
	// is left as if it had returned (on the janitor's goroutine, a panic ends the program, as in
	// a function run by time.AfterFunc). If the operation itself panics, its removals are
	// reported all the same on the way out.
	//
	// Nil costs nothing. Set, each removal costs a copy of its key and value into a buffer
	// reused from operation to operation, at most about a segment's worth per operation.
	OnRemoval func(key, value []byte, cause RemovalCause)

	// NoHugePages turns off the transparent-huge-page advice on Linux. Huge pages cut TLB misses
	// on lookups in a large cache; RSS is bounded by Capacity either way.
	NoHugePages bool

	// Path, when set, puts the cache's mapping in a file at that path instead of anonymous
	// memory, so that the next process to call New with the same Path and layout finds every
	// live entry in place at once, index included, with no rebuild (docs/persistence.md). Meant
	// for tmpfs such as /dev/shm, where the file costs the same as anonymous memory; on a disk
	// the kernel would write the cache back to it. Linux only.
	//
	// New creates the file (mode 0600, never following a symlink) at Capacity bytes, or
	// reattaches one that a cache closed cleanly with [Cache.Close] left there. It refuses a
	// file that is not a regular file owned by this process's user, or that group or others may
	// write ([ErrUnsafeFile]), and one that another cache, in this process or another, has open
	// ([ErrFileLocked]). A file of another layout (Capacity, Shards, MaxEntrySize, ...) or
	// version gives [ErrIncompatible], naming what differs, unless ResetIncompatible is set. A
	// file whose last cache did not Close (the process was killed) is recovered: the shards it
	// was writing at that moment start empty, every other one is served. A read-only file is
	// refused with an error wrapping fs.ErrPermission, root or not. Stats counters start at
	// zero; Len and the bytes counts carry over.
	Path string

	// ResetIncompatible makes New start empty over a file at Path that it would refuse with
	// [ErrIncompatible]: the file is rewritten from scratch, never half-used.
	ResetIncompatible bool
}

const (
	// MinCapacity is the smallest Capacity New accepts.
	MinCapacity = 1 << 20
	// DefaultJanitorInterval is the janitor's period when Config.JanitorInterval is 0.
	DefaultJanitorInterval = time.Second
	// MaxKeySize is the longest key accepted, in bytes.
	MaxKeySize = 1<<16 - 1
	// DefaultMaxEntrySize is the largest key+value a cache accepts when Config.MaxEntrySize is 0
	// and Capacity is large enough (see Config.MaxEntrySize): a value of 1 MiB under a key of up
	// to MaxKeySize bytes, 1,114,111 bytes in all.
	DefaultMaxEntrySize = 1<<20 + MaxKeySize

	// maxMaxEntry is the largest Config.MaxEntrySize: an entry and its header fill a segment of
	// at most 1 GiB.
	maxMaxEntry = arena.MaxSegmentSize - maxHeaderSize
	// maxCapacity is the largest Capacity on a 64-bit platform: 65536 groups of 32 GiB. On a
	// 32-bit one, the address space is the limit.
	maxCapacity = maxShards * maxGroupBytes

	minSegmentsPerShard = 4
	// minDefaultMaxEntry is the smallest MaxEntrySize a Config that leaves it 0 gets.
	minDefaultMaxEntry = 4 << 10
	minSegmentSize     = 64 << 10
	// tailShare: with MaxEntrySize 0, each shard's segment is at most Capacity/(tailShare ×
	// shards), so that the shards' half-written segments leave about 1/(2·tailShare) unused.
	tailShare = 32
	// defaultEntriesPerSegment: with MaxEntrySize 0, a segment holds two of the largest
	// entries.
	defaultEntriesPerSegment = 2
	// minDefaultShardBytes: with Shards 0, fewer shards rather than a default MaxEntrySize
	// under 64 KiB.
	minDefaultShardBytes = tailShare * defaultEntriesPerSegment * minSegmentSize
	// A slot stores an entry's offset in 32 bits, in units of 4 bytes and plus one: a group's
	// part of the mapping stays under 16 GiB.
	maxGroupBytes = (1<<32 - 1) * entryAlign &^ (1<<20 - 1)

	groupHeaderSize = 64
	shardHeaderSize = 64
)

// layout is a validated Config turned into sizes.
type layout struct {
	mapSize   int // bytes mapped: Capacity rounded down to a page
	shards    int
	groups    int // shards share a pool of segments within a group; see pool.go
	groupSize int // bytes of mapping per group, a multiple of the page size
	dirDepth  uint32
	dirBytes  int // bytes per shard for its index's directory
	headBytes int // bytes per group for its header, the shards' headers and directories
	arenaOff  int // where the group's arena starts, so that its segments are page-aligned
	segSize   int
	segments  int // per group
	maxEntry  int // largest key+value
	ttl       time.Duration
	janitor   time.Duration
	hugePages bool
	// base is where the first group starts: 0, or a page for the file header when the mapping
	// is a file (persist.go).
	base int
}

// A group's part of the mapping, as the layout carves it:
//
//	part: | group header | shard headers | pad | directories | pad | arena (arenaOff on) |

// shardHeaderIn returns the header of shard j of the group whose part of the mapping is part.
func (l *layout) shardHeaderIn(part []byte, j int) *shardHeader {
	return (*shardHeader)(wordAt(part, groupHeaderSize+j*shardHeaderSize))
}

// dirIn returns the index directory of shard j of the group whose part is part.
func (l *layout) dirIn(part []byte, j int) []byte {
	start := roundUp(groupHeaderSize+l.shards/l.groups*shardHeaderSize, 64) + j*l.dirBytes
	return part[start : start+l.dirBytes : start+l.dirBytes]
}

// arenaIn returns the region of the arena of the group whose part is part.
func (l *layout) arenaIn(part []byte) []byte {
	end := l.arenaOff + arena.Overhead(l.segments) + l.segments*l.segSize + arena.Align - 1
	return part[l.arenaOff:end]
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
		return layout{}, invalid("Capacity %d is above the limit of %d bytes (%d groups of shards of at most %d bytes)", cfg.Capacity, uint64(maxCapacity), maxShards, uint64(maxGroupBytes))
	case cfg.Shards < 0 || cfg.Shards > maxShards || cfg.Shards&(cfg.Shards-1) != 0:
		return layout{}, invalid("Shards %d is not 0 or a power of two up to %d", cfg.Shards, maxShards)
	case cfg.DefaultTTL < 0:
		return layout{}, invalid("DefaultTTL %v is negative", cfg.DefaultTTL)
	case cfg.MaxEntrySize < 0:
		return layout{}, invalid("MaxEntrySize %d is negative", cfg.MaxEntrySize)
	case cfg.MaxEntrySize > maxMaxEntry:
		return layout{}, invalid("MaxEntrySize %d is above the limit of %d bytes", cfg.MaxEntrySize, maxMaxEntry)
	}
	if cfg.MaxEntrySize != 0 {
		return cfg.layoutFor(cfg.MaxEntrySize, 1)
	}
	// Segments of at most Capacity/(tailShare × shards), so that the shards' half-written
	// segments leave little of Capacity unused when the first eviction comes; entries of at
	// most half a segment, so that the room an entry too large for it leaves at a segment's
	// end stays small beside the segment; and smaller, power of two by power of two, while
	// that leaves a shard too small for four segments (many shards set by the caller).
	shards := cfg.Shards
	if shards == 0 {
		shards = defaultShards(cfg.Capacity)
	}
	budget := cfg.Capacity / tailShare / shards
	m := max(1<<(bits.Len(uint(budget/2))-1), minDefaultMaxEntry)
	if budget >= 2*(DefaultMaxEntrySize+maxHeaderSize) {
		m = DefaultMaxEntrySize
	}
	for {
		l, err := cfg.layoutFor(m, defaultEntriesPerSegment)
		if err == nil || m <= minDefaultMaxEntry {
			return l, err
		}
		m = 1 << (bits.Len(uint(m-1)) - 1) // the next power of two down
	}
}

// defaultShards is the shard count for Shards 0: sixteen per P, so that goroutines rarely
// meet on a lock, and a write rarely makes a lock-free reader of another key retry (a shard's
// sequence covers all its keys, and its lock's cache line moves between cores with each write;
// with zipf-hot keys on 2 Ps, 16 shards made Sets about 15% faster than 8, and 32 about 10%
// faster than 16), but fewer than one per minDefaultShardBytes of Capacity, so that a small
// cache's segments need not be tiny.
func defaultShards(capacity int) int {
	shards := 1 << bits.Len(uint(16*runtime.GOMAXPROCS(0)-1))
	shards = min(shards, 256)
	for shards > 1 && capacity/shards < minDefaultShardBytes {
		shards /= 2
	}
	return shards
}

// layoutFor is layout with a valid Config, a largest entry of maxEntry bytes, and segments
// that hold perSegment such entries.
func (cfg Config) layoutFor(maxEntry, perSegment int) (layout, error) {
	page := os.Getpagesize()
	l := layout{
		mapSize:   cfg.Capacity &^ (page - 1),
		ttl:       cfg.DefaultTTL,
		hugePages: !cfg.NoHugePages,
		janitor:   cfg.JanitorInterval,
		maxEntry:  maxEntry,
		groups:    1,
	}
	if l.janitor == 0 {
		l.janitor = DefaultJanitorInterval
	}
	if cfg.Path != "" {
		l.base = page
	}
	for uint64(l.mapSize/l.groups) > maxGroupBytes {
		l.groups *= 2
	}
	l.groupSize = ((l.mapSize - l.base) / l.groups) &^ (page - 1)
	segSize := max(roundUp(perSegment*(l.maxEntry+maxHeaderSize), page), minSegmentSize)
	if segSize > arena.MaxSegmentSize {
		segSize = roundUp(l.maxEntry+maxHeaderSize, page)
	}

	fits := func(shards int) bool {
		l.shards = shards
		perGroup := shards / l.groups
		// A directory deep enough for an index that took the shard's whole share of the
		// group; deeper ones would mostly go unused, and a page that cannot split evicts.
		share := l.groupSize / perGroup
		l.dirDepth = uint32(min(max(bits.Len(uint(share/indexPageSize-1)), 1), maxDirDepth))
		l.dirBytes = roundUp(4<<l.dirDepth, 64)
		l.headBytes = roundUp(groupHeaderSize+perGroup*shardHeaderSize, 64) + perGroup*l.dirBytes
		// What the arena may take: all but the heads, a page to align its segments, and the
		// padding arena.Segments allows for.
		room := l.groupSize - l.headBytes - page - arena.Align
		if room <= 0 {
			l.segments, l.segSize = 0, segSize
			return false
		}
		n := arena.Segments(room, segSize)
		for n > 0 && arena.Overhead(n)+n*segSize > room {
			n--
		}
		l.segments, l.segSize = n, segSize
		if n < minSegmentsPerShard*perGroup {
			return false
		}
		// Spread what is left over among the segments, page by page, so that no part of the
		// group short of a whole segment goes unused.
		l.segSize = min((room-arena.Overhead(n))/n&^(page-1), arena.MaxSegmentSize)
		pad := (page - (l.headBytes+arena.Overhead(n))%page) % page
		l.arenaOff = l.headBytes + pad
		return true
	}
	if cfg.Shards != 0 {
		if cfg.Shards < l.groups {
			return l, invalid("Shards %d is too few for Capacity %d: shards share pools of at most %d bytes; use %d or more, or 0", cfg.Shards, cfg.Capacity, uint64(maxGroupBytes), l.groups)
		}
		if !fits(cfg.Shards) {
			return l, invalid("Capacity %d in %s leaves room for %s of %d bytes, and each shard needs %d (MaxEntrySize %d sets the segment size): lower Shards or MaxEntrySize, or raise Capacity",
				cfg.Capacity, plural(cfg.Shards, "shard"), plural(l.segments, "segment"), segSize, minSegmentsPerShard, l.maxEntry)
		}
		return l, nil
	}
	shards := max(defaultShards(cfg.Capacity), l.groups)
	for shards > l.groups && !fits(shards) {
		shards /= 2
	}
	if !fits(shards) {
		return l, invalid("Capacity %d leaves room for %s of %d bytes, and a shard needs %d (MaxEntrySize %d sets the segment size): lower MaxEntrySize or raise Capacity",
			cfg.Capacity, plural(l.segments, "segment"), segSize, minSegmentsPerShard, l.maxEntry)
	}
	return l, nil
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }
