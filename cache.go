// Package mmcache is an in-process cache whose every byte, index and entries alike, lives in
// one memory mapping outside the Go heap: anonymous memory, or a file on tmpfs that the next
// process reattaches warm (Config.Path). The garbage collector never scans it, the
// Go heap holds a fixed handful of objects per cache whatever the number of entries, and the
// mapping's size is a hard bound on the memory the cache uses.
//
// Entries are byte slices under byte-slice keys, each with an optional time to live. A full
// cache evicts with S3-FIFO over log-structured segments: a new key that is not read soon
// leaves from a small queue, a key read there or asked for again joins a main queue run by a
// CLOCK, so a hot working set survives a scan or a stream of one-off writes. A background
// janitor drops expired entries and compacts fragmented segments.
//
// Besides Set, Get, View and Delete, a cache offers what a shared cache needs without a lock of
// its own: [Cache.GetWithTTL] reads a value and its time left at once; [Cache.Touch] gives a
// live entry a new time to live; [Cache.SetIfAbsent], [Cache.GetOrSet] and
// [Cache.CompareAndSwap] look up and write in one atomic step, linearizable per key;
// [Cache.All] and [Cache.Keys] iterate, weakly consistently, with no lock held while the loop
// body runs; and [Config.OnRemoval] is told of each entry that leaves the cache, and why.
// Every operation that a caller repeats, iteration steps included, allocates nothing once its
// buffers have room.
//
// The design is described in docs/design.md.
package mmcache

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/mmcache/mmcache/arena"
)

// Cache is an off-heap cache. It is safe for use by any number of goroutines. Create one with
// [New] and release its memory with [Cache.Close]; a Cache dropped without Close is released by
// a cleanup once the garbage collector finds it and every copy of it unreachable.
//
// A Cache holds a single pointer, as os.File does, so a copy of the struct is the same cache:
// it keeps working for as long as any copy is reachable, and Close on one closes all. The zero
// Cache is a closed one: every call returns [ErrClosed], false or a miss.
type Cache struct {
	*handle
}

// handle carries the cleanup. Only Cache values point at it: the janitor goroutine and the
// cleanup hold the engine, and nothing in the engine points back, so once the last copy of a
// Cache is dropped the handle becomes unreachable and its cleanup unmaps.
type handle struct {
	e       *engine
	cleanup runtime.Cleanup
	// onRemoval is Config.OnRemoval. It lives here, not in the engine, because it may capture
	// the Cache: held by the engine, which the cleanup and the janitor hold, it would keep the
	// handle reachable for good. The engine reaches it through a weak pointer (removal.go).
	onRemoval func(key, value []byte, cause RemovalCause)
}

// engine returns the cache's engine; a nil or zero Cache gets a closed one.
func (c *Cache) engine() *engine {
	if c == nil || c.handle == nil {
		return closedEngine()
	}
	return c.e
}

// closedEngine is the engine of every zero Cache: one shard, marked closed, with no mapping.
var closedEngine = sync.OnceValue(func() *engine {
	e := &engine{shards: make([]shard, 1), readers: newReaderSlots(1)}
	e.shards[0].e = e
	e.shards[0].closed = true
	e.shards[0].verified.Store(true)
	e.closing.Store(true)
	e.closed.Store(true)
	e.released.Store(true)
	e.closeOnce.Do(func() {})
	return e
})

