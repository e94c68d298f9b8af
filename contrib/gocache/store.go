// Package gocache is a store for github.com/eko/gocache/lib/v4 over an mmcache.Cache: the
// values, their keys, their expiries and their tags live in mmcache's mapping outside the Go
// heap, so a local tier of millions of entries adds nothing to the garbage collector's work.
// Put it first in a chain, in front of the Redis store:
//
//	local, err := gocache.New(gocache.Config{Cache: mmcache.Config{Capacity: 256 << 20}})
//	...
//	redisStore := redis_store.NewRedis(gocache.PreciseTTL{Cmdable: rdb})
//	c := cache.NewChain[string](cache.New[string](local), cache.New[string](redisStore))
//
// Expirations follow the store interface: [store.WithExpiration] per Set, or the default given
// to [New]; 0 means no expiry, and so does any negative duration, which is how other stores
// report a key without one (Redis as -1, go-cache as a date in the distant past), so that the
// chain's copy of such a key is stored rather than refused. [Config.MaxTTL] caps them all.
//
// Values are strings or byte slices, returned as the type they were stored as; the Redis
// store returns strings, so a chain over it is a chain of string (or any). Tags
// ([store.WithTags]) are kept in the cache itself, and [Store.Invalidate] drops every entry
// of a tag at once.
package gocache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/eko/gocache/lib/v4/store"
	"github.com/mmcache/mmcache"
)

// Type is what [Store.GetType] returns.
const Type = "mmcache"

// ErrUnsupported is wrapped by the error Set returns for a key or a value of a type the store
// does not keep: keys are strings or byte slices (gocache's cache.Cache always passes strings),
// values too. Put a marshaler (github.com/eko/gocache/lib/v4/marshaler) in front for others.
var ErrUnsupported = errors.New("gocache: unsupported type")

// errNotFound is the cause of the store.NotFound that Get and GetWithTTL return on a miss.
var errNotFound = errors.New("mmcache: no live entry")

// Config sets up a [Store].
type Config struct {
	// Cache configures the mmcache.Cache that holds the entries; Capacity is required. Its
	// DefaultTTL is not used: give New a store.WithExpiration for a default.
	Cache mmcache.Config
	// MaxTTL, when positive, is the longest an entry lives, whatever its expiration says,
	// "no expiry" included. In a chain, nothing tells this store that another process wrote or
	// deleted a key in Redis, so MaxTTL bounds how long it may serve a value replaced there.
	// 0 sets no bound.
	MaxTTL time.Duration
}

// Store is a gocache store over an mmcache.Cache. It is safe for concurrent use. Create one with
// [New] and release its memory with [Store.Close].
type Store struct {
	c        *mmcache.Cache
	defaults *store.Options
	maxTTL   time.Duration

	tooLarge, failed atomic.Uint64
}

// The host's interface, checked at compile time so that a change in it breaks the build here.
var _ store.StoreInterface = (*Store)(nil)

// New returns an empty store. options set the defaults of every Set, as for gocache's own
// stores: store.WithExpiration, store.WithTagsTTL (store.WithCost and WithSynchronousSet mean
// nothing here: the size limit is in bytes, and every Set is synchronous). It fails as
// mmcache.New does, and on a negative MaxTTL.
func New(cfg Config, options ...store.Option) (*Store, error) {
	if cfg.MaxTTL < 0 {
		return nil, errors.New("gocache: Config.MaxTTL is negative")
	}
	c, err := mmcache.New(cfg.Cache)
	if err != nil {
		return nil, err
	}
	return &Store{c: c, defaults: store.ApplyOptions(options...), maxTTL: cfg.MaxTTL}, nil
}

// Entries and tags share the cache, told apart by the first byte of their mmcache key, so that
// no key of the caller's can name a tag.
const (
	entryPrefix = 0
	tagPrefix   = 1
)

// Value kinds, the first byte of an entry: Get returns the type Set was given.
const (
	kindString = 's'
	kindBytes  = 'b'
)

// A stored entry is: kind (1 byte), tag count (1 byte), then for each tag its length (uvarint),
// its name and the version it had at the Set (8 bytes), then the value. An entry whose tag has
// another version now, or none, was invalidated: it reads as a miss.
const maxTags = 255

// keyBuf holds an mmcache key built on the caller's stack: most keys fit, and mmcache never
// keeps a key, so building one allocates nothing.
type keyBuf [128]byte

// mkey returns prefix and key as an mmcache key, in buf when it fits.
func mkey(buf *keyBuf, prefix byte, key string) []byte {
	return append(append(buf[:0], prefix), key...)
}

// keyOf returns the caller's key as a string. The chain's cache.Cache passes strings; []byte is
// taken too, as the ristretto store takes any key.
func keyOf(key any) (string, error) {
	switch k := key.(type) {
	case string:
		return k, nil
	case []byte:
		return string(k), nil
	}
	return "", fmt.Errorf("%w: key of type %T, want string or []byte", ErrUnsupported, key)
}

