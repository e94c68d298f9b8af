// Package mmcacheotel reports an [mmcache.Cache]'s [mmcache.Stats] as OpenTelemetry metrics.
//
// The package is named mmcacheotel rather than otel so that a program can import it next to
// go.opentelemetry.io/otel without renaming either.
//
// The metrics are asynchronous instruments with one callback: the SDK calls it when a reader
// collects, and it calls [mmcache.Cache.Stats] once, so the cache's hot path pays nothing for
// them and a collection costs about one read per shard. The cache already keeps monotonic
// counters, which is what an observable counter reports; recording every Get on a synchronous
// counter would count the same thing a second time, on the hot path.
package mmcacheotel

import (
	"context"
	"errors"
	"math"
	"sync"

	"github.com/mmcache/mmcache"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the metrics, the name of the Meter they come
// from: the import path of this package, as OpenTelemetry recommends.
const ScopeName = "github.com/mmcache/mmcache/contrib/otel"

// CacheNameKey is the attribute [WithCacheName] sets, to tell several caches apart in the
// same metrics. Exported to Prometheus it becomes the label mmcache_name.
const CacheNameKey = attribute.Key("mmcache.name")

// Option configures [Register]; see [WithMeterProvider], [WithCacheName] and [WithAttributes].
type Option func(*config)

type config struct {
	provider metric.MeterProvider
	attrs    []attribute.KeyValue
}

// WithMeterProvider sets the MeterProvider the instruments are created with. Without it,
// Register uses the global one, otel.GetMeterProvider(), as instrumentation libraries do; a
// global provider set later still receives them, since the global delegates.
func WithMeterProvider(provider metric.MeterProvider) Option {
	return func(c *config) { c.provider = provider }
}

// WithCacheName adds the attribute mmcache.name (see [CacheNameKey]) to every observation.
// Register each cache of a program with its own name: OpenTelemetry expects no two callbacks
// to observe the same instrument with the same attributes, and what it does with duplicates
// is not defined.
func WithCacheName(name string) Option {
	return WithAttributes(CacheNameKey.String(name))
}

// WithAttributes adds attributes to every observation, for what a cache name alone does not
// say (the tenant a cache serves, say). A later attribute with the same key replaces an
// earlier one.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

// counterSpecs are the cache's counters, reported as observable counters: the cache counts
// from New on and never resets them, so they are cumulative sums, as a counter's reader
// expects. The units are annotations in curly braces: counts of events, with no base unit.
var counterSpecs = []struct {
	name, unit, desc string
	value            func(*mmcache.Stats) uint64
}{
	{"mmcache.hits", "{hit}", "Lookups that found a live entry.", func(s *mmcache.Stats) uint64 { return s.Hits }},
	{"mmcache.misses", "{miss}", "Lookups that found no live entry.", func(s *mmcache.Stats) uint64 { return s.Misses }},
	{"mmcache.sets", "{set}", "Writes that stored an entry.", func(s *mmcache.Stats) uint64 { return s.Sets }},
	{"mmcache.deletes", "{delete}", "Deletes that removed a live entry.", func(s *mmcache.Stats) uint64 { return s.Deletes }},
	{"mmcache.evictions", "{eviction}", "Live entries dropped to make room.", func(s *mmcache.Stats) uint64 { return s.Evictions }},
	{"mmcache.expirations", "{expiration}", "Expired entries dropped.", func(s *mmcache.Stats) uint64 { return s.Expirations }},
	{"mmcache.decode_errors", "{error}", "Stored values that a Typed view's codec could not decode.", func(s *mmcache.Stats) uint64 { return s.DecodeErrors }},
}

// sizeSpecs are the cache's sizes, reported as observable up-down counters rather than
// gauges: summed over caches they still mean something (all the entries, all the memory), and
// an up-down counter tells a backend that it may add them up, as the semantic conventions do
// for memory usage and limits (jvm.memory.used, jvm.memory.limit).
var sizeSpecs = []struct {
	name, unit, desc string
	value            func(*mmcache.Stats) int
}{
	{"mmcache.entries", "{entry}", "Entries in the cache, expired ones not yet dropped included.", func(s *mmcache.Stats) int { return s.Entries }},
	{"mmcache.memory.live", "By", "Bytes of the keys and values of the entries in the cache.", func(s *mmcache.Stats) int { return s.LiveBytes }},
	{"mmcache.memory.used", "By", "Bytes of the mapping that hold data now: written segments and index pages.", func(s *mmcache.Stats) int { return s.UsedBytes }},
	{"mmcache.memory.reserved", "By", "Bytes of the mapping set aside for bookkeeping, written or not.", func(s *mmcache.Stats) int { return s.ReservedBytes }},
	{"mmcache.memory.limit", "By", "Size of the cache's memory mapping (Config.Capacity), the bound on everything it keeps.", func(s *mmcache.Stats) int { return s.Capacity }},
}

// Register creates the instruments for cache's Stats and registers one callback that
// observes them all from a single Stats call per collection. The Registration it returns
// stops the observations: call its Unregister when the cache is closed for good, or the
// callback keeps reporting the closed cache's counters (and entries, live and used bytes of
// 0, as Stats reports them) and keeps the cache's handle reachable.
//
// The instruments are created on the Meter named [ScopeName]; instruments of the same name
// are shared by every cache registered with the same provider, each cache's observations told
// apart by its attributes.
func Register(cache *mmcache.Cache, opts ...Option) (metric.Registration, error) {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.provider == nil {
		cfg.provider = otel.GetMeterProvider()
	}
	meter := cfg.provider.Meter(ScopeName)

	var errs []error
	counters := make([]metric.Int64ObservableCounter, len(counterSpecs))
	sizes := make([]metric.Int64ObservableUpDownCounter, len(sizeSpecs))
	observables := make([]metric.Observable, 0, len(counters)+len(sizes))
	for i, s := range counterSpecs {
		inst, err := meter.Int64ObservableCounter(s.name, metric.WithUnit(s.unit), metric.WithDescription(s.desc))
		errs = append(errs, err)
		counters[i] = inst
		observables = append(observables, inst)
	}
	for i, s := range sizeSpecs {
		inst, err := meter.Int64ObservableUpDownCounter(s.name, metric.WithUnit(s.unit), metric.WithDescription(s.desc))
		errs = append(errs, err)
		sizes[i] = inst
		observables = append(observables, inst)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// The attribute set is built once: each observation then passes it as it is, with no
	// sorting or allocation per collection.
	attrs := metric.WithAttributeSet(attribute.NewSet(cfg.attrs...))
	o := &observer{stats: cache.Stats}
	return meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		st := o.snapshot()
		for i, s := range counterSpecs {
			obs.ObserveInt64(counters[i], clampInt64(s.value(&st)), attrs)
		}
		for i, s := range sizeSpecs {
			obs.ObserveInt64(sizes[i], int64(s.value(&st)), attrs)
		}
		return nil
	}, observables...)
}

