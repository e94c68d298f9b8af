package caches

import (
	"fmt"
	"sync"
)

var rwmapPeer = Peer{
	Name:  "map+RWMutex",
	Bound: Unbounded,
	Open:  openRWMap,
}

// rwmapTuned presizes the map for the entries expected.
var rwmapTuned = tuned(rwmapPeer, openRWMapTuned)

type rwmap struct {
	mu sync.RWMutex
	m  map[string][]byte
}

func openRWMap(Spec) (Cache, string, error) {
	return &rwmap{m: make(map[string][]byte)}, "make(map[string][]byte) under a sync.RWMutex", nil
}

func openRWMapTuned(spec Spec) (Cache, string, error) {
	n := spec.expected()
	return &rwmap{m: make(map[string][]byte, n)}, fmt.Sprintf("make(map[string][]byte, %d) under a sync.RWMutex", n), nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (c *rwmap) Get(dst, key []byte) ([]byte, bool) {
	c.mu.RLock()
	v, ok := c.m[string(key)]
	c.mu.RUnlock()
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

func (c *rwmap) Set(key, value []byte) bool {
	v := clone(value)
	c.mu.Lock()
	c.m[string(key)] = v
	c.mu.Unlock()
	return true
}

func (c *rwmap) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (c *rwmap) Reset() {
	c.mu.Lock()
	c.m = make(map[string][]byte)
	c.mu.Unlock()
}

func (c *rwmap) Close() {}