// engine is everything but the handle. The janitor goroutine and the cleanup hold the engine;
// nothing in it points back at the handle.
type engine struct {
	region []byte // the whole mapping, exactly as mapped; never resliced
	shards []shard
	groups []group // the pools the shards draw on, in order: shard i is in group i/(shards/groups)
	mask   uint64  // shard count - 1
	seed   uint64
	lay    layout
	start  time.Time

	clock func() int64 // tests: a fake clock; nil means the monotonic clock
	// hashRemap lets tests force collisions: it maps the real hash to another. It takes the hash,
	// not the key, so that no key escapes to the heap through an unknown function. Nil in use.
	hashRemap     func(uint64) uint64
	lockedReads   bool // tests: every read takes the read lock
	inlineJanitor bool

	// reportsRemovals is Config.OnRemoval != nil; the function is the handle's (removalsTo).
	reportsRemovals bool
	removalsTo      weak.Pointer[handle]
	onRemovalAtNew  func(key, value []byte, cause RemovalCause) // until newCache moves it to the handle
	// janitorReporting is set while the janitor goroutine runs OnRemoval, which may call Close:
	// Close must not wait for the janitor then.
	janitorReporting atomic.Bool

	decodeErrors atomic.Uint64 // values a Typed view could not decode

	// With Config.Path (persist.go): the open, locked file behind the mapping, and its header
	// in the mapping's first page. Released pages must then be punched out of the file, not
	// merely dropped (shared).
	file          *cacheFile
	fileHdr       *fileHeader
	shardsEmptied atomic.Int64 // reattached shards found dirty or failing verification (persist.go)

	readers *readerSlots // lock-free readers at work; see readers.go
	closing atomic.Bool  // Close has begun: lock-free readers touch nothing

	closeOnce   sync.Once
	closed      atomic.Bool  // every shard is marked closed
	released    atomic.Bool  // the mapping is unmapped
	views       atomic.Int64 // View callbacks running, which keep the mapping alive past Close
	stop        chan struct{}
	janitorDone chan struct{} // closed by the janitor goroutine on exit; nil without one
}

// New maps Capacity bytes and returns an empty cache over them. It returns an error wrapping
// [ErrInvalidConfig] for a Config it cannot honour, or the operating system's error if the
// mapping fails; either way nothing stays mapped.
func New(cfg Config) (*Cache, error) {
	e, err := newEngine(cfg, nil)
	if err != nil {
		return nil, err
	}
	return newCache(e), nil
}

func newCache(e *engine) *Cache {
	h := &handle{e: e, onRemoval: e.onRemovalAtNew}
	e.onRemovalAtNew = nil
	e.removalsTo = weak.Make(h)
	h.cleanup = runtime.AddCleanup(h, func(e *engine) { _ = e.close() }, e)
	if !e.inlineJanitor {
		e.stop, e.janitorDone = make(chan struct{}), make(chan struct{})
		go e.runJanitor(e.lay.janitor)
	}
	return &Cache{h}
}

func newEngine(cfg Config, clock func() int64) (*engine, error) {
	l, err := cfg.layout()
	if err != nil {
		return nil, err
	}
	var (
		region []byte
		file   *cacheFile
		hdr    *fileHeader
		attach bool
	)
	if cfg.Path != "" {
		file, region, hdr, attach, err = fileRegion(&cfg, &l, os.Getpagesize())
	} else {
		region, err = newRegion(l.mapSize)
	}
	if err != nil {
		return nil, err
	}
	e := &engine{
		region:          region,
		shards:          make([]shard, l.shards),
		groups:          make([]group, l.groups),
		mask:            uint64(l.shards - 1),
		seed:            rand.Uint64(),
		lay:             l,
		start:           time.Now(),
		readers:         newReaderSlots(runtime.GOMAXPROCS(0)),
		clock:           clock,
		inlineJanitor:   l.janitor < 0,
		onRemovalAtNew:  cfg.OnRemoval,
		reportsRemovals: cfg.OnRemoval != nil,
		file:            file,
		fileHdr:         hdr,
	}
	fail := func(err error) (*engine, error) {
		_ = freeRegion(region)
		if file != nil {
			_ = file.close()
		}
		return nil, err
	}
	if attach {
		err := e.attach(cfg.Path)
		if err != nil && cfg.ResetIncompatible {
			// Start afresh over it: unmark the file, which New then rewrites as a foreign one.
			e.fileHdr.Magic = [8]byte{}
			_, _ = fail(err)
			return newEngine(cfg, clock)
		}
		if err != nil {
			return fail(err)
		}
		return e, nil
	}
	for i := range e.groups {
		part := region[l.base+i*l.groupSize : l.base+(i+1)*l.groupSize : l.base+(i+1)*l.groupSize]
		if err := e.initGroup(i, part, false); err != nil {
			return fail(fmt.Errorf("mmcache: formatting group %d: %w", i, err))
		}
	}
	if file != nil {
		e.markOpen(os.Getpagesize())
	}
	return e, nil
}

