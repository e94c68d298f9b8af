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
