module github.com/mmcache/mmcache/contrib/rueidis

go 1.25.0

require (
	github.com/mmcache/mmcache v0.0.0
	github.com/mmcache/mmcache/contrib/internal v0.0.0
	github.com/redis/rueidis v1.0.79
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace (
	github.com/mmcache/mmcache => ../..
	github.com/mmcache/mmcache/contrib/internal => ../internal
)
