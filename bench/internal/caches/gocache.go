package caches

import (
	"fmt"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

var gocachePeer = Peer{
	Name:   "go-cache",
	Module: "github.com/patrickmn/go-cache",
	Bound:  Unbounded,
	TTL:    true,
	Open:   openGocache,
}

type gocacheAdapter struct{ c *gocache.Cache }

func openGocache(spec Spec) (Cache, string, error) {
	exp, cleanup := gocache.NoExpiration, time.Duration(0)
	desc := "New(NoExpiration, 0): no janitor"
	if spec.TTL > 0 {
		exp, cleanup = spec.TTL, time.Second
		desc = fmt.Sprintf("New(%v, %v)", exp, cleanup)
	}
	return gocacheAdapter{gocache.New(exp, cleanup)}, desc + "; values stored as []byte", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a gocacheAdapter) Get(dst, key []byte) ([]byte, bool) {
	v, ok := a.c.Get(view(key))
	if !ok {
		return dst, false
	}
	return append(dst, v.([]byte)...), true
}

func (a gocacheAdapter) Set(key, value []byte) bool {
	a.c.Set(string(key), clone(value), gocache.DefaultExpiration)
	return true
}

func (a gocacheAdapter) Len() int { return a.c.ItemCount() }
func (a gocacheAdapter) Reset()   { a.c.Flush() }
func (a gocacheAdapter) Close()   {}
