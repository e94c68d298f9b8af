package mmcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"
	"unsafe"
)

// Key is what a [Typed] cache takes as a key: a string or a byte slice, or a type based on one.
// Neither costs an allocation, whatever its length.
type Key interface{ ~string | ~[]byte }

// Typed is a view of a [Cache] that stores values of type V under keys of type K, encoded by a
// [Codec]. It adds no state per entry: entries are the cache's, and the cache's Capacity,
// eviction, TTLs and Stats apply. Its one structure on the Go heap is the set of loads in
// progress (GetOrLoad). A Typed is safe for use by any number of goroutines; several Typed
// views, of the same or different types, may share one cache if their keys do not collide.
type Typed[K Key, V any] struct {
	c       *Cache
	codec   Codec[V]
	opts    typedOptions
	header  int // bytes of framing before each value: 0, 1 or 9 (see frame)
	bufs    sync.Pool
	flights flightGroup[V]
	wall    func() int64 // the wall clock in Unix nanoseconds, for refresh-ahead; tests fake it
}

// TypedOption configures a [Typed] cache; see [WithRefreshAhead] and [WithNegativeCaching].
type TypedOption func(*typedOptions)

type typedOptions struct {
	refreshAfter time.Duration
	negativeTTL  time.Duration
}

// WithRefreshAhead makes [Typed.GetOrLoad] refresh an entry that was stored more than after
// ago: it returns the entry's value at once and starts one load in the background, which
// replaces the value when it succeeds. A load that fails leaves the value as it is, until its
// TTL runs out. Each value then carries its write time (8 bytes).
func WithRefreshAhead(after time.Duration) TypedOption {
	return func(o *typedOptions) { o.refreshAfter = after }
}

// WithNegativeCaching makes [Typed.GetOrLoad] remember, for ttl, that a load failed with an
// error wrapping [ErrNotFound]: until then GetOrLoad and [Typed.Get] return ErrNotFound for the
// key without calling load, and Has reports false. The cache holds a one-byte marker entry
// under the key meanwhile. Other load errors are never cached.
func WithNegativeCaching(ttl time.Duration) TypedOption {
	return func(o *typedOptions) { o.negativeTTL = ttl }
}

// Framing. Without options a stored value is the codec's bytes alone, so the core API reads
// the same bytes. With an option, each stored value starts with a tag byte, then with
// WithRefreshAhead the write time (Unix nanoseconds, 8 bytes little-endian), then the codec's
// bytes. A negative entry is the tag alone.
const (
	tagValue    = 0
	tagNotFound = 1

	maxPooledTypedBuf = 64 << 10
)

// errNegative is ErrNotFound from a negative entry: GetOrLoad must not load then.
var errNegative = fmt.Errorf("%w (a failed load, remembered)", ErrNotFound)

// NewTyped returns a typed view of c with the codec given. Options that add framing to values
// ([WithRefreshAhead], [WithNegativeCaching]) must be the same for every view that reads the
// same entries.
func NewTyped[K Key, V any](c *Cache, codec Codec[V], opts ...TypedOption) *Typed[K, V] {
	t := &Typed[K, V]{c: c, codec: codec, wall: func() int64 { return time.Now().UnixNano() }}
	for _, o := range opts {
		o(&t.opts)
	}
	if t.opts.refreshAfter > 0 || t.opts.negativeTTL > 0 {
		t.header = 1
	}
	if t.opts.refreshAfter > 0 {
		t.header += 8
	}
	t.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	return t
}

// keyBytes returns key's bytes without copying them. K's underlying type is string or []byte
// (Key), and the two have different sizes (a string header is two words, a slice header three),
// which tells them apart. The bytes of a string are never written: the cache only reads a key,
// and never keeps it past the call.
func keyBytes[K Key](key *K) []byte {
	if unsafe.Sizeof(*key) == unsafe.Sizeof("") {
		s := *(*string)(unsafe.Pointer(key))
		return unsafe.Slice(unsafe.StringData(s), len(s))
	}
	return *(*[]byte)(unsafe.Pointer(key))
}

// keyOf makes a K of its own from key bytes that are valid only for now: a copy.
func keyOf[K Key](b []byte) K {
	var k K
	if unsafe.Sizeof(k) == unsafe.Sizeof("") {
		s := string(b)
		return *(*K)(unsafe.Pointer(&s))
	}
	c := append([]byte{}, b...)
	return *(*K)(unsafe.Pointer(&c))
}

