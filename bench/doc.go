// Package bench holds mmcache's benchmarks against its peers. It is a module of its own so that
// the peers and the plotting libraries stay out of the library's go.mod.
//
// The Go benchmarks in this directory measure issue 2's speed target (mmcache, fastcache and
// freecache; Get and Set, single goroutine and parallel), and (api_test.go) GetWithTTL,
// SetIfAbsent, Config.OnRemoval and All beside Get, Set and the closest calls of freecache and
// otter. The full comparison, with every peer, charts and docs/benchmarks.md, is regenerated
// by ./cmd/report.
package bench