// bytesOf views s as bytes without copying it, for mmcache calls only: they read a value during
// the call and never write or keep it.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Get returns the value stored under key, as the type it was stored as: a string or a
// []byte of its own. A miss is a store.NotFound error.
func (s *Store) Get(_ context.Context, key any) (any, error) {
	k, err := keyOf(key)
	if err != nil {
		return nil, err
	}
	var buf keyBuf
	mk := mkey(&buf, entryPrefix, k)
	// Get copies: the value is handed to the caller, who keeps it past any write that would
	// reuse its bytes in the mapping.
	e, ok := s.c.Get(nil, mk)
	if !ok {
		return nil, store.NotFoundWithCause(errNotFound)
	}
	return s.decode(mk, e)
}

// GetWithTTL is Get that also returns the time the entry has left, 0 for one that never
// expires (as gocache's memory stores report it).
func (s *Store) GetWithTTL(_ context.Context, key any) (any, time.Duration, error) {
	k, err := keyOf(key)
	if err != nil {
		return nil, 0, err
	}
	var buf keyBuf
	mk := mkey(&buf, entryPrefix, k)
	e, ttl, ok := s.c.GetWithTTL(nil, mk)
	if !ok {
		return nil, 0, store.NotFoundWithCause(errNotFound)
	}
	v, err := s.decode(mk, e)
	if err != nil {
		return nil, 0, err
	}
	return v, ttl, nil
}

// decode returns the value of entry e, stored under mk, or a miss if one of its tags was
// invalidated since; such an entry is deleted on the way. e is a fresh copy, owned here: the
// value returned shares its memory rather than being copied again.
func (s *Store) decode(mk, e []byte) (any, error) {
	if len(e) < 2 {
		return nil, fmt.Errorf("gocache: entry of %d bytes is corrupt", len(e))
	}
	kind, n, rest := e[0], int(e[1]), e[2:]
	var buf keyBuf
	for range n {
		l, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < l+8 {
			return nil, errors.New("gocache: entry's tags are corrupt")
		}
		tag := rest[w : w+int(l)]
		version := rest[w+int(l) : w+int(l)+8]
		rest = rest[w+int(l)+8:]
		var cur [8]byte
		got, ok := s.c.Get(cur[:0], append(append(buf[:0], tagPrefix), tag...))
		if !ok || string(got) != string(version) {
			s.c.Delete(mk)
			return nil, store.NotFoundWithCause(errNotFound)
		}
	}
	switch kind {
	case kindString:
		if len(rest) == 0 {
			return "", nil
		}
		return unsafe.String(&rest[0], len(rest)), nil // e is never written again
	case kindBytes:
		return rest[:len(rest):len(rest)], nil
	}
	return nil, fmt.Errorf("gocache: entry of unknown kind %q", kind)
}

// bufs recycles the buffers that Set encodes entries into; larger ones than maxPooled go to
// the garbage collector rather than stay pinned in the pool.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooled = 64 << 10

// Set stores value (a string or a []byte) under key. options override the defaults given to
// New: store.WithExpiration (0 or negative: no expiry, capped by MaxTTL), store.WithTags,
// store.WithTagsTTL.
//
// A value the cache refuses is counted in Stats and its error returned (wrapping
// mmcache.ErrEntryTooLarge, say), and any older entry under key is dropped, so that the chain
// does not go on serving it in place of the new one. The chain returns the error from its own
// Set, but drops it when it copies a value found further down the chain: Stats counts both.
func (s *Store) Set(_ context.Context, key any, value any, options ...store.Option) error {
	k, err := keyOf(key)
	if err != nil {
		s.failed.Add(1)
		return err
	}
	opts := store.ApplyOptionsWithDefault(s.defaults, options...)
	var buf keyBuf
	mk := mkey(&buf, entryPrefix, k)

	ttl, keep := s.ttl(opts.Expiration)
	if !keep {
		s.c.Delete(mk)
		return nil
	}
	var kind byte
	var payload []byte
	switch v := value.(type) {
	case string:
		kind, payload = kindString, bytesOf(v)
	case []byte:
		kind, payload = kindBytes, v
	default:
		s.failed.Add(1)
		s.c.Delete(mk)
		return fmt.Errorf("%w: value of type %T, want string or []byte", ErrUnsupported, value)
	}
	if len(opts.Tags) > maxTags {
		s.failed.Add(1)
		s.c.Delete(mk)
		return fmt.Errorf("gocache: %d tags, at most %d", len(opts.Tags), maxTags)
	}

	bp := bufs.Get().(*[]byte)
	e := append((*bp)[:0], kind, byte(len(opts.Tags)))
	for _, tag := range opts.Tags {
		version, err := s.tagVersion(tag, opts.TagsTTL)
		if err != nil {
			// Without its tag's version the entry could not be invalidated: store nothing.
			s.refused(mk, err)
			return fmt.Errorf("gocache: tag %q: %w", tag, err)
		}
		e = binary.AppendUvarint(e, uint64(len(tag)))
		e = append(e, tag...)
		e = append(e, version[:]...)
	}
	e = append(e, payload...)
	err = s.c.SetWithTTL(mk, e, ttl)
	if cap(e) <= maxPooled {
		*bp = e
		bufs.Put(bp)
	}
	if err != nil {
		s.refused(mk, err)
		return err
	}
	return nil
}

