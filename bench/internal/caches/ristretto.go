package caches

import (
	"fmt"

	"github.com/dgraph-io/ristretto/v2"
)

var ristrettoPeer = Peer{
	Name:   "ristretto",
	Module: "github.com/dgraph-io/ristretto/v2",
	Bound:  Weight,
	TTL:    true,
	Open:   openRistretto,
}

// ristrettoTuned sets IgnoreInternalCost, so that the bound counts key and value bytes only,
// as it does for the other weight-bounded caches.
var ristrettoTuned = tuned(ristrettoPeer, openRistrettoTuned)

type ristrettoAdapter struct {
	c    *ristretto.Cache[string, []byte]
	spec Spec
}

// openRistretto sets the three fields ristretto requires, as its README does: NumCounters at
// ten times the entries expected when full (the README's advice), MaxCost the budget, and
// BufferItems 64. Internal cost is left on: each entry also costs ristretto's own item size.
func openRistretto(spec Spec) (Cache, string, error) { return newRistretto(spec, false) }

func openRistrettoTuned(spec Spec) (Cache, string, error) { return newRistretto(spec, true) }

func newRistretto(spec Spec, ignoreInternal bool) (Cache, string, error) {
	counters := int64(10 * spec.expected()) // README: 10x the number of items when full
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters:        counters,
		MaxCost:            spec.Budget,
		BufferItems:        64,
		IgnoreInternalCost: ignoreInternal,
	})
	if err != nil {
		return nil, "", err
	}
	desc := fmt.Sprintf("Config{NumCounters: %d, MaxCost: %s, BufferItems: 64", counters, sizeString(spec.Budget))
	if ignoreInternal {
		desc += ", IgnoreInternalCost: true"
	}
	desc += "}; cost = len(key)+len(value)"
	if !ignoreInternal {
		desc += " plus ristretto's internal cost per item"
	}
	if spec.TTL > 0 {
		desc += fmt.Sprintf("; SetWithTTL(%v)", spec.TTL)
	}
	return &ristrettoAdapter{c: c, spec: spec}, desc, nil
}

// Get, Set, Len, Reset and Close implement Cache.
func (a *ristrettoAdapter) Get(dst, key []byte) ([]byte, bool) {
	v, ok := a.c.Get(view(key))
	if !ok {
		return dst, false
	}
	return append(dst, v...), true
}

// Set hands ristretto a view of key: ristretto keeps only the key's hashes.
func (a *ristrettoAdapter) Set(key, value []byte) bool {
	cost := int64(len(key) + len(value))
	if a.spec.TTL > 0 {
		return a.c.SetWithTTL(view(key), clone(value), cost, a.spec.TTL)
	}
	return a.c.Set(view(key), clone(value), cost)
}

// Len is not tracked without ristretto's metrics, which cost throughput.
func (a *ristrettoAdapter) Len() int { return -1 }
func (a *ristrettoAdapter) Reset()   { a.c.Clear() }
func (a *ristrettoAdapter) Close()   { a.c.Close() }

// Sync waits for ristretto's write buffers to drain.
func (a *ristrettoAdapter) Sync() { a.c.Wait() }
