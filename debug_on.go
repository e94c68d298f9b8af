//go:build mmcache_debug

package mmcache

// Built with -tags mmcache_debug, the cache checks its invariants as it goes: a broken one
// panics at once, with the operation that broke it on the stack.
const debug = true

func broken(what string) { panic("mmcache: broken invariant: " + what) }