// keyFromString makes a K from s, which nothing writes: s itself for a string type, a copy for a
// byte slice type.
func keyFromString[K Key](s string) K {
	var k K
	if unsafe.Sizeof(k) == unsafe.Sizeof("") {
		return *(*K)(unsafe.Pointer(&s))
	}
	b := []byte(s)
	return *(*K)(unsafe.Pointer(&b))
}

func (t *Typed[K, V]) buf() *[]byte { return t.bufs.Get().(*[]byte) }

func (t *Typed[K, V]) putBuf(p *[]byte, b []byte) {
	if cap(b) <= maxPooledTypedBuf {
		*p = b[:0]
		t.bufs.Put(p)
	}
}

// Set stores v under key with the cache's DefaultTTL, as [Cache.Set] does. It returns the
// codec's error if v cannot be encoded, and the errors of Cache.Set.
func (t *Typed[K, V]) Set(key K, v V) error {
	return t.SetWithTTL(key, v, t.c.engine().lay.ttl)
}

// SetWithTTL stores v under key with the time to live given (0: never expires), as
// [Cache.SetWithTTL] does.
func (t *Typed[K, V]) SetWithTTL(key K, v V, ttl time.Duration) error {
	p := t.buf()
	b := t.frame(*p, tagValue)
	b, err := t.codec.Append(b, v)
	if err != nil {
		t.putBuf(p, b)
		return fmt.Errorf("mmcache: encoding a value: %w", err)
	}
	err = t.c.SetWithTTL(keyBytes(&key), b, ttl)
	t.putBuf(p, b)
	return err
}

// frame appends the header of a value with the tag given to dst.
func (t *Typed[K, V]) frame(dst []byte, tag byte) []byte {
	if t.header == 0 {
		return dst
	}
	dst = append(dst, tag)
	if t.opts.refreshAfter > 0 {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(t.wall()))
	}
	return dst
}

// unframe splits a stored value into the codec's bytes and the header's facts. ok is false for
// bytes too short to hold the header.
func (t *Typed[K, V]) unframe(b []byte) (payload []byte, negative bool, written int64, ok bool) {
	if t.header == 0 {
		return b, false, 0, true
	}
	if len(b) == 0 {
		return nil, false, 0, false
	}
	if b[0] == tagNotFound {
		return nil, true, 0, true
	}
	if len(b) < t.header || b[0] != tagValue {
		return nil, false, 0, false
	}
	if t.opts.refreshAfter > 0 {
		written = int64(binary.LittleEndian.Uint64(b[1:9]))
	}
	return b[t.header:], false, written, true
}

// Get returns the value stored under key, or an error wrapping [ErrNotFound] when key has no
// live entry (or [ErrClosed] once the cache is closed), or one wrapping [ErrDecode] when the
// codec cannot decode the stored bytes. It allocates nothing with a string key and a value
// whose codec decodes without allocating, such as [IntCodec]'s.
func (t *Typed[K, V]) Get(key K) (V, error) {
	v, _, err := t.get(keyBytes(&key), true)
	return v, err
}

// get reads and decodes key's value, and reports whether it is due for a refresh. A decode
// error is counted if count.
func (t *Typed[K, V]) get(key []byte, count bool) (v V, stale bool, err error) {
	p := t.buf()
	b, ok := t.c.Get(*p, key)
	if !ok {
		t.putBuf(p, b)
		if t.c.engine().closed.Load() {
			return v, false, ErrClosed
		}
		return v, false, ErrNotFound
	}
	payload, negative, written, ok := t.unframe(b)
	switch {
	case negative:
		err = errNegative
	case !ok:
		err = t.decodeError(errors.New("value shorter than its header"), count)
	default:
		if v, err = t.codec.Decode(payload); err != nil {
			err = t.decodeError(err, count)
		}
		stale = t.opts.refreshAfter > 0 && t.wall()-written >= int64(t.opts.refreshAfter)
	}
	t.putBuf(p, b)
	return v, stale, err
}

func (t *Typed[K, V]) decodeError(err error, count bool) error {
	if count {
		t.c.engine().decodeErrors.Add(1)
	}
	return fmt.Errorf("%w: %w", ErrDecode, err)
}

