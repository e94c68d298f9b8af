module github.com/mmcache/mmcache/contrib/internal

go 1.24.0