// observer reads a cache's Stats for the callback.
type observer struct {
	stats func() mmcache.Stats // the cache's Stats method; tests put a fake in its place

	// mu guards last: no counter is observed below what was observed before, so that two
	// collections that overlap, each with its own Stats, cannot report a cumulative sum that
	// goes back, which a backend would take for a reset.
	mu   sync.Mutex
	last mmcache.Stats
}

// snapshot returns the cache's Stats with each counter raised to at least the value the
// previous snapshot reported (see observer.mu).
func (o *observer) snapshot() mmcache.Stats {
	st := o.stats()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range []struct{ now, last *uint64 }{
		{&st.Hits, &o.last.Hits},
		{&st.Misses, &o.last.Misses},
		{&st.Sets, &o.last.Sets},
		{&st.Deletes, &o.last.Deletes},
		{&st.Evictions, &o.last.Evictions},
		{&st.Expirations, &o.last.Expirations},
		{&st.DecodeErrors, &o.last.DecodeErrors},
	} {
		*p.now = max(*p.now, *p.last)
		*p.last = *p.now
	}
	return st
}

// clampInt64 converts a counter to the int64 an Int64 instrument takes. A cache would need
// centuries to pass 2^63 events, but a wrapped, negative counter would be worse than a stuck one.
func clampInt64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}