// goRedisNoKey is how go-redis reports the TTL of a key that does not exist (TTL and PTTL -2),
// which the chain passes on when a key expired between its GET and its TTL.
const goRedisNoKey = -2 * time.Nanosecond

// ttl maps an expiration to the TTL the cache gets, and whether to store at all.
func (s *Store) ttl(exp time.Duration) (time.Duration, bool) {
	switch {
	case exp == goRedisNoKey:
		return 0, false // gone from Redis already: no copy
	case exp <= 0:
		exp = 0 // no expiry, however the store below says it
	}
	if s.maxTTL > 0 && (exp == 0 || exp > s.maxTTL) {
		exp = s.maxTTL
	}
	return exp, true
}

// refused counts a write the cache did not store and drops the entry that mmcache keeps under
// the key on error, now older than what the caller wrote.
func (s *Store) refused(mk []byte, err error) {
	if errors.Is(err, mmcache.ErrEntryTooLarge) {
		s.tooLarge.Add(1)
	} else {
		s.failed.Add(1)
	}
	s.c.Delete(mk)
}

// tagVersion returns the tag's current version, giving it a new random one if it has none.
// Invalidate deletes a tag's version, so every entry stored with the old one reads as a miss
// from then on, and an evicted or expired tag does the same: an entry is never served after its
// tag was invalidated, whatever the cache dropped meanwhile. A tag with a TTL gets it anew at
// each Set, as the Redis store's tags do.
func (s *Store) tagVersion(tag string, ttl time.Duration) ([8]byte, error) {
	var buf keyBuf
	tk := mkey(&buf, tagPrefix, tag)
	var fresh, version [8]byte
	binary.LittleEndian.PutUint64(fresh[:], rand.Uint64())
	got, loaded, err := s.c.GetOrSet(version[:0], tk, fresh[:], max(ttl, 0))
	if err != nil {
		return version, err
	}
	if loaded && ttl > 0 {
		if _, err := s.c.Touch(tk, ttl); err != nil {
			return version, err
		}
	}
	copy(version[:], got)
	return version, nil
}

// Delete removes key's entry.
func (s *Store) Delete(_ context.Context, key any) error {
	k, err := keyOf(key)
	if err != nil {
		return err
	}
	var buf keyBuf
	s.c.Delete(mkey(&buf, entryPrefix, k))
	return nil
}

// Invalidate drops every entry stored with one of the tags given by store.WithInvalidateTags,
// in one step per tag whatever the number of entries: it deletes the tag's version, and the
// entries that carry the old one read as misses (and are deleted as they are read, or evicted).
// Without tags it does nothing, as gocache's other stores.
func (s *Store) Invalidate(_ context.Context, options ...store.InvalidateOption) error {
	var buf keyBuf
	for _, tag := range store.ApplyInvalidateOptions(options...).Tags {
		s.c.Delete(mkey(&buf, tagPrefix, tag))
	}
	return nil
}

// Clear drops every entry and tag, and gives the cache's memory back to the operating system.
func (s *Store) Clear(context.Context) error {
	s.c.Reset()
	return nil
}

// GetType returns "mmcache".
func (s *Store) GetType() string { return Type }

// Stats is a snapshot of a Store's counters.
type Stats struct {
	// TooLarge counts the writes refused with mmcache.ErrEntryTooLarge: key and value over
	// Config.Cache.MaxEntrySize. Those the chain copies back from a store below are refused
	// silently by the chain; they are served from that store every time.
	TooLarge uint64
	// Failed counts the writes refused for another reason: an unsupported type, too many tags,
	// mmcache.ErrBusy, ErrClosed.
	Failed uint64
	// Cache is the underlying cache's own Stats: hits, misses, entries, bytes, evictions.
	// Entries include one per tag in use, and Hits and Misses the lookups of tags that a read
	// of a tagged entry makes.
	Cache mmcache.Stats
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{TooLarge: s.tooLarge.Load(), Failed: s.failed.Load(), Cache: s.c.Stats()}
}

// Close releases the cache's memory. Close the chain first: its background goroutine may
// still copy values into the store.
func (s *Store) Close() error {
	return s.c.Close()
}
