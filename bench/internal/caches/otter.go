package caches

import (
	"fmt"
	"unsafe"

	"github.com/maypok86/otter/v2"
)

var otterPeer = Peer{
	Name:   "otter",
	Module: "github.com/maypok86/otter/v2",
	Bound:  Weight,
	TTL:    true,
	Open:   openOtter,
}

// otterTuned also presizes otter's table with InitialCapacity, the entries expected.
var otterTuned = tuned(otterPeer, openOtterTuned)

type otterAdapter struct{ c *otter.Cache[string, []byte] }

// openOtter bounds otter by weight, as its README shows for a size in bytes: MaximumWeight
// the budget, and the Weigher that MaximumWeight requires.
func openOtter(spec Spec) (Cache, string, error) { return newOtter(spec, 0) }

func openOtterTuned(spec Spec) (Cache, string, error) { return newOtter(spec, spec.expected()) }

func newOtter(spec Spec, initial int) (Cache, string, error) {
	opts := &otter.Options[string, []byte]{
		MaximumWeight:   uint64(spec.Budget),
		Weigher:         func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) },
		InitialCapacity: initial,
	}
	desc := fmt.Sprintf("Options{MaximumWeight: %s, Weigher: len(key)+len(value)", sizeString(spec.Budget))
	if initial > 0 {
		desc += fmt.Sprintf(", InitialCapacity: %d", initial)
	}
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

// GetWithExpiry is GetEntry; expiry is Entry.ExpiresAfter, the time left in nanoseconds
// (math.MaxInt64 without an ExpiryCalculator).
func (a otterAdapter) GetWithExpiry(dst, key []byte) ([]byte, int64, bool) {
	e, ok := a.c.GetEntry(view(key))
	if !ok {
		return dst, 0, false
	}
	return append(dst, e.Value...), int64(e.ExpiresAfter()), true
}

// SetIfAbsent is SetIfAbsent, with the key and a copy of the value that the cache may keep,
// as Set.
func (a otterAdapter) SetIfAbsent(key, value []byte) bool {
	_, stored := a.c.SetIfAbsent(string(key), clone(value))
	return stored
}

// Delete is Invalidate.
func (a otterAdapter) Delete(key []byte) bool {
	_, ok := a.c.Invalidate(string(key))
	return ok
}

// Walk ranges over All. Keys are strings; unsafe.Slice views them as bytes without a copy.
func (a otterAdapter) Walk() (n int, sum uint64) {
	for k, v := range a.c.All() {
		n++
		sum += walkSum(unsafe.Slice(unsafe.StringData(k), len(k)), v)
	}
	return n, sum
}
