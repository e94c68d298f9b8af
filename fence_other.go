//go:build !amd64 || !gc

package mmcache

// storeFence orders stores on amd64 (fence_amd64.s); elsewhere reads take the shard's lock,
// whose release orders every store, so there is nothing to order.
func storeFence() {}
