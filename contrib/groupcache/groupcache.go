// Package groupcache puts groupcache-go's local tier, its main and hot caches, in mmcache: the
// entries a node holds live in anonymous memory mappings outside the Go heap, so a node that
// caches millions of values keeps a small heap and short garbage collections.
//
// groupcache-go (github.com/groupcache/groupcache-go/v3) asks Options.CacheFactory for two
// caches per group, a main cache of 7/8 of the group's byte budget and a hot cache of 1/8.
// [Factory.New] is such a factory: each cache it returns is an mmcache.Cache whose Capacity is
// the byte budget groupcache passed, so the budget bounds the memory the cache takes, its index
// included. Wire it in with
//
//	f := groupcache.NewFactory(groupcache.Options{})
//	defer f.Close() // after the daemon's Shutdown
//	d, err := gc.ListenAndServe(ctx, addr, gc.Options{CacheFactory: f.New})
//
// where gc is github.com/groupcache/groupcache-go/v3 and groupcache is this package.
//
// What the caches honour:
//
//   - Expiry. A value's expire time (transport.ByteView.Expire, set by the Getter through its
//     Sink or by Group.Set) becomes the entry's time to live in mmcache, and the exact expire
//     time is stored with the value, so that a hit returns the ByteView groupcache added and a
//     peer served from it learns the same expire time. A hit is also checked against the wall
//     clock: a local copy is never returned at or after its expire time, even if the wall clock
//     and the monotonic clock mmcache counts on drift apart. A value already expired when it is
//     added is not stored, and it removes what the key held.
//   - The byte budget. maxBytes becomes mmcache's Config.Capacity, a hard bound on the cache's
//     memory, index and entry headers included (groupcache's own cache counts only keys and
//     values, so at the same budget it holds more entries and takes more memory). mmcache
//     cannot map less than [mmcache.MinCapacity], 1 MiB: a smaller budget gets 1 MiB. A budget
//     of 0, which groupcache documents as unbounded, gets Options.UnboundedCapacity: mmcache
//     always has a bound.
//   - Replacement. Add replaces what the key held, as groupcache expects; when mmcache refuses
//     the new value (too large, for instance), the old one is removed rather than served.
//
// groupcache ignores what its local tier cannot store, and the Cache interface has no way to
// return an error, so every refused Add is counted: in [Cache.Errors], in the Rejected field of
// the [gc.CacheStats] that groupcache reads, and in [Factory.Errors] for all the factory's
// caches; Options.OnError, when set, is told of each one.
//
// Lifetime: groupcache-go v3.5.0 never calls Cache.Close, not on Daemon.Shutdown, nor on
// RemoveGroup or on a group's ResetCacheSize, which replace the caches. Each mmcache.Cache maps
// its Capacity, so [Factory.Close] closes every cache the factory made that is still in use;
// call it once the daemon is shut down. The factory holds its caches through weak pointers, so
// a cache groupcache drops stays collectable: mmcache's cleanup unmaps it, and stops its
// janitor goroutine, once the garbage collector finds it unreachable, some time after.
package groupcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"

	gc "github.com/groupcache/groupcache-go/v3"
	"github.com/groupcache/groupcache-go/v3/transport"

	"github.com/mmcache/mmcache"
)

// DefaultUnboundedCapacity is the Capacity of a cache groupcache asks for with a budget of 0
// when Options.UnboundedCapacity is 0. The mapping takes physical memory only as it fills.
const DefaultUnboundedCapacity = 64 << 20

// ErrFactoryClosed is returned by [Factory.New] once [Factory.Close] has been called: a cache
// made then would never be closed by the factory.
var ErrFactoryClosed = errors.New("mmcache/contrib/groupcache: factory is closed")

