package caches

import "sync"

var syncmapPeer = Peer{
	Name:  "sync.Map",
	Bound: Unbounded,
	Open:  openSyncMap,
}

type syncmap struct{ m sync.Map }

func openSyncMap(Spec) (Cache, string, error) {
	return &syncmap{}, "sync.Map with string keys and []byte values", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (c *syncmap) Get(dst, key []byte) ([]byte, bool) {
	v, ok := c.m.Load(view(key))
	if !ok {
		return dst, false
	}
	return append(dst, v.([]byte)...), true
}

func (c *syncmap) Set(key, value []byte) bool {
	c.m.Store(string(key), clone(value))
	return true
}

func (c *syncmap) Len() int {
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	return n
}

func (c *syncmap) Reset() { c.m.Clear() }
func (c *syncmap) Close() {}
