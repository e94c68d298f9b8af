package caches

import (
	"fmt"

	"github.com/maypok86/otter/v2"
)

var otterPeer = Peer{
	Name:   "otter",
	Module: "github.com/maypok86/otter/v2",
	Bound:  Weight,
	TTL:    true,
	Open:   openOtter,
}

type otterAdapter struct{ c *otter.Cache[string, []byte] }

func openOtter(spec Spec) (Cache, string, error) {
	opts := &otter.Options[string, []byte]{
		MaximumWeight:   uint64(spec.Budget),
		Weigher:         func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) },
		InitialCapacity: spec.expected(),
	}
	desc := fmt.Sprintf("Options{MaximumWeight: %s, Weigher: len(key)+len(value), InitialCapacity: %d", sizeString(spec.Budget), opts.InitialCapacity)
	if spec.TTL > 0 {
		opts.ExpiryCalculator = otter.ExpiryWriting[string, []byte](spec.TTL)
		desc += fmt.Sprintf(", ExpiryCalculator: ExpiryWriting(%v)", spec.TTL)
	}
	c, err := otter.New(opts)
	if err != nil {
		return nil, "", err
	}
	return otterAdapter{c}, desc + "}", nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a otterAdapter) Get(dst, key []byte) ([]byte, bool) {
	v, ok := a.c.GetIfPresent(view(key))
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

func (a otterAdapter) Set(key, value []byte) bool {
	a.c.Set(string(key), clone(value))
	return true
}

func (a otterAdapter) Len() int { return a.c.EstimatedSize() }
func (a otterAdapter) Reset()   { a.c.InvalidateAll() }
func (a otterAdapter) Close()   { a.c.StopAllGoroutines() }

// Sync runs otter's pending maintenance.
func (a otterAdapter) Sync() { a.c.CleanUp() }