// Options sets up a [Factory]. Every zero value picks a default.
type Options struct {
	// UnboundedCapacity is the Capacity, in bytes, of a cache groupcache asks for with a budget
	// of 0 (its "unbounded"). 0 picks [DefaultUnboundedCapacity].
	UnboundedCapacity int

	// MaxEntrySize is passed to mmcache as Config.MaxEntrySize: the largest key plus value,
	// plus the 12 bytes this package stores with each value for its expire time, a cache
	// accepts. 0 leaves mmcache's default, which depends on Capacity (see
	// mmcache.Config.MaxEntrySize): tens of KiB for caches of tens of MiB, 1 MiB only from
	// about 1.1 GiB. Set it to cache large values in smaller caches. mmcache needs room for a
	// few entries of that size per shard, and the hot cache gets only 1/8 of a group's budget,
	// so for a cache too small for it the factory halves it until mmcache accepts it, and falls
	// back to mmcache's default below 4 KiB; [Cache.Config] tells what a cache got.
	MaxEntrySize int

	// Shards, JanitorInterval and NoHugePages are passed to mmcache.Config unchanged; see
	// there. 0 and false pick mmcache's defaults.
	Shards          int
	JanitorInterval time.Duration
	NoHugePages     bool

	// OnError, when set, is called for each value a cache did not store because mmcache
	// returned an error, with groupcache's key, the value's length and the error (it wraps
	// mmcache.ErrEntryTooLarge, mmcache.ErrBusy or mmcache.ErrClosed). It runs on the
	// goroutine that added the value, inside groupcache's load, so keep it short: log or count.
	// The error is counted whether or not OnError is set.
	OnError func(key string, valueLen int, err error)
}

// Errors counts the values the local tier did not store. groupcache cannot be told: it serves
// the value it loaded either way, and loads it again on the next miss.
type Errors struct {
	TooLarge uint64 // key and value over the cache's MaxEntrySize: mmcache.ErrEntryTooLarge
	Busy     uint64 // every segment of a shard held by readers: mmcache.ErrBusy
	Closed   uint64 // added after the cache was closed: mmcache.ErrClosed
	Other    uint64 // any other error

	// Expired counts values whose expire time had passed when they were added. They are not
	// errors, and not in Total: storing them would serve nothing.
	Expired uint64
}

// Total is the number of values refused with an error: what [Cache.Stats] reports as Rejected.
func (e Errors) Total() uint64 { return e.TooLarge + e.Busy + e.Closed + e.Other }

// errorCounts is Errors as atomic counters: a cache keeps one, and its factory one for all.
type errorCounts struct {
	tooLarge, busy, closed, other, expired atomic.Uint64
}

func (c *errorCounts) load() Errors {
	return Errors{
		TooLarge: c.tooLarge.Load(),
		Busy:     c.busy.Load(),
		Closed:   c.closed.Load(),
		Other:    c.other.Load(),
		Expired:  c.expired.Load(),
	}
}

// counter picks the counter for err.
func (c *errorCounts) counter(err error) *atomic.Uint64 {
	switch {
	case errors.Is(err, mmcache.ErrEntryTooLarge):
		return &c.tooLarge
	case errors.Is(err, mmcache.ErrBusy):
		return &c.busy
	case errors.Is(err, mmcache.ErrClosed):
		return &c.closed
	default:
		return &c.other
	}
}

// Factory makes the caches groupcache asks for. Pass its New method as
// groupcache's Options.CacheFactory; one Factory may serve any number of instances and groups.
// It is safe for concurrent use.
type Factory struct {
	opts   Options
	totals errorCounts // every cache's errors, the closed ones' included

	mu     sync.Mutex
	caches []weak.Pointer[Cache] // weak, so that a cache groupcache drops can be collected
	closed bool
}

// NewFactory returns a Factory that makes caches with opts.
func NewFactory(opts Options) *Factory {
	return &Factory{opts: opts}
}

// New returns a cache for a byte budget of maxBytes, as groupcache's Options.CacheFactory is
// asked for one: an mmcache.Cache of Capacity maxBytes (see the package documentation for
// budgets of 0 and under 1 MiB). It returns the error of mmcache.New, or [ErrFactoryClosed]
// after [Factory.Close].
func (f *Factory) New(maxBytes int64) (gc.Cache, error) {
	c, err := f.NewCache(maxBytes)
	if err != nil {
		return nil, err // a nil *Cache in a non-nil interface would pass groupcache's checks
	}
	return c, nil
}

