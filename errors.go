package mmcache

import "errors"

// Errors returned by the cache, wrapped with detail; test for them with [errors.Is].
var (
	// ErrClosed is returned by calls on a closed cache.
	ErrClosed = errors.New("mmcache: cache is closed")
	// ErrEntryTooLarge is returned by a Set whose key is longer than [MaxKeySize] or whose key
	// and value together exceed Config.MaxEntrySize. Nothing is stored and nothing is lost: an
	// entry already under that key stays.
	ErrEntryTooLarge = errors.New("mmcache: entry too large")
	// ErrInvalidConfig is returned by [New] for a Config it cannot honour.
	ErrInvalidConfig = errors.New("mmcache: invalid config")
	// ErrInvalidTTL is returned by a Set with a negative TTL. Nothing is stored.
	ErrInvalidTTL = errors.New("mmcache: invalid TTL")
	// ErrBusy is returned by a Set that needs room in a shard whose every segment is held by a
	// running [Cache.View] callback. It takes more concurrent callbacks than a shard has segments.
	ErrBusy = errors.New("mmcache: all memory of the shard is held by View callbacks")

	// ErrNotFound is returned by [Typed.Get] for a key with no live entry, and by
	// [Typed.GetOrLoad] for a key whose load failed with ErrNotFound while negative caching
	// remembers it ([WithNegativeCaching]). A loader may return it, or wrap it.
	ErrNotFound = errors.New("mmcache: not found")
	// ErrDecode is wrapped by the error a [Typed] read returns when its codec cannot decode a
	// stored value; [Stats] counts these in DecodeErrors.
	ErrDecode = errors.New("mmcache: cannot decode value")
	// ErrLoadPanicked is wrapped by the error [Typed.GetOrLoad] returns to every caller waiting
	// for a load that panicked; the panic's value follows in the message.
	ErrLoadPanicked = errors.New("mmcache: load panicked")
)
