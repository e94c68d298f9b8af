//go:build gc

package mmcache

// storeFence is SFENCE: every store before it, non-temporal ones included, becomes globally
// visible before any store after it. See copyEntryBytes.
//
//go:noescape
func storeFence()