// initGroup formats part, group i's share of the mapping (pool.go), and its shards; or, with
// attach, takes over what a cache that closed cleanly left there (persist.go).
func (e *engine) initGroup(i int, part []byte, attach bool) error {
	l := &e.lay
	var ar *arena.Arena
	var err error
	if attach {
		ar, err = attachGroup(l, part)
	} else {
		ar, err = arena.New(l.arenaIn(part), l.segSize)
	}
	if err != nil {
		return err
	}
	if ar.Len() != l.segments {
		return fmt.Errorf("arena of %d segments, layout says %d", ar.Len(), l.segments)
	}
	e.setUpGroup(i, part, ar, attach)
	return nil
}

// setUpGroup makes group i over part, with its arena ar, and its shards; with attach, they
// take over what the file holds.
func (e *engine) setUpGroup(i int, part []byte, ar *arena.Arena, attach bool) {
	l := &e.lay
	perGroup := l.shards / l.groups
	g := &e.groups[i]
	*g = group{
		ar:     ar,
		data:   ar.Data(),
		hdr:    (*groupHeader)(wordAt(part, 0)),
		shards: e.shards[i*perGroup : (i+1)*perGroup],
		pages:  uint32(l.segSize / indexPageSize),
	}
	if l.hugePages {
		// Segments fill front to back, so their 2 MiB pages are soon all used: advise them now.
		if start, end := pageTrim(g.data); end > start {
			adviseHugePages(g.data[start:end])
		}
	}
	for j := range g.shards {
		hdr, dir := l.shardHeaderIn(part, j), l.dirIn(part, j)
		g.shards[j].init(e, g, j, hdr, dir, l, attach)
	}
}

// reservedBytes is the part of the mapping set aside for bookkeeping: group and shard headers,
// index directories, and the arenas' headers and records.
func (e *engine) reservedBytes() int {
	if len(e.groups) == 0 {
		return 0
	}
	return e.lay.base + len(e.groups)*(e.lay.headBytes+arena.Overhead(e.lay.segments))
}

// now is the cache's clock in nanoseconds: monotonic, starting at 1 when the cache is made, so
// that 0 can mean "never expires".
func (e *engine) now() int64 {
	if e.clock != nil {
		return e.clock()
	}
	return int64(time.Since(e.start)) + 1
}

func (e *engine) hash(key []byte) uint64 {
	h := hashKey(key, e.seed)
	if e.hashRemap != nil {
		h = e.hashRemap(h)
	}
	return h
}

// shared reports whether the mapping is a file's (Config.Path).
func (e *engine) shared() bool { return e.file != nil }

func (e *engine) shardFor(h uint64) *shard { return &e.shards[h&e.mask] }