// NewCache is [Factory.New] returning the concrete type, for callers that want
// [Cache.Errors] or [Cache.Config] without a type assertion.
func (f *Factory) NewCache(maxBytes int64) (*Cache, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, ErrFactoryClosed
	}
	cfg := mmcache.Config{
		Capacity:        f.capacity(maxBytes),
		Shards:          f.opts.Shards,
		JanitorInterval: f.opts.JanitorInterval,
		MaxEntrySize:    f.opts.MaxEntrySize,
		NoHugePages:     f.opts.NoHugePages,
	}
	mc, err := mmcache.New(cfg)
	// A MaxEntrySize chosen for the main cache may not fit the hot cache, an eighth of its
	// size: halve it rather than fail the group, which groupcache would refuse to create.
	for err != nil && errors.Is(err, mmcache.ErrInvalidConfig) && cfg.MaxEntrySize > 0 {
		if cfg.MaxEntrySize /= 2; cfg.MaxEntrySize < 4<<10 {
			cfg.MaxEntrySize = 0
		}
		mc, err = mmcache.New(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("mmcache/contrib/groupcache: cache of %d bytes for a budget of %d: %w", cfg.Capacity, maxBytes, err)
	}
	c := &Cache{c: mc, cfg: cfg, budget: maxBytes, f: f}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed { // Close ran meanwhile and did not see this cache
		_ = mc.Close()
		return nil, ErrFactoryClosed
	}
	// Forget the caches already collected, so that the list stays as long as the caches in use.
	live := f.caches[:0]
	for _, w := range f.caches {
		if w.Value() != nil {
			live = append(live, w)
		}
	}
	clear(f.caches[len(live):])
	f.caches = append(live, weak.Make(c))
	return c, nil
}

// capacity maps groupcache's budget to an mmcache Capacity.
func (f *Factory) capacity(maxBytes int64) int {
	switch {
	case maxBytes <= 0:
		if f.opts.UnboundedCapacity > 0 {
			return max(f.opts.UnboundedCapacity, mmcache.MinCapacity)
		}
		return DefaultUnboundedCapacity
	case maxBytes < mmcache.MinCapacity:
		return mmcache.MinCapacity
	case uint64(maxBytes) > math.MaxInt: // a 32-bit platform: mmcache.New says what it can map
		return math.MaxInt
	default:
		return int(maxBytes)
	}
}

// Errors returns the errors of every cache the factory made, closed or collected ones included.
func (f *Factory) Errors() Errors { return f.totals.load() }

// Close closes every cache the factory made that has not been collected, releasing their
// memory, and makes [Factory.New] fail from then on. Call it after the groupcache daemon or
// instance is shut down: a cache closed under a running group misses on every Get and counts
// every Add as an error (Errors.Closed). Close is idempotent and returns nil.
func (f *Factory) Close() error {
	f.mu.Lock()
	caches := f.caches
	f.caches, f.closed = nil, true
	f.mu.Unlock()
	for _, w := range caches {
		if c := w.Value(); c != nil {
			c.Close()
		}
	}
	return nil
}

// headerLen is the length of what each stored value starts with: its expire time, as Unix
// seconds (8 bytes) and nanoseconds (4 bytes), all zero for none. Seconds and nanoseconds
// rather than UnixNano, which cannot hold times past 2262.
const headerLen = 12

// bufPool holds the buffers Add assembles a header and a value in, since mmcache takes one
// value slice. Only buffers up to maxPooled go back, so the pool never pins large values.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

const maxPooled = 64 << 10

// Cache is one of groupcache's local caches, main or hot, kept in an mmcache.Cache. It
// implements groupcache's Cache interface; it keeps nothing per key on the Go heap. It is safe
// for concurrent use.
type Cache struct {
	c      *mmcache.Cache
	cfg    mmcache.Config
	budget int64
	f      *Factory
	errs   errorCounts
	// stale counts mmcache hits this package turned into misses because the wall clock had
	// passed the value's expire time before mmcache's clock did; Stats takes them off Hits.
	stale atomic.Uint64
}

// bytesOf returns key's bytes without copying: mmcache only reads a key, and keeps no
// reference to it once the call returns.
func bytesOf(key string) []byte { return unsafe.Slice(unsafe.StringData(key), len(key)) }

// Get returns the value stored under key and true, or false if there is none, or it has
// expired. The value is a copy on the Go heap, as groupcache keeps the ByteView it gets.
func (c *Cache) Get(key string) (transport.ByteView, bool) {
	var (
		out    []byte
		expire time.Time
		live   bool
	)
	c.c.View(bytesOf(key), func(v []byte) {
		if len(v) < headerLen {
			return // not written by Add; cannot happen
		}
		sec := int64(binary.LittleEndian.Uint64(v))
		nsec := binary.LittleEndian.Uint32(v[8:])
		if sec != 0 || nsec != 0 {
			expire = time.Unix(sec, int64(nsec))
			if !time.Now().Before(expire) {
				c.stale.Add(1)
				return
			}
		}
		out = make([]byte, len(v)-headerLen)
		copy(out, v[headerLen:])
		live = true
	})
	if !live {
		return transport.ByteView{}, false
	}
	return transport.ByteViewWithExpire(out, expire), true
}

