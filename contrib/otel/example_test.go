package mmcacheotel_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mmcache/mmcache"
	mmcacheotel "github.com/mmcache/mmcache/contrib/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// A cache registered under a name, and what a collection shows after a few operations. The
// manual reader stands in for an exporter; in a program, sdkmetric.NewPeriodicReader over an
// OTLP exporter, or the Prometheus exporter, collects the same metrics.
func ExampleRegister() {
	c, err := mmcache.New(mmcache.Config{Capacity: 64 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	reg, err := mmcacheotel.Register(c, mmcacheotel.WithMeterProvider(provider), mmcacheotel.WithCacheName("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister() // before c.Close, deferred after it: the callback stops first

	_ = c.Set([]byte("session:1"), []byte("alice"))
	_ = c.Set([]byte("session:2"), []byte("bob"))
	c.Get(nil, []byte("session:1")) // a hit
	c.Get(nil, []byte("session:3")) // a miss
	c.Delete([]byte("session:2"))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch m.Name {
		case "mmcache.memory.used", "mmcache.memory.reserved": // depend on the page size and the index
			continue
		}
		p := m.Data.(metricdata.Sum[int64]).DataPoints[0]
		name, _ := p.Attributes.Value(mmcacheotel.CacheNameKey)
		fmt.Printf("%s{%s=%s} %d %s\n", m.Name, mmcacheotel.CacheNameKey, name.AsString(), p.Value, m.Unit)
	}
	// Output:
	// mmcache.hits{mmcache.name=sessions} 1 {hit}
	// mmcache.misses{mmcache.name=sessions} 1 {miss}
	// mmcache.sets{mmcache.name=sessions} 2 {set}
	// mmcache.deletes{mmcache.name=sessions} 1 {delete}
	// mmcache.evictions{mmcache.name=sessions} 0 {eviction}
	// mmcache.expirations{mmcache.name=sessions} 0 {expiration}
	// mmcache.decode_errors{mmcache.name=sessions} 0 {error}
	// mmcache.entries{mmcache.name=sessions} 1 {entry}
	// mmcache.memory.live{mmcache.name=sessions} 14 By
	// mmcache.memory.limit{mmcache.name=sessions} 67108864 By
}
