// Package mmrueidis is a client-side cache store for rueidis (github.com/redis/rueidis) that
// keeps the cached replies in mmcache's off-heap mapping instead of on the Go heap.
//
// rueidis' own client-side cache keeps each cached reply as several heap objects (the reply,
// its strings, a list element, map entries), so a cache of a few hundred thousand keys adds
// hundreds of thousands of objects that every GC cycle marks. Its SimpleCache adapter moves the
// replies elsewhere but still keeps a map entry per key on the heap, to find what to drop when
// Redis invalidates a key. This store implements rueidis.CacheStore in full instead: the
// replies to all the commands read through one Redis key are kept together in a single mmcache
// entry under that key, so an invalidation, which names keys only, is one Delete, and nothing
// per key stays on the Go heap. The only heap state that grows with use is a request in
// flight: see [Stats.Pending].
//
// Wire it in with [New] and ClientOption.NewCacheStoreFn:
//
//	cache, err := mmrueidis.New(mmrueidis.Config{Capacity: 256 << 20})
//	client, err := rueidis.NewClient(rueidis.ClientOption{
//		InitAddress:     []string{"127.0.0.1:6379"},
//		NewCacheStoreFn: cache.NewStore,
//	})
//
// It honours what rueidis' default store honours: Redis' invalidations (RESP3 client tracking)
// drop the key's cached replies, a FLUSHALL or a lost tracking drops them all, and a cached
// reply lives no longer than the smaller of the TTL given to DoCache and the key's PTTL on the
// server, checked on every hit.
package mmrueidis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"

	"github.com/mmcache/mmcache"
	"github.com/redis/rueidis"
)

// Config sets up a [Cache]. The zero Config gives each connection a mapping of the size rueidis
// is told to use per connection.
type Config struct {
	// Capacity is the size in bytes of the mapping each connection gets, the hard bound on all
	// it caches, index included. rueidis opens a store per connection (ClientOption.
	// PipelineMultiplex sets how many per Redis node), so a client uses up to this times its
	// connections; a mapping costs memory only where it is written. 0 uses
	// ClientOption.CacheSizeEachConn (rueidis' default is 128 MiB), raised to
	// mmcache.MinCapacity if it is smaller.
	Capacity int

	// MaxEntrySize is the largest Redis key plus its cached replies, all commands together,
	// that a connection's mapping accepts; larger replies are answered but not cached, and
	// counted in [Stats.TooLarge]. 0 takes mmcache's default for the Capacity, which is 128 KiB
	// for 128 MiB on 16 shards: set it (with a Capacity that leaves room) to cache values of
	// a megabyte. See mmcache.Config.MaxEntrySize.
	MaxEntrySize int

	// Shards is mmcache.Config.Shards for each mapping; 0 picks from GOMAXPROCS and Capacity.
	Shards int

	// NoHugePages is mmcache.Config.NoHugePages.
	NoHugePages bool
}

// Cache makes the stores of rueidis clients and keeps their counters. Pass its NewStore method
// as ClientOption.NewCacheStoreFn; one Cache may serve any number of clients. It needs no
// closing: each store unmaps its memory when rueidis closes its connection, which
// Client.Close does.
type Cache struct {
	cfg Config

	mu     sync.Mutex
	stores map[weak.Pointer[store]]struct{} // open stores; weak, so that a store rueidis drops without closing is still unmapped by mmcache's cleanup
	err    error                            // the last error making a mapping

	hits, misses, waits                   atomic.Uint64
	stored, tooLarge, dropped             atomic.Uint64
	invalidated, flushes, mappingFailures atomic.Uint64
}

// New returns a Cache for cfg. It maps and unmaps one mapping of the configured size, or of
// rueidis.DefaultCacheBytes when Capacity is 0, to report a Config mmcache cannot honour now
// rather than on each connection; the error wraps mmcache.ErrInvalidConfig.
func New(cfg Config) (*Cache, error) {
	trial := cfg.Capacity
	if trial == 0 {
		trial = rueidis.DefaultCacheBytes
	}
	mc, err := mmcache.New(cfg.mmcacheConfig(trial))
	if err != nil {
		return nil, err
	}
	_ = mc.Close()
	return &Cache{cfg: cfg, stores: make(map[weak.Pointer[store]]struct{})}, nil
}

func (cfg Config) mmcacheConfig(capacity int) mmcache.Config {
	return mmcache.Config{
		Capacity:     capacity,
		MaxEntrySize: cfg.MaxEntrySize,
		Shards:       cfg.Shards,
		NoHugePages:  cfg.NoHugePages,
	}
}

