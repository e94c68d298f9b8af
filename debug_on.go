//go:build mmcache_debug

package mmcache

import "sync/atomic"

// Built with -tags mmcache_debug, the cache checks its invariants as it goes: a broken one
// panics at once, with the operation that broke it on the stack.
const debug = true

func broken(what string) { panic("mmcache: broken invariant: " + what) }

// injectPanic, when set to a point, makes the next mayPanic at that point panic (once).
var injectPanic atomic.Uint32

// injectedPanic is the value an injected panic carries.
type injectedPanic struct{ at panicPoint }

func mayPanic(p panicPoint) {
	if injectPanic.Load() == uint32(p) && injectPanic.CompareAndSwap(uint32(p), 0) {
		panic(injectedPanic{p})
	}
}
