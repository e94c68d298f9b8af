package caches

import (
	"fmt"
	"time"

	"github.com/coocood/freecache"
)

var freecachePeer = Peer{
	Name:      "freecache",
	Module:    "github.com/coocood/freecache",
	Bound:     Bytes,
	TTL:       true,
	MinBudget: 512 << 10,
	Open:      openFreecache,
}

type freecacheAdapter struct {
	c   *freecache.Cache
	ttl int // seconds; 0 never expires
}

func openFreecache(spec Spec) (Cache, string, error) {
	if spec.EntrySize() > int(spec.Budget/1024) {
		return nil, "", fmt.Errorf("%w: freecache refuses entries over 1/1024 of its size", ErrUnsupported)
	}
	ttl := 0
	if spec.TTL > 0 {
		ttl = max(int(spec.TTL/time.Second), 1)
	}
	c := freecache.NewCache(int(spec.Budget))
	desc := fmt.Sprintf("NewCache(%s)", sizeString(spec.Budget))
	if ttl > 0 {
		desc += fmt.Sprintf("; Set(k, v, %d)", ttl)
	}
	return &freecacheAdapter{c: c, ttl: ttl}, desc + "; GOGC left at 100 (README suggests lowering it)", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a *freecacheAdapter) Get(dst, key []byte) ([]byte, bool) {
	err := a.c.GetFn(key, func(v []byte) error {
		dst = append(dst, v...)
		return nil
	})
	return dst, err == nil
}

func (a *freecacheAdapter) Set(key, value []byte) bool { return a.c.Set(key, value, a.ttl) == nil }
func (a *freecacheAdapter) Len() int                   { return int(a.c.EntryCount()) }
func (a *freecacheAdapter) Reset()                     { a.c.Clear() }
func (a *freecacheAdapter) Close()                     {}

// GetWithExpiry is GetWithExpirationAndBuf, GetWithExpiration into a buffer (which allocates
// nothing when the buffer has room); expiry is the absolute expiry in Unix seconds, 0 for
// none, as freecache returns it: the time left would take a clock read more.
func (a *freecacheAdapter) GetWithExpiry(dst, key []byte) ([]byte, int64, bool) {
	v, expireAt, err := a.c.GetWithExpirationAndBuf(key, dst[len(dst):])
	if err != nil {
		return dst, 0, false
	}
	if len(dst) == 0 {
		return v, int64(expireAt), true
	}
	return append(dst, v...), int64(expireAt), true
}

// SetIfAbsent is GetOrSet, freecache's only store-if-absent: it stores value when key is
// absent, and otherwise returns a copy of the value present, which it allocates.
func (a *freecacheAdapter) SetIfAbsent(key, value []byte) bool {
	old, err := a.c.GetOrSet(key, value, a.ttl)
	return err == nil && old == nil
}

// Delete is Del.
func (a *freecacheAdapter) Delete(key []byte) bool { return a.c.Del(key) }

// Walk calls Next on a NewIterator until it returns nil. Each entry comes as a new *Entry
// holding new copies of key and value.
func (a *freecacheAdapter) Walk() (n int, sum uint64) {
	it := a.c.NewIterator()
	for e := it.Next(); e != nil; e = it.Next() {
		n++
		sum += walkSum(e.Key, e.Value)
	}
	return n, sum
}