// NewStore returns a store for one connection: its signature is rueidis.NewCacheStoreFn, and
// rueidis calls it for each connection it opens. NewStore cannot return an error, so a store
// whose mapping cannot be made (the address space is exhausted, or a CacheSizeEachConn that
// does not fit the Config) caches nothing, every reply being answered by Redis; it is counted
// in [Stats.MappingFailures] and [Cache.Err] says why.
func (c *Cache) NewStore(opt rueidis.CacheStoreOption) rueidis.CacheStore {
	capacity := c.cfg.Capacity
	if capacity == 0 {
		capacity = max(opt.CacheSizeEachConn, mmcache.MinCapacity)
	}
	mc, err := mmcache.New(c.cfg.mmcacheConfig(capacity))
	if err != nil {
		c.mappingFailures.Add(1)
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		mc = &mmcache.Cache{} // the zero Cache is a closed one: it misses and stores nothing
	}
	s := &store{owner: c, mc: mc, flights: make(map[flightKey]*flight)}
	c.mu.Lock()
	c.stores[weak.Make(s)] = struct{}{}
	c.mu.Unlock()
	return s
}

// Err returns the last error that kept a store from mapping its memory, or nil.
func (c *Cache) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats is a snapshot of a [Cache]'s counters, over all the stores it made, and of the sizes of
// its open stores.
type Stats struct {
	// Hits counts DoCache lookups answered from the mapping: no round trip to Redis.
	Hits uint64
	// Misses counts DoCache lookups that sent the command to Redis: one round trip each.
	Misses uint64
	// Waits counts DoCache lookups that found the same command on the same key already sent by
	// another caller and waited for its reply: no round trip of their own.
	Waits uint64

	// Stored counts replies written to a mapping.
	Stored uint64
	// TooLarge counts replies not cached because they do not fit: the key is longer than
	// mmcache.MaxKeySize, or the key and its replies exceed Config.MaxEntrySize. They were
	// answered to DoCache all the same; the next DoCache of the same command asks Redis again.
	// rueidis gives a store no way to return an error, so this count is where to see them.
	TooLarge uint64
	// Dropped counts replies not cached for another reason: mmcache.ErrBusy, or a write that
	// kept losing to concurrent changes of its key.
	Dropped uint64

	// Invalidated counts keys that Redis invalidated while cached here.
	Invalidated uint64
	// Flushes counts invalidations of everything (FLUSHALL, FLUSHDB, a broken tracking
	// redirection), each of which empties a store.
	Flushes uint64
	// MappingFailures counts stores that could not map their memory and cache nothing.
	MappingFailures uint64

	// Stores is the number of open stores: one per connection rueidis has open with client-side
	// caching on. A store counts until its Close has unmapped its memory.
	Stores int
	// Pending is the number of requests in flight in the open stores: a command on a key that a
	// DoCache missed and sent and whose reply has not come yet. Each keeps about 200 bytes on
	// the Go heap until its reply, an error or the connection's end, whichever comes first:
	// the only per-key heap state of this package.
	Pending int
	// Entries is the number of Redis keys cached in the open stores; LiveBytes their keys and
	// replies; UsedBytes and Capacity those of their mappings (see mmcache.Stats).
	Entries, LiveBytes, UsedBytes, Capacity int
}

// Stats returns the counters and sizes. It takes each open store's locks in turn, briefly.
func (c *Cache) Stats() Stats {
	st := Stats{
		Hits:            c.hits.Load(),
		Misses:          c.misses.Load(),
		Waits:           c.waits.Load(),
		Stored:          c.stored.Load(),
		TooLarge:        c.tooLarge.Load(),
		Dropped:         c.dropped.Load(),
		Invalidated:     c.invalidated.Load(),
		Flushes:         c.flushes.Load(),
		MappingFailures: c.mappingFailures.Load(),
	}
	// A store closing is counted until its memory is unmapped.
	for _, s := range c.openStores() {
		s.mu.Lock()
		pending := len(s.flights)
		s.mu.Unlock()
		ms := s.mc.Stats()
		st.Stores++
		st.Pending += pending
		st.Entries += ms.Entries
		st.LiveBytes += ms.LiveBytes
		st.UsedBytes += ms.UsedBytes
		st.Capacity += ms.Capacity
	}
	return st
}

// openStores returns the stores made and not yet unmapped by Close, dropping those the garbage
// collector took (whose memory mmcache's cleanup unmaps).
func (c *Cache) openStores() []*store {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*store, 0, len(c.stores))
	for wp := range c.stores {
		if s := wp.Value(); s != nil {
			out = append(out, s)
		} else {
			delete(c.stores, wp)
		}
	}
	return out
}

func (c *Cache) forget(s *store) {
	c.mu.Lock()
	delete(c.stores, weak.Make(s))
	c.mu.Unlock()
}

