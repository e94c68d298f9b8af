module github.com/mmcache/mmcache

go 1.24.0

require (
	github.com/cespare/xxhash/v2 v2.3.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/sys v0.40.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