// Add stores value under key, replacing what the key held, until value's expire time, if it
// has one. If mmcache refuses it, the key is left with no value and the error is counted (see
// [Cache.Errors]).
func (c *Cache) Add(key string, value transport.ByteView) {
	k := bytesOf(key)
	var ttl time.Duration
	expire := value.Expire()
	if !expire.IsZero() {
		// time.Until reads the monotonic clock when expire has a reading, as a Getter's
		// time.Now().Add(d) does; either way the TTL ends no later than expire, and Get checks
		// the wall clock as well.
		if ttl = time.Until(expire); ttl <= 0 {
			c.c.Delete(k)
			c.errs.expired.Add(1)
			c.f.totals.expired.Add(1)
			return
		}
	}
	n := headerLen + value.Len()
	bp := bufPool.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := (*bp)[:n]
	if expire.IsZero() {
		clear(buf[:headerLen])
	} else {
		binary.LittleEndian.PutUint64(buf, uint64(expire.Unix()))
		binary.LittleEndian.PutUint32(buf[8:], uint32(expire.Nanosecond()))
	}
	value.Copy(buf[headerLen:])
	err := c.c.SetWithTTL(k, buf, ttl)
	if cap(*bp) <= maxPooled {
		bufPool.Put(bp)
	}
	if err != nil {
		// mmcache keeps the old entry when a Set fails; groupcache meant to replace it, so
		// serving the old value would be serving one that was updated.
		c.c.Delete(k)
		c.errs.counter(err).Add(1)
		c.f.totals.counter(err).Add(1)
		if c.f.opts.OnError != nil {
			c.f.opts.OnError(key, value.Len(), err)
		}
	}
}

// Remove removes key's value, if any.
func (c *Cache) Remove(key string) { c.c.Delete(bytesOf(key)) }

// Stats maps mmcache's counters to groupcache's: Gets and Hits count the lookups of Get (a
// hit past its wall-clock expire time counts as a miss), Items the entries (as mmcache.Cache.Len,
// expired ones not dropped yet included), Bytes their keys and values, Evictions the entries
// evicted to make room and those dropped expired (groupcache's own cache counts both as
// evictions), and Rejected the values refused with an error (Errors.Total).
func (c *Cache) Stats() gc.CacheStats {
	st := c.c.Stats()
	stale := c.stale.Load()
	return gc.CacheStats{
		Rejected:  int64(c.errs.load().Total()),
		Bytes:     int64(payload(st)),
		Items:     int64(st.Entries),
		Gets:      int64(st.Hits + st.Misses),
		Hits:      int64(st.Hits - min(stale, st.Hits)),
		Evictions: int64(st.Evictions + st.Expirations),
	}
}

// payload is the bytes of keys and values in st, without this package's headers.
func payload(st mmcache.Stats) int { return st.LiveBytes - headerLen*st.Entries }

// Bytes returns the bytes of the keys and values the cache holds, as groupcache counts them.
// The memory the cache takes is bounded by its Capacity instead; mmcache.Stats.UsedBytes
// tells how much of it is in use.
func (c *Cache) Bytes() int64 { return int64(payload(c.c.Stats())) }

// Close unmaps the cache. groupcache never calls it (see the package documentation); after it,
// Get misses and Add counts an error. It is idempotent.
func (c *Cache) Close() { _ = c.c.Close() }

// Errors returns the counts of the values this cache did not store.
func (c *Cache) Errors() Errors { return c.errs.load() }

// Config returns the mmcache configuration the cache was made with: Capacity as mapped from
// the budget, and MaxEntrySize as lowered to fit it, if it was.
func (c *Cache) Config() mmcache.Config { return c.cfg }

// Budget returns the byte budget groupcache asked for.
func (c *Cache) Budget() int64 { return c.budget }

// MmcacheStats returns the underlying cache's own statistics, which say more than
// groupcache's: UsedBytes, for one, is the memory in use out of Capacity.
func (c *Cache) MmcacheStats() mmcache.Stats { return c.c.Stats() }