// store is the rueidis.CacheStore of one connection. rueidis calls Flight from the goroutines
// that call DoCache, Cancel from those too when a request fails, and Update, Delete and Close
// from the connection's reading goroutine, in the order the replies and invalidations arrive.
type store struct {
	owner *Cache
	mc    *mmcache.Cache

	mu      sync.Mutex
	flights map[flightKey]*flight // requests sent and not answered yet; nil once closed
	closed  bool

	// wmu guards the scratch buffers of Update, which rueidis calls from one goroutine per
	// connection; the lock keeps the buffers safe should that ever change.
	wmu      sync.Mutex
	old, rec []byte
}

var _ rueidis.CacheStore = (*store)(nil)

type flightKey struct{ key, cmd string }

// flight is a request in flight: the callers that want the same command on the same key wait
// on it instead of sending their own.
type flight struct {
	done   chan struct{}
	xat    int64 // when the reply must expire at the latest, in Unix ms: now + DoCache's TTL
	shared bool  // another caller waits on it; guarded by store.mu
	val    rueidis.RedisMessage
	err    error
}

// Wait returns the reply the flight gets, or the error it ends with, or ctx's error.
func (f *flight) Wait(ctx context.Context) (rueidis.RedisMessage, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return rueidis.RedisMessage{}, ctx.Err()
	}
}

// keyBytes gives a string's bytes without a copy: mmcache reads keys and never keeps them.
func keyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Flight looks key's reply to cmd up: a hit returns it, a request in flight for it returns that
// to wait on, and a miss records a request in flight and returns neither, so that the caller
// sends it.
func (s *store) Flight(key, cmd string, ttl time.Duration, now time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	if v, ok := s.lookup(key, cmd, now); ok {
		s.owner.hits.Add(1)
		return v, nil
	}
	fk := flightKey{key, cmd}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return rueidis.RedisMessage{}, nil // the connection is gone: the request fails there
	}
	if f := s.flights[fk]; f != nil {
		f.shared = true
		s.mu.Unlock()
		s.owner.waits.Add(1)
		return rueidis.RedisMessage{}, f
	}
	// Again under the lock: Update writes the mapping before it ends the flight under this lock,
	// so a reply that ended a flight since the first look is found here, and no second request
	// goes out for it.
	if v, ok := s.lookup(key, cmd, now); ok {
		s.mu.Unlock()
		s.owner.hits.Add(1)
		return v, nil
	}
	s.flights[fk] = &flight{done: make(chan struct{}), xat: now.Add(ttl).UnixMilli()}
	s.mu.Unlock()
	s.owner.misses.Add(1)
	return rueidis.RedisMessage{}, nil
}

// lookup returns key's reply to cmd if the mapping has one that is live at now. The reply is
// copied to the heap, since rueidis' RedisMessage points into the bytes it is read from and
// the mapping's bytes are reused once View returns.
func (s *store) lookup(key, cmd string, now time.Time) (v rueidis.RedisMessage, ok bool) {
	nowMs := now.UnixMilli()
	s.mc.View(keyBytes(key), func(rec []byte) {
		msg := findReply(rec, cmd)
		if msg == nil || msgPXAT(msg) <= nowMs {
			return
		}
		ok = v.CacheUnmarshalView(append([]byte(nil), msg...)) == nil
	})
	return v, ok
}

// Update caches the reply to a request Flight sent, gives it to the callers waiting for it,
// and returns its expiry in Unix ms: the smaller of the server's (the key's PTTL, which rueidis
// sets on val) and the one DoCache asked for.
func (s *store) Update(key, cmd string, val rueidis.RedisMessage) (pxat int64) {
	fk := flightKey{key, cmd}
	s.mu.Lock()
	f := s.flights[fk]
	s.mu.Unlock()
	if f == nil {
		return 0 // cancelled, or the store is closed: no one waits, and nothing is cached
	}
	pxat = val.CachePXAT() // -1 when the key has no expiry on the server
	if pxat <= 0 || f.xat < pxat {
		pxat = f.xat
	}

	s.wmu.Lock()
	msg := s.put(key, cmd, &val, pxat)
	s.mu.Lock()
	mine := s.flights[fk] == f
	if mine {
		delete(s.flights, fk)
	}
	shared := f.shared
	s.mu.Unlock()
	if mine && shared {
		// The waiters get the reply as a hit would give it: with the expiry just decided,
		// which rueidis lets a store set only through the serialized form.
		f.val = rueidis.RedisMessage{}
		if err := f.val.CacheUnmarshalView(append([]byte(nil), msg...)); err != nil {
			f.val = val
		}
	}
	s.shrink()
	s.wmu.Unlock()
	if mine {
		close(f.done)
	}
	return pxat
}

