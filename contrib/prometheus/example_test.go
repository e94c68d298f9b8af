package mmcacheprom_test

import (
	"bufio"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/mmcache/mmcache"
	mmcacheprom "github.com/mmcache/mmcache/contrib/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A cache registered under a "cache" label, and what a scrape of /metrics shows after a few
// operations. The recorder stands in for an HTTP server; in a program,
// http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) serves the same.
func ExampleNew() {
	c, err := mmcache.New(mmcache.Config{Capacity: 64 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(mmcacheprom.New(c, mmcacheprom.WithConstLabels(prometheus.Labels{"cache": "sessions"})))

	_ = c.Set([]byte("session:1"), []byte("alice"))
	_ = c.Set([]byte("session:2"), []byte("bob"))
	c.Get(nil, []byte("session:1")) // a hit
	c.Get(nil, []byte("session:3")) // a miss
	c.Delete([]byte("session:2"))

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	// Print the samples that do not depend on the page size or the index's layout.
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "used_bytes") || strings.Contains(line, "reserved_bytes") {
			continue
		}
		fmt.Println(line)
	}
	// Output:
	// mmcache_capacity_bytes{cache="sessions"} 6.7108864e+07
	// mmcache_decode_errors_total{cache="sessions"} 0
	// mmcache_deletes_total{cache="sessions"} 1
	// mmcache_entries{cache="sessions"} 1
	// mmcache_evictions_total{cache="sessions"} 0
	// mmcache_expirations_total{cache="sessions"} 0
	// mmcache_hits_total{cache="sessions"} 1
	// mmcache_live_bytes{cache="sessions"} 14
	// mmcache_misses_total{cache="sessions"} 1
	// mmcache_sets_total{cache="sessions"} 2
}
