module github.com/mmcache/mmcache/examples/cluster

go 1.24.0

require (
	github.com/groupcache/groupcache-go/v3 v3.5.0
	github.com/mmcache/mmcache/contrib/groupcache v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/felixge/httpsnoop v1.0.4 // indirect
	github.com/go-logr/logr v1.4.3 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/mmcache/mmcache v0.0.0 // indirect
	github.com/segmentio/fasthash v1.0.3 // indirect
	go.opentelemetry.io/auto/sdk v1.1.0 // indirect
	go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.63.0 // indirect
	go.opentelemetry.io/otel v1.38.0 // indirect
	go.opentelemetry.io/otel/metric v1.38.0 // indirect
	go.opentelemetry.io/otel/trace v1.38.0 // indirect
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.40.0 // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)

replace (
	github.com/mmcache/mmcache => ../..
	github.com/mmcache/mmcache/contrib/groupcache => ../../contrib/groupcache
)
