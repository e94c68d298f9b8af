//go:build !mmcache_debug

package mmcache

// debug reports whether the library was built with the mmcache_debug tag, under which it
// checks its invariants after every operation (see debug_on.go).
const debug = false

// broken reports a broken internal invariant. Release builds carry on, treating the entry at
// hand as gone: a cache may lose an entry, but must not crash its process.
func broken(string) {}

// mayPanic is a point where debug builds can inject a panic (panicpoints.go); here, nothing.
func mayPanic(panicPoint) {}