// expiry turns a TTL into an expiry on the cache's clock; 0 means never.
func (e *engine) expiry(ttl time.Duration) int64 {
	if ttl == 0 {
		return 0
	}
	now := e.now()
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// Set stores value under key with Config.DefaultTTL, replacing any entry under key. The cache
// copies both; the caller may reuse them when Set returns. A full cache evicts to make room.
//
// Set returns an error wrapping [ErrEntryTooLarge] if key is longer than [MaxKeySize] or key
// and value together exceed Config.MaxEntrySize, and [ErrClosed] after Close. On error nothing
// is stored and the previous entry under key, if any, stays. Empty keys and values are valid.
func (c *Cache) Set(key, value []byte) error {
	e := c.engine()
	err := e.set(key, value, e.lay.ttl)
	runtime.KeepAlive(c)
	return err
}

// SetWithTTL is [Cache.Set] with a time to live: the entry is never returned once ttl has
// passed. A ttl of 0 means it never expires; a negative ttl is an error wrapping
// [ErrInvalidTTL] and stores nothing.
func (c *Cache) SetWithTTL(key, value []byte, ttl time.Duration) error {
	err := c.engine().set(key, value, ttl)
	runtime.KeepAlive(c)
	return err
}

func (e *engine) set(key, value []byte, ttl time.Duration) error {
	// Compared without adding the lengths, which could overflow an int on 32-bit platforms.
	if len(key) > maxKeyLen || len(value) > e.lay.maxEntry-len(key) || ttl < 0 {
		return e.badSet(len(key), len(value), ttl)
	}
	h := e.hash(key)
	s := e.shardFor(h)
	w := e.warm(s, h, key, entrySize(len(key), len(value), ttl != 0))
	rm := e.newRemovals()
	if rm == nil {
		return s.set(h, key, value, e.expiry(ttl), nil, &w)
	}
	defer e.deliver(rm) // even if the Set panics: its removals happened
	return s.set(h, key, value, e.expiry(ttl), rm, &w)
}

// badSet explains why a Set was refused; on a closed cache that is the first thing to say.
func (e *engine) badSet(keyLen, valueLen int, ttl time.Duration) error {
	switch {
	case e.closed.Load():
		return ErrClosed
	case keyLen > maxKeyLen:
		return fmt.Errorf("%w: key of %d bytes, the limit is %d", ErrEntryTooLarge, keyLen, maxKeyLen)
	case valueLen > e.lay.maxEntry-keyLen:
		return fmt.Errorf("%w: key of %d bytes and value of %d bytes, MaxEntrySize is %d", ErrEntryTooLarge, keyLen, valueLen, e.lay.maxEntry)
	default:
		return fmt.Errorf("%w: %v is negative", ErrInvalidTTL, ttl)
	}
}

// Get appends the value stored under key to dst and returns the result and true, or dst and
// false if key is absent or expired. It allocates nothing when dst has room for the value.
// Bytes of dst beyond its length may be written even on a miss. dst's spare room is also taken
// as the size of value expected: on amd64 and arm64, that much of the entry (up to 1 KiB) is
// brought into the cache at once, so a Get into a buffer sized for its value is faster.
func (c *Cache) Get(dst, key []byte) ([]byte, bool) {
	e := c.engine()
	h := e.hash(key)
	s := e.shardFor(h)
	if e.lockFree() {
		if out, _, hit, done := e.getLockFree(s, dst, h, key); done {
			runtime.KeepAlive(c)
			return out, hit
		}
	}
	dst, _, ok := s.getLocked(dst, h, key)
	runtime.KeepAlive(c)
	return dst, ok
}

// getLocked is Get under the read lock; left is the hit's time to live in nanoseconds, 0 for
// none.
func (s *shard) getLocked(dst []byte, h uint64, key []byte) (out []byte, left int64, ok bool) {
	s.ready()
	s.mu.RLock()
	defer s.mu.RUnlock() // a panic, whatever its cause, must not leave the lock held
	mayPanic(pointReadLocked)
	if s.closed {
		return dst, 0, false // a miss, not counted
	}
	sl, pos, en, ok := s.lookup(h, key)
	if ok {
		ok, left = s.timeLeft(&en)
	}
	if ok {
		s.idx.markAccessed(sl)
		dst = append(dst, s.value(pos, &en)...)
	}
	// Counted before the unlock: the counters share the lock's cache line, which this core
	// holds now and may not once another core has taken the lock.
	s.countLookup(ok)
	return dst, left, ok
}

// lookupLive is lookup that also misses on a closed shard and an expired entry. Read lock held.
func (s *shard) lookupLive(h uint64, key []byte) (sl slot, pos int, en entry, ok bool) {
	if s.closed {
		return
	}
	sl, pos, en, ok = s.lookup(h, key)
	if ok && s.expiredNow(&en) {
		ok = false
	}
	return
}

func (s *shard) countLookup(hit bool) {
	if hit {
		s.hits.Add(1)
	} else {
		s.misses.Add(1)
	}
}

// View calls fn with the value stored under key, without copying it, and returns true; it
// returns false, without calling fn, if key is absent or expired.
//
// NOTE: value points into the cache's mapping. It is valid only until fn returns and must not
// be written to or kept: copy what you need. fn runs without any lock held, so it may call
// any method of the cache, Close included; the memory it reads stays intact until it returns.
// If fn panics, the panic goes on to View's caller, and the cache is left as if fn had
// returned.
func (c *Cache) View(key []byte, fn func(value []byte)) bool {
	e := c.engine()
	h := e.hash(key)
	s := e.shardFor(h)
	v, seg, ok := s.pinValue(h, key)
	if !ok {
		runtime.KeepAlive(c)
		return false
	}
	defer e.endView(s, seg) // even if fn panics
	fn(v)
	runtime.KeepAlive(c)
	return true
}

// pinValue finds key's live value for View and pins its segment, so that no writer moves or
// reuses its bytes, and counts the view, so that Close leaves the mapping to the last view out.
// The caller must call endView once it is done with value.
func (s *shard) pinValue(h uint64, key []byte) (value []byte, seg arena.ID, ok bool) {
	s.ready()
	s.mu.RLock()
	defer s.mu.RUnlock()
	mayPanic(pointReadLocked)
	if s.closed {
		return nil, 0, false // a miss, not counted
	}
	sl, pos, en, ok := s.lookupLive(h, key)
	s.countLookup(ok)
	if !ok {
		return nil, 0, false
	}
	s.idx.markAccessed(sl)
	value = s.value(pos, &en)
	seg = s.segOf(pos)
	// Nothing after this may panic: the caller ends the view only once pinValue has returned.
	s.ar.Pin(seg)
	s.e.views.Add(1)
	return value, seg, true
}

// endView ends a view that pinValue began. Whatever happens, even a panic, the view is no
// longer counted when it returns, so that a Close waiting for it can unmap.
func (e *engine) endView(s *shard, seg arena.ID) {
	defer e.viewEnded()
	if s.ar.Unpin(seg) {
		// The last reader of a segment that Reset dropped meanwhile: free it.
		s.releaseRetired(seg)
	}
}

func (e *engine) viewEnded() {
	if e.views.Add(-1) == 0 && e.closed.Load() {
		e.release()
	}
}

func (s *shard) releaseRetired(seg arena.ID) {
	s.lock()
	defer s.unlock()
	mayPanic(pointEndView)
	if !s.closed && s.ar.IsRetired(seg) && s.ar.Pins(seg) == 0 {
		s.g.release(s.q, seg)
	}
}

// Has reports whether key is present and unexpired. It does not count as a use of the entry.
func (c *Cache) Has(key []byte) bool {
	e := c.engine()
	h := e.hash(key)
	s := e.shardFor(h)
	if e.lockFree() {
		if found, done := e.hasLockFree(s, h, key); done {
			runtime.KeepAlive(c)
			return found
		}
	}
	ok := s.hasLocked(h, key)
	runtime.KeepAlive(c)
	return ok
}

func (s *shard) hasLocked(h uint64, key []byte) bool {
	s.ready()
	s.mu.RLock()
	defer s.mu.RUnlock()
	mayPanic(pointReadLocked)
	_, _, _, ok := s.lookupLive(h, key)
	return ok
}

// Delete removes key and reports whether it was present (an expired entry is removed too, but
// reports false).
func (c *Cache) Delete(key []byte) bool {
	e := c.engine()
	h := e.hash(key)
	rm := e.newRemovals()
	if rm != nil {
		defer e.deliver(rm) // even if the Delete panics: its removals happened
	}
	present := e.shardFor(h).delete(h, key, rm)
	runtime.KeepAlive(c)
	return present
}

func (s *shard) delete(h uint64, key []byte, rm *removals) (present bool) {
	s.lockWith(rm)
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed {
		return false
	}
	sl, pos, en, ok := s.lookup(h, key)
	if !ok {
		return false
	}
	present = !en.expired(s.e.now())
	cause := RemovalDeleted
	if !present {
		cause = RemovalExpired
	}
	s.dropLocked(sl, pos, &en, cause)
	s.debugCheckLocked()
	return present
}

// Len returns the number of entries in the cache. It counts expired entries the janitor has
// not dropped yet; it returns 0 after Close.
func (c *Cache) Len() int {
	e, n := c.engine(), 0
	for i := range e.shards {
		n += e.shards[i].stats(nil)
	}
	runtime.KeepAlive(c)
	return n
}

// Reset drops every entry and gives the cache's physical memory back to the operating system;
// the mapping stays, ready for new entries. Memory that a running View callback reads is
// released when the callback returns. Reset on a closed cache does nothing.
func (c *Cache) Reset() {
	e := c.engine()
	for i := range e.shards {
		e.shards[i].reset()
	}
	runtime.KeepAlive(c)
}

func (s *shard) reset() {
	s.lock()
	defer s.unlock()
	mayPanic(pointReset)
	if !s.closed {
		s.resetLocked()
	}
}

// Close stops the janitor, waits for the calls in progress, and unmaps the cache's memory.
// Every call after Close returns [ErrClosed], false or a miss. A View callback still running
// keeps the memory mapped until it returns, so Close may be called from inside one. Close is
// idempotent and always returns nil; the error is for the unmapping, which does not fail in
// practice.
func (c *Cache) Close() error {
	if c == nil || c.handle == nil {
		return nil
	}
	c.cleanup.Stop()
	err := c.e.close()
	runtime.KeepAlive(c)
	return err
}

func (e *engine) close() error {
	var err error
	e.closeOnce.Do(func() {
		if e.stop != nil {
			close(e.stop)
			// Unless Close is called from OnRemoval on the janitor's goroutine, which would wait
			// for itself: the janitor then touches nothing more, since it works only under shard
			// locks and every shard is marked closed below; it exits after its callback.
			if !e.janitorReporting.Load() {
				<-e.janitorDone
			}
		}
		e.closing.Store(true) // lock-free readers that start from now on touch nothing
		// Deferred, so that Close completes even if marking a shard panicked: a cache half
		// closed would keep its mapping for good.
		defer func() {
			for i := range e.shards {
				e.shards[i].markClosed() // again: a no-op on the shards marked already
			}
			e.readers.wait() // and those that started before are done
			e.closed.Store(true)
			if e.views.Load() == 0 {
				err = e.release()
			}
		}()
		for i := range e.shards {
			e.shards[i].markClosed()
			mayPanic(pointClose)
		}
	})
	return err
}

// markClosed marks the shard closed: no call that takes its lock touches the mapping after.
func (s *shard) markClosed() {
	s.lockUnverified()
	defer s.unlock()
	s.markWritten()
	s.persist = false // the mapping is not touched once the shard is closed
	s.closed = true
}

// release unmaps the region, once, after Close when no View callback runs.
func (e *engine) release() error {
	if !e.released.CompareAndSwap(false, true) {
		return nil
	}
	if e.file == nil {
		return freeRegion(e.region)
	}
	e.markClean()
	err := freeRegion(e.region)
	if cerr := e.file.close(); err == nil {
		err = cerr
	}
	return err
}