// Delete removes key, as [Cache.Delete] does, and reports whether it held a live entry (with
// [WithNegativeCaching], a remembered failed load counts as one).
func (t *Typed[K, V]) Delete(key K) bool { return t.c.Delete(keyBytes(&key)) }

// Has reports whether key has a live entry (not a negative one).
func (t *Typed[K, V]) Has(key K) bool {
	if t.header == 0 {
		return t.c.Has(keyBytes(&key))
	}
	tag, ok := t.c.firstByte(keyBytes(&key))
	return ok && tag == tagValue
}

// All returns an iterator over the cache's entries, decoded, with the consistency of
// [Cache.All]: each key and value is a copy of its own. Entries the codec cannot decode are
// skipped, and counted in [Stats] as DecodeErrors; negative entries are skipped.
func (t *Typed[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, b := range t.c.All() {
			payload, negative, _, ok := t.unframe(b)
			if negative {
				continue
			}
			var v V
			var err error
			if ok {
				v, err = t.codec.Decode(payload)
			}
			if !ok || err != nil {
				t.c.engine().decodeErrors.Add(1)
				continue
			}
			if !yield(keyOf[K](k), v) {
				return
			}
		}
	}
}

// GetOrLoad returns the value stored under key or, when there is none, calls load once for
// all the callers that ask for key at the same time, stores what it returns with the TTL it
// returns (0: never expires), and hands it to every one of them.
//
// load runs on a goroutine of its own, with a context that carries the values of the first
// caller's ctx but is cancelled only once every caller waiting for it has given up. A caller
// whose ctx is done returns ctx.Err() at once, and leaves the load to the others. An error
// from load goes to every caller waiting for it and is not stored, unless it wraps
// [ErrNotFound] and [WithNegativeCaching] is set. A load that panics ends with an error
// wrapping [ErrLoadPanicked] for every caller. A loaded value the cache refuses (too large, a
// negative TTL) is returned all the same, with the cache's error. A stored value that cannot be
// decoded is counted (Stats.DecodeErrors) and loaded again.
func (t *Typed[K, V]) GetOrLoad(ctx context.Context, key K, load func(ctx context.Context, key K) (V, time.Duration, error)) (V, error) {
	kb := keyBytes(&key)
	v, stale, err := t.get(kb, true)
	switch {
	case err == nil:
		if stale {
			t.refresh(ctx, kb, load)
		}
		return v, nil
	case err == errNegative, err == ErrClosed:
		return v, err
	}
	name := string(kb) // the flight's key, and a copy of the key for the load, which may outlive the call
	return t.flights.do(ctx, name, func(lctx context.Context) (V, error) {
		return t.loadAndStore(lctx, name, load, false)
	})
}

// refresh starts a background load for key, unless one is under way.
func (t *Typed[K, V]) refresh(ctx context.Context, key []byte, load func(ctx context.Context, key K) (V, time.Duration, error)) {
	name := string(key)
	t.flights.start(ctx, name, func(lctx context.Context) (V, error) {
		return t.loadAndStore(lctx, name, load, true)
	})
}

// loadAndStore runs a flight: it reads the cache again (a flight that ended just before this
// one began has stored the value), unless it refreshes, then calls load and stores the result.
func (t *Typed[K, V]) loadAndStore(ctx context.Context, name string, load func(ctx context.Context, key K) (V, time.Duration, error), refresh bool) (V, error) {
	key := keyFromString[K](name)
	kb := keyBytes(&key)
	if !refresh {
		if v, _, err := t.get(kb, false); err == nil || err == errNegative { // counted once, by the caller
			return v, err
		}
	}
	v, ttl, err := load(ctx, key)
	if err != nil {
		// A refresh that fails leaves the value as it is, even when the key is gone: the value
		// stays until its TTL, as WithRefreshAhead says.
		if !refresh && t.opts.negativeTTL > 0 && errors.Is(err, ErrNotFound) {
			_ = t.c.SetWithTTL(kb, []byte{tagNotFound}, t.opts.negativeTTL)
		}
		return v, err
	}
	if err := t.SetWithTTL(key, v, ttl); err != nil {
		return v, err
	}
	return v, nil
}
