package caches

import (
	"fmt"
	"sync"
)

// lruPeer is the hit-ratio baseline: a textbook LRU written for these benchmarks, bounded by
// the total key+value weight like otter and ristretto.
var lruPeer = Peer{
	Name:     "LRU",
	Bound:    Weight,
	Baseline: true,
	Open:     openLRU,
}

// lruNode is one entry on the recency list.
type lruNode struct {
	key        string
	value      []byte
	prev, next *lruNode
}

// lru is a map of nodes threaded on a circular doubly linked list; head.next is the most
// recently used node and head.prev the least.
type lru struct {
	mu     sync.Mutex
	m      map[string]*lruNode
	head   lruNode
	weight int64
	limit  int64
}

func openLRU(spec Spec) (Cache, string, error) {
	c := &lru{m: make(map[string]*lruNode, spec.expected()), limit: spec.Budget}
	c.head.prev, c.head.next = &c.head, &c.head
	return c, fmt.Sprintf("LRU bounded by %s of key+value bytes", sizeString(spec.Budget)), nil
}

func (c *lru) unlink(n *lruNode) {
	n.prev.next, n.next.prev = n.next, n.prev
}

func (c *lru) pushFront(n *lruNode) {
	n.prev, n.next = &c.head, c.head.next
	c.head.next.prev = n
	c.head.next = n
}

// Get, Set, Len, Reset and Close implement Cache.
func (c *lru) Get(dst, key []byte) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[string(key)]
	if !ok {
		return dst, false
	}
	c.unlink(n)
	c.pushFront(n)
	return append(dst, n.value...), true
}

func (c *lru) Set(key, value []byte) bool {
	w := int64(len(key) + len(value))
	if w > c.limit {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.m[string(key)]; ok {
		c.weight += int64(len(value) - len(n.value))
		n.value = clone(value)
		c.unlink(n)
		c.pushFront(n)
	} else {
		n := &lruNode{key: string(key), value: clone(value)}
		c.m[n.key] = n
		c.pushFront(n)
		c.weight += w
	}
	for c.weight > c.limit {
		old := c.head.prev
		c.unlink(old)
		delete(c.m, old.key)
		c.weight -= int64(len(old.key) + len(old.value))
	}
	return true
}

func (c *lru) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *lru) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = make(map[string]*lruNode)
	c.head.prev, c.head.next = &c.head, &c.head
	c.weight = 0
}

func (c *lru) Close() {}
