package measure

import (
	"fmt"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// HitParams replays one workload against one cache at several entry capacities.
type HitParams struct {
	Cache    string
	Workload string
	TraceDir string
	Limit    int   // keys of the stream to replay; 0 for all
	Sizes    []int // capacities in entries; the workload's own when empty
}

// HitPoint is the outcome at one capacity.
type HitPoint struct {
	Size   int    // asked capacity in entries
	Budget int64  // budget given to the cache
	Held   int    // entries the cache held when filled at that budget (-1: not measured)
	Hits   int    // hits over the replay
	Skip   string // why the cache could not run at this size
	Config string
}

// HitResult is a cache's hit-ratio curve on a workload.
type HitResult struct {
	Accesses int
	Unique   int
	Points   []HitPoint
}

// loadHitKeys returns the named hit-ratio workload and its access sequence.
func loadHitKeys(name, traceDir string, limit int) (HitWorkload, []uint64, error) {
	w, ok := HitWorkloadByName(name)
	if !ok {
		return w, nil, fmt.Errorf("unknown workload %q", name)
	}
	keys, err := w.LoadKeys(traceDir, limit)
	return w, keys, err
}

// calibrationBase offsets the ids used to calibrate a budget away from any workload key.
const calibrationBase = 1 << 62

// RunHitRatio replays the workload at each capacity. Weight-bounded caches get a budget of
// size × entry size; byte-bounded ones get the budget that, measured, holds size entries.
func RunHitRatio(p HitParams) (HitResult, error) {
	var res HitResult
	w, keys, err := loadHitKeys(p.Workload, p.TraceDir, p.Limit)
	if err != nil {
		return res, err
	}
	res.Accesses, res.Unique = len(keys), workload.Unique(keys)
	peer, ok := caches.ByName(p.Cache)
	if !ok {
		return res, fmt.Errorf("unknown cache %q", p.Cache)
	}
	if peer.Bound == caches.Unbounded {
		return res, &Skip{p.Cache + " has no size bound"}
	}
	sizes := p.Sizes
	if len(sizes) == 0 {
		sizes = w.Sizes
	}
	for _, size := range sizes {
		pt := HitPoint{Size: size, Held: -1}
		spec := caches.Spec{Budget: int64(size * w.EntrySize), Entries: size, KeySize: workload.KeySize, ValueSize: w.EntrySize - workload.KeySize}
		if peer.Bound == caches.Bytes {
			spec.Budget, pt.Held, err = calibrate(p.Cache, spec)
		}
		if err == nil {
			var c caches.Cache
			if c, _, pt.Config, err = open(p.Cache, spec); err == nil {
				pt.Hits = replay(c, keys, spec.ValueSize)
				c.Close()
			}
		}
		pt.Budget = spec.Budget
		if s, ok := AsSkip(err); ok {
			pt.Skip, err = s.Reason, nil
		}
		if err != nil {
			return res, err
		}
		res.Points = append(res.Points, pt)
	}
	return res, nil
}

// Calibrate returns the byte budget at which the named cache holds spec.Entries entries of
// spec's key and value sizes, found as the hit-ratio measurements find it (see calibrate), and
// the count of entries it measured at that budget.
func Calibrate(name string, spec caches.Spec) (int64, int, error) { return calibrate(name, spec) }

// calibrate finds the byte budget at which the cache holds spec.Entries entries: fill with
// three times as many distinct keys, count how many of them Get still finds, scale the budget,
// and repeat until the count is within 1% (at most five fills). It returns the budget and the
// count it measured.
func calibrate(name string, spec caches.Spec) (int64, int, error) {
	want := spec.Entries
	b := int64(want*spec.EntrySize()) * 3 / 2
	held := 0
	for range 5 {
		s := spec
		s.Budget = b
		c, _, _, err := open(name, s)
		if err != nil {
			return b, 0, err
		}
		fill(c, calibrationBase, 3*want, spec.ValueSize)
		// Count by lookup: some caches' own counts include entries they can no longer return.
		held = countPresent(c, calibrationBase, calibrationBase+uint64(3*want))
		c.Close()
		if held <= 0 {
			// bigcache on its defaults splits its budget over 1024 shards, which a small
			// budget leaves too small for a single entry.
			return b, 0, &Skip{fmt.Sprintf("%s held no entry of %d B when filled at a budget of %d KiB", name, spec.EntrySize(), b>>10)}
		}
		if d := held - want; d*100 <= want && -d*100 <= want {
			break
		}
		b = b * int64(want) / int64(held)
	}
	return b, held, nil
}

// fill stores n distinct keys starting at id base.
func fill(c caches.Cache, base uint64, n, valueSize int) {
	v := workload.Value(valueSize)
	var kb [workload.KeySize]byte
	for i := range uint64(n) {
		c.Set(workload.Key(kb[:], base+i), v)
	}
	syncCache(c)
}

// replay runs the key stream as a read-through cache would: Get, and Set on a miss. It
// returns the number of hits.
func replay(c caches.Cache, keys []uint64, valueSize int) int {
	v := workload.Value(valueSize)
	var kb [workload.KeySize]byte
	buf := make([]byte, 0, valueSize+64)
	hits := 0
	for _, k := range keys {
		key := workload.Key(kb[:], k)
		var ok bool
		if buf, ok = c.Get(buf[:0], key); ok {
			hits++
		} else {
			c.Set(key, v)
		}
	}
	return hits
}
