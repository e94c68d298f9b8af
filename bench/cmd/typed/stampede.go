package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Yiling-J/theine-go"
	"github.com/maypok86/otter/v2"
	"github.com/mmcache/mmcache"
)

// loadFunc is a cache's get-or-load call for one request of the stampede.
type loadFunc func(ctx context.Context, key string) (Record, error)

// runStampede runs j.Rounds rounds of the stampede after one untimed round, each on a fresh
// cache: j.Callers goroutines, released together, each making j.Requests requests for keys
// picked at random among j.HotKeys keys that no cache holds at first; the loader sleeps
// j.LoadDelay.
func runStampede(j job) (res stampedeResult) {
	keys := make([]string, j.HotKeys)
	for i := range keys {
		keys[i] = "hot:" + strconv.Itoa(i)
	}
	var lat []time.Duration
	for round := range j.Rounds + 1 { // round 0 warms the process up (threads, stacks) and is not counted
		var loads atomic.Int64
		load := func(ctx context.Context, key string) (Record, error) {
			loads.Add(1)
			select {
			case <-time.After(j.LoadDelay):
			case <-ctx.Done():
				return Record{}, ctx.Err()
			}
			id, _ := strconv.Atoi(key[len("hot:"):])
			return newRecord(id), nil
		}
		get, closeCache, err := openLoading(j.Cache, load)
		if err != nil {
			res.Err = err.Error()
			return res
		}
		l, wall, errs := stampedeRound(j, keys, get, uint64(round))
		closeCache()
		if round == 0 {
			continue
		}
		lat = append(lat, l...)
		res.Loads = append(res.Loads, loads.Load())
		res.WallMs = append(res.WallMs, float64(wall.Nanoseconds())/1e6)
		res.Errors += errs
	}
	slices.Sort(lat)
	pick := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	res.LatencyNs = []float64{pick(0.50), pick(0.99), pick(1)}
	return res
}

// openLoading makes a fresh cache of the name given with load as its loader, and returns its
// get-or-load call and a function that closes it.
func openLoading(name string, load loadFunc) (loadFunc, func(), error) {
	ttlLoad := func(ctx context.Context, key string) (Record, time.Duration, error) {
		v, err := load(ctx, key)
		return v, 0, err
	}
	switch name {
	case "mmcache":
		c, err := mmcache.New(mmcache.Config{Capacity: 16 << 20})
		if err != nil {
			return nil, nil, err
		}
		t := mmcache.NewTyped[string](c, mmcache.BinaryCodec[Record, *Record]{})
		get := func(ctx context.Context, key string) (Record, error) { return t.GetOrLoad(ctx, key, ttlLoad) }
		return get, func() { _ = c.Close() }, nil
	case "otter":
		c, err := otter.New(&otter.Options[string, Record]{MaximumSize: 10_000})
		if err != nil {
			return nil, nil, err
		}
		loader := otter.LoaderFunc[string, Record](load)
		get := func(ctx context.Context, key string) (Record, error) { return c.Get(ctx, key, loader) }
		return get, func() { c.StopAllGoroutines() }, nil
	case "theine":
		c, err := theine.NewBuilder[string, Record](10_000).Loading(func(ctx context.Context, key string) (theine.Loaded[Record], error) {
			v, err := load(ctx, key)
			return theine.Loaded[Record]{Value: v, Cost: 1}, err
		}).Build()
		if err != nil {
			return nil, nil, err
		}
		return c.Get, c.Close, nil
	}
	return nil, nil, errUnknownCache(name)
}

// stampedeRound releases j.Callers goroutines at once on get and returns the latency of every
// request, the wall time from the release to the last answer, and the count of requests that
// failed.
func stampedeRound(j job, keys []string, get loadFunc, round uint64) ([]time.Duration, time.Duration, int64) {
	lat := make([]time.Duration, j.Callers*j.Requests)
	var errs atomic.Int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ctx := context.Background()
	for c := range j.Callers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			r := rand.New(rand.NewPCG(j.Seed^round, uint64(c)))
			mine := lat[c*j.Requests : (c+1)*j.Requests]
			ready.Done()
			<-start
			for i := range mine {
				key := keys[r.IntN(len(keys))]
				t := time.Now()
				if _, err := get(ctx, key); err != nil {
					errs.Add(1)
				}
				mine[i] = time.Since(t)
			}
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return lat, time.Since(t0), errs.Load()
}
