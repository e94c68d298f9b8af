// Package mmcacheprom exports an [mmcache.Cache]'s [mmcache.Stats] as Prometheus metrics.
//
// The package is named mmcacheprom rather than prometheus so that a program can import it next
// to github.com/prometheus/client_golang/prometheus without renaming either.
//
// A [Collector] reads the cache when Prometheus scrapes, not when the cache is used: the cache
// keeps its own counters, and copying them into client_golang's on every Get would cost the
// hot path for nothing. Each scrape calls [mmcache.Cache.Stats] once, which takes every
// shard's read lock in turn, so a scrape costs about as much as one read per shard.
package mmcacheprom

import (
	"sync"

	"github.com/mmcache/mmcache"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNamespace is the namespace of every metric unless [WithNamespace] sets another:
// mmcache_hits_total, mmcache_live_bytes, and so on.
const DefaultNamespace = "mmcache"

// Option configures a [Collector]; see [WithNamespace], [WithSubsystem] and [WithConstLabels].
type Option func(*config)

type config struct {
	namespace, subsystem string
	constLabels          prometheus.Labels
}

// WithNamespace replaces [DefaultNamespace] as the first part of every metric name, for a
// program that prefixes all its metrics with its own name. An empty namespace leaves bare
// names such as hits_total, which other collectors may well use too.
func WithNamespace(namespace string) Option {
	return func(c *config) { c.namespace = namespace }
}

// WithSubsystem puts a part between the namespace and the metric's own name, as in
// mmcache_sessions_hits_total. A const label is usually the better way to tell caches apart,
// since queries can then aggregate over it; a subsystem suits caches that have nothing in
// common.
func WithSubsystem(subsystem string) Option {
	return func(c *config) { c.subsystem = subsystem }
}

// WithConstLabels adds labels with fixed values to every metric. Several caches can share
// one registry only if their labels differ, as with prometheus.Labels{"cache": "sessions"}
// on one and {"cache": "users"} on another: the registry refuses a second collector whose
// metrics are the same. The map is copied.
func WithConstLabels(labels prometheus.Labels) Option {
	return func(c *config) {
		if c.constLabels == nil {
			c.constLabels = prometheus.Labels{}
		}
		for k, v := range labels {
			c.constLabels[k] = v
		}
	}
}

// metric is one of the twelve series: its description, its type, and how it reads a Stats.
type metric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*mmcache.Stats) float64
}

// specs lists the metrics in the order Describe and Collect send them. The counters come from
// Stats' uint64 fields, the gauges from its int fields; the names follow the Prometheus
// conventions: base units (bytes), _total on counters, the unit last.
var specs = []struct {
	name, help string
	typ        prometheus.ValueType
	value      func(*mmcache.Stats) float64
}{
	{"hits_total", "Lookups that found a live entry.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.Hits) }},
	{"misses_total", "Lookups that found no live entry.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.Misses) }},
	{"sets_total", "Writes that stored an entry.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.Sets) }},
	{"deletes_total", "Deletes that removed a live entry.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.Deletes) }},
	{"evictions_total", "Live entries dropped to make room.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.Evictions) }},
	{"expirations_total", "Expired entries dropped.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.Expirations) }},
	{"decode_errors_total", "Stored values that a Typed view's codec could not decode.", prometheus.CounterValue,
		func(s *mmcache.Stats) float64 { return float64(s.DecodeErrors) }},
	{"entries", "Entries in the cache, expired ones not yet dropped included.", prometheus.GaugeValue,
		func(s *mmcache.Stats) float64 { return float64(s.Entries) }},
	{"live_bytes", "Bytes of the keys and values of the entries in the cache.", prometheus.GaugeValue,
		func(s *mmcache.Stats) float64 { return float64(s.LiveBytes) }},
	{"used_bytes", "Bytes of the mapping that hold data now: written segments and index pages.", prometheus.GaugeValue,
		func(s *mmcache.Stats) float64 { return float64(s.UsedBytes) }},
	{"reserved_bytes", "Bytes of the mapping set aside for bookkeeping, written or not.", prometheus.GaugeValue,
		func(s *mmcache.Stats) float64 { return float64(s.ReservedBytes) }},
	{"capacity_bytes", "Size of the cache's memory mapping, the bound on everything it keeps.", prometheus.GaugeValue,
		func(s *mmcache.Stats) float64 { return float64(s.Capacity) }},
}

// Collector is a prometheus.Collector for one cache. Register it with a registry, once; it is
// safe for concurrent scrapes.
type Collector struct {
	stats   func() mmcache.Stats // the cache's Stats method; tests put a fake in its place
	metrics []metric

	// mu guards last: the Collector reports no counter below what it reported before, so that
	// two scrapes that overlap, each with its own Stats, cannot deliver a counter that goes
	// back, which Prometheus would take for a reset.
	mu   sync.Mutex
	last mmcache.Stats
}

// New returns a Collector for cache. It reads nothing until the first scrape, and keeps
// working after the cache is closed: the counters keep their last values and entries,
// live_bytes and used_bytes read 0, as [mmcache.Cache.Stats] reports them. A registered
// Collector keeps the cache reachable, and so mapped until Close: unregister it with the
// registry's Unregister when the cache goes away.
func New(cache *mmcache.Cache, opts ...Option) *Collector {
	cfg := config{namespace: DefaultNamespace}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Collector{stats: cache.Stats, metrics: make([]metric, len(specs))}
	for i, s := range specs {
		c.metrics[i] = metric{
			desc:  prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, cfg.subsystem, s.name), s.help, nil, cfg.constLabels),
			typ:   s.typ,
			value: s.value,
		}
	}
	return c
}

// Describe sends the descriptions of the twelve metrics, so that the registry can refuse a
// collector whose metrics clash with another's before any scrape.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect calls Stats once and sends every metric from that one snapshot, so that the values
// of a scrape agree with each other (hits and misses from the same moment, say).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.snapshot()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&st))
	}
}

// snapshot returns the cache's Stats with each counter raised to at least the value the
// previous snapshot reported (see Collector.mu).
func (c *Collector) snapshot() mmcache.Stats {
	st := c.stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range []struct{ now, last *uint64 }{
		{&st.Hits, &c.last.Hits},
		{&st.Misses, &c.last.Misses},
		{&st.Sets, &c.last.Sets},
		{&st.Deletes, &c.last.Deletes},
		{&st.Evictions, &c.last.Evictions},
		{&st.Expirations, &c.last.Expirations},
		{&st.DecodeErrors, &c.last.DecodeErrors},
	} {
		*p.now = max(*p.now, *p.last)
		*p.last = *p.now
	}
	return st
}
