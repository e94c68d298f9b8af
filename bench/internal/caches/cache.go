// Package caches wraps mmcache and each of its peers behind one small interface, so that every
// workload runs the same code against each of them.
package caches

import (
	"fmt"
	"strings"
	"time"
)

// Cache is the common face of every cache under test. Implementations are safe for concurrent
// use when the wrapped cache is.
type Cache interface {
	// Get appends the value stored under key to dst and reports whether it was found.
	Get(dst, key []byte) ([]byte, bool)
	// Set stores value under key (with the Spec's TTL, if any) and reports whether the cache
	// accepted it. The cache copies what it keeps; the caller may reuse both slices.
	Set(key, value []byte) bool
	// Len returns the number of entries the cache reports, or -1 when it cannot tell.
	Len() int
	// Reset drops every entry, the way the cache's own Reset or Clear does.
	Reset()
	// Close releases the cache. Some peers have nothing to release.
	Close()
}

// Syncer is implemented by caches whose writes are applied asynchronously; Sync waits until
// the writes made so far are visible to Get.
type Syncer interface {
	Sync()
}

// Bound says what a cache's size limit counts.
type Bound int

const (
	// Bytes: the cache takes a byte budget for everything it stores (its own overhead included,
	// by its own definition).
	Bytes Bound = iota
	// Weight: the cache bounds the sum of a weight per entry; we use len(key)+len(value).
	Weight
	// Unbounded: the cache has no size limit at all.
	Unbounded
)

// String names the bound for the configuration table.
func (b Bound) String() string {
	switch b {
	case Bytes:
		return "bytes"
	case Weight:
		return "weight (key+value bytes)"
	default:
		return "none"
	}
}

// Spec is what a workload asks of a cache.
type Spec struct {
	// Budget is the size limit in bytes: the byte budget of a Bytes cache, the maximum total
	// key+value weight of a Weight cache; ignored by an Unbounded one.
	Budget int64
	// Entries is the expected number of entries, used by peers that presize their tables.
	Entries int
	// KeySize and ValueSize are the typical key and value lengths.
	KeySize, ValueSize int
	// TTL, when positive, is the time to live of every entry Set stores.
	TTL time.Duration
}

// EntrySize is KeySize+ValueSize.
func (s Spec) EntrySize() int { return s.KeySize + s.ValueSize }

// expected returns Entries, or an estimate from the budget when it is 0.
func (s Spec) expected() int {
	if s.Entries > 0 {
		return s.Entries
	}
	if s.EntrySize() > 0 {
		return max(int(s.Budget/int64(s.EntrySize())), 1)
	}
	return 1024
}

// Peer describes one cache implementation in one configuration.
type Peer struct {
	// Name is the short name used in tables and on the command line: the cache's own name for
	// its defaults, with TunedSuffix for its tuned configuration.
	Name string
	// Tuned marks a configuration fitted to the workload. Every cache has one configuration on
	// its defaults, set up as its README shows a user: the size limit, and what the cache
	// requires to be set, nothing chosen from the workload. A cache with settings that fit it to
	// the workload (a table presized for the expected entries, say) has a tuned one beside it.
	Tuned bool
	// Module is the Go module the cache comes from ("" for the standard library).
	Module string
	// Bound says what Spec.Budget limits.
	Bound Bound
	// TTL reports whether the cache supports a per-entry (or per-cache) time to live.
	TTL bool
	// Baseline marks a reference implementation written for these benchmarks, not a peer.
	Baseline bool
	// MinBudget is the smallest budget the cache honours (0: none); below it the cache would
	// silently use more, so workloads skip it.
	MinBudget int64
	// Open creates a cache for spec and describes the configuration it used.
	Open func(spec Spec) (Cache, string, error)
}

// TunedSuffix ends the name of a tuned configuration: "mmcache (tuned)".
const TunedSuffix = " (tuned)"

// Cache returns the name of the cache p configures, without TunedSuffix.
func (p Peer) Cache() string { return strings.TrimSuffix(p.Name, TunedSuffix) }

// Setup says which configuration p is: "defaults" or "tuned".
func (p Peer) Setup() string {
	if p.Tuned {
		return "tuned"
	}
	return "defaults"
}

// tuned returns the tuned configuration of the cache whose defaults p describes.
func tuned(p Peer, open func(Spec) (Cache, string, error)) Peer {
	p.Name += TunedSuffix
	p.Tuned = true
	p.Open = open
	return p
}

// ErrUnsupported is returned by Open when a peer cannot honour a Spec (for example a TTL).
var ErrUnsupported = fmt.Errorf("not supported by this cache")

// ErrSameAsDefaults is returned by a tuned configuration's Open when, for this Spec, it would
// set exactly what the defaults set: measuring it again would only repeat the defaults' numbers.
var ErrSameAsDefaults = fmt.Errorf("the tuned configuration is the defaults for this workload")

// All returns every configuration in report order: mmcache first, then the byte-bounded
// off-heap caches, the entry-bounded ones, and the unbounded maps; each cache on its defaults,
// followed by its tuned configuration where it has one.
func All() []Peer {
	return []Peer{
		mmcachePeer, mmcacheTuned, freecachePeer, fastcachePeer, bigcachePeer, bigcacheTuned,
		ristrettoPeer, ristrettoTuned, otterPeer, otterTuned, gocachePeer, rwmapPeer, rwmapTuned, syncmapPeer,
	}
}

// Defaults returns the configurations of All on their defaults.
func Defaults() []Peer {
	var out []Peer
	for _, p := range All() {
		if !p.Tuned {
			out = append(out, p)
		}
	}
	return out
}

// WithBaseline returns All followed by the LRU baseline.
func WithBaseline() []Peer { return append(All(), lruPeer) }

// ByName finds a peer (the baseline included) by name.
func ByName(name string) (Peer, bool) {
	for _, p := range WithBaseline() {
		if p.Name == name {
			return p, true
		}
	}
	return Peer{}, false
}

// Names returns the names of peers.
func Names(peers []Peer) []string {
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.Name
	}
	return out
}

const mib = 1 << 20

// sizeString formats a byte count for configuration strings.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
