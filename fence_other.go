//go:build !amd64 || !gc

package mmcache

// storeFence orders non-temporal stores on amd64 (fence_amd64.s). Elsewhere there is nothing
// to order: arm64's memmove uses no non-temporal stores, and other platforms' reads take the
// shard's lock.
func storeFence() {}