// maxWriteAttempts bounds Update's read-modify-write of a key's record: a write loses only to
// an invalidation, an eviction or an expiry of the same key in between, so more than a couple
// of attempts means something is off, and then the key is dropped.
const maxWriteAttempts = 4

// put writes val, expiring at pxat, as key's reply to cmd, keeping the key's other live
// replies, and returns val's serialization (in s.rec, valid until the next put). wmu held.
func (s *store) put(key, cmd string, val *rueidis.RedisMessage, pxat int64) (msg []byte) {
	size := val.CacheSize()
	rec := appendHeader(grow(s.rec[:0], size+len(cmd)+20), cmd, size)
	start := len(rec)
	rec = val.CacheMarshal(rec)
	if len(rec)-start != size {
		// A serialization this package cannot frame: answer, do not cache.
		s.rec = rec
		s.owner.dropped.Add(1)
		return rec[start:]
	}
	setMsgPXAT(rec[start:], pxat)
	one := len(rec) // the record of this reply alone
	s.rec = rec
	msg = rec[start:one]

	now := time.Now()
	if pxat <= now.UnixMilli() {
		return msg // expired already (a PTTL of 0): nothing to cache
	}
	kb := keyBytes(key)
	for range maxWriteAttempts {
		old, found := s.mc.Get(s.old[:0], kb)
		s.old = old
		rec, maxPXAT, hadCmd := appendOthers(rec[:one], old, cmd, now.UnixMilli())
		s.rec = rec
		stored, err := s.write(kb, found, old, rec, max(pxat, maxPXAT), now)
		if errors.Is(err, mmcache.ErrEntryTooLarge) && len(rec) > one {
			// The key's other replies make it too large: keep this one, the newest, alone.
			stored, err = s.write(kb, found, old, rec[:one], pxat, now)
		}
		switch {
		case err == nil && stored:
			s.owner.stored.Add(1)
			return msg
		case err == nil:
			continue // the key changed since Get: read it again
		case errors.Is(err, mmcache.ErrEntryTooLarge):
			s.owner.tooLarge.Add(1)
			if hadCmd {
				// An older reply to cmd must not outlive the newer one that could not be cached.
				s.mc.Delete(kb)
			}
		case errors.Is(err, mmcache.ErrClosed):
		default:
			s.owner.dropped.Add(1)
		}
		return msg
	}
	s.owner.dropped.Add(1)
	s.mc.Delete(kb) // the safe way out: a miss, never a stale reply
	return msg
}

// write stores rec under key with the TTL left until pxat, if key still holds old (or nothing,
// when found is false).
func (s *store) write(key []byte, found bool, old, rec []byte, pxat int64, now time.Time) (bool, error) {
	ttl := time.UnixMilli(pxat).Sub(now)
	if ttl <= 0 {
		return true, nil // expired in the meantime: nothing to cache, nothing to retry
	}
	if found {
		return s.mc.CompareAndSwap(key, old, rec, ttl)
	}
	return s.mc.SetIfAbsent(key, rec, ttl)
}

// maxScratch is the largest scratch buffer kept between Updates: one large reply should not
// keep megabytes on the heap for the life of the connection.
const maxScratch = 64 << 10

func (s *store) shrink() {
	if cap(s.old) > maxScratch {
		s.old = nil
	}
	if cap(s.rec) > maxScratch {
		s.rec = nil
	}
}

// Cancel ends the request in flight for key and cmd with err, which the callers waiting on it
// get.
func (s *store) Cancel(key, cmd string, err error) {
	fk := flightKey{key, cmd}
	s.mu.Lock()
	f := s.flights[fk]
	delete(s.flights, fk)
	s.mu.Unlock()
	if f != nil {
		f.err = err
		close(f.done)
	}
}

// Delete drops the cached replies of keys, as Redis' invalidations name them, or of every key
// when keys is nil. Requests in flight stay: their replies were read after the change that
// caused the invalidation.
func (s *store) Delete(keys []rueidis.RedisMessage) {
	if keys == nil {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			s.mc.Reset()
			s.owner.flushes.Add(1)
		}
		return
	}
	for i := range keys {
		k, err := keys[i].ToString()
		if err != nil {
			continue
		}
		if s.mc.Delete(keyBytes(k)) {
			s.owner.invalidated.Add(1)
		}
	}
}

// Close is called when the connection ends: it ends every request in flight with err and
// unmaps the store's memory.
func (s *store) Close(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	flights := s.flights
	s.flights = nil
	s.mu.Unlock()
	_ = s.mc.Close() // a View running in a Flight keeps the memory mapped until it returns
	for _, f := range flights {
		f.err = err
		close(f.done)
	}
	s.owner.forget(s)
}
