package main

import (
	"fmt"
	"strings"

	"github.com/Yiling-J/theine-go"
	"github.com/maypok86/otter/v2"
	"github.com/mmcache/mmcache"
)

// store is one cache seen through typed Get and Set of string keys, the same calls for every
// cache.
type store[V any] interface {
	// preload stores v under key during the preload: a heap cache is handed a key string of its
	// own, as an application that built the key for the call would hand it.
	preload(key string, v V)
	get(key string) (V, bool)
	set(key string, v V)
	// settle finishes the cache's pending work (buffered writes, maintenance).
	settle()
	len() int
	// evictions is the count of entries dropped to make room, where the cache reports it, or -1.
	evictions() int64
	close()
}

// mmStore is mmcache's Typed view over a cache of its own.
type mmStore[V any] struct {
	c *mmcache.Cache
	t *mmcache.Typed[string, V]
}

// openMmcache makes an mmcache of capacity bytes on its defaults and a Typed view with codec.
func openMmcache[V any](capacity int, codec mmcache.Codec[V]) (*mmStore[V], string, error) {
	c, err := mmcache.New(mmcache.Config{Capacity: capacity})
	if err != nil {
		return nil, "", err
	}
	return &mmStore[V]{c: c, t: mmcache.NewTyped[string](c, codec)}, fmt.Sprintf("Config{Capacity: %d MiB}", capacity>>20), nil
}

// preload, get, set, settle, len, evictions and close implement store. preload passes the key
// as it is: the cache copies it into its mapping.
func (s *mmStore[V]) preload(key string, v V) { s.set(key, v) }

func (s *mmStore[V]) get(key string) (V, bool) {
	v, err := s.t.Get(key)
	return v, err == nil
}

func (s *mmStore[V]) set(key string, v V) {
	if err := s.t.Set(key, v); err != nil {
		panic(err)
	}
}

func (s *mmStore[V]) settle()          {}
func (s *mmStore[V]) len() int         { return s.c.Len() }
func (s *mmStore[V]) evictions() int64 { return int64(s.c.Stats().Evictions) }
func (s *mmStore[V]) close()           { _ = s.c.Close() }

// otterStore is otter v2 holding V values as they are.
type otterStore[V any] struct{ c *otter.Cache[string, V] }

// openOtter makes an otter cache bounded by entry count.
func openOtter[V any](maxSize int) (*otterStore[V], string, error) {
	c, err := otter.New(&otter.Options[string, V]{MaximumSize: maxSize})
	if err != nil {
		return nil, "", err
	}
	return &otterStore[V]{c}, fmt.Sprintf("Options{MaximumSize: %d}", maxSize), nil
}

// preload, get, set, settle, len, evictions and close implement store; otter counts no
// evictions unless it records stats, so the caller checks len instead.
func (s *otterStore[V]) preload(key string, v V)  { s.c.Set(strings.Clone(key), v) }
func (s *otterStore[V]) get(key string) (V, bool) { return s.c.GetIfPresent(key) }
func (s *otterStore[V]) set(key string, v V)      { s.c.Set(key, v) }
func (s *otterStore[V]) settle()                  { s.c.CleanUp() }
func (s *otterStore[V]) len() int                 { return s.c.EstimatedSize() }
func (s *otterStore[V]) evictions() int64         { return -1 }
func (s *otterStore[V]) close()                   { s.c.StopAllGoroutines() }

// theineStore is theine holding V values as they are, each of cost 1.
type theineStore[V any] struct{ c *theine.Cache[string, V] }

// openTheine makes a theine cache of maxSize entries.
func openTheine[V any](maxSize int) (*theineStore[V], string, error) {
	c, err := theine.NewBuilder[string, V](int64(maxSize)).Build()
	if err != nil {
		return nil, "", err
	}
	return &theineStore[V]{c}, fmt.Sprintf("NewBuilder(%d).Build()", maxSize), nil
}

// preload, get, set, settle, len, evictions and close implement store; settle waits for
// theine's write buffer, evictions are checked through len.
func (s *theineStore[V]) preload(key string, v V)  { s.c.Set(strings.Clone(key), v, 1) }
func (s *theineStore[V]) get(key string) (V, bool) { return s.c.Get(key) }
func (s *theineStore[V]) set(key string, v V)      { s.c.Set(key, v, 1) }
func (s *theineStore[V]) settle()                  { s.c.Wait() }
func (s *theineStore[V]) len() int                 { return s.c.Len() }
func (s *theineStore[V]) evictions() int64         { return -1 }
func (s *theineStore[V]) close()                   { s.c.Close() }
