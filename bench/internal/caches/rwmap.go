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

type rwmap struct {
	mu sync.RWMutex
	m  map[string][]byte
	n  int
}

func openRWMap(spec Spec) (Cache, string, error) {
	n := spec.expected()
	return &rwmap{m: make(map[string][]byte, n), n: n}, fmt.Sprintf("make(map[string][]byte, %d) under a sync.RWMutex", n), nil
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
