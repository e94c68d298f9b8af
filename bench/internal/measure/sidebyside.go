package measure

import (
	"runtime"
	"time"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
	"github.com/mmcache/mmcache/bench/internal/workload"
)

// SideParams sets up one cache of the side-by-side comparison on its defaults (cmd/defaults):
// Keys keys of 16+ValueSize bytes preloaded into a cache of Budget bytes, and a zipf sequence
// over them for the timed cells.
type SideParams struct {
	Cache     string
	Keys      int
	ValueSize int
	Budget    int64
	ZipfS     float64
	SeqLen    int // a power of two
}

// SideReady describes the cache once preloaded.
type SideReady struct {
	Config         string
	PreloadSeconds float64
	Len            int   // entries the cache reports after the preload (-1: it cannot tell)
	RSS            int64 // the process's resident set after the preload
}

// SideRun is one timed run of one cell.
type SideRun struct {
	NsPerOp float64 // wall time over operations, all goroutines together
	HitRate float64 // hits per Get (0 for a cell without Gets)
	RSS     int64   // the process's resident set after the run
}

// Side is a preloaded cache and the sequence its cells replay.
type Side struct {
	c     caches.Cache
	seq   []uint32
	value []byte
}

// OpenSide opens and preloads the cache of p.
func OpenSide(p SideParams) (*Side, SideReady, error) {
	var ready SideReady
	spec := caches.Spec{Budget: p.Budget, Entries: p.Keys, KeySize: workload.KeySize, ValueSize: p.ValueSize}
	c, _, desc, err := open(p.Cache, spec)
	if err != nil {
		return nil, ready, err
	}
	s := &Side{c: c, value: workload.Value(p.ValueSize)}
	s.seq = workload.Sequence(workload.Dist{Name: "zipf", S: p.ZipfS}, uint64(p.Keys), p.SeqLen, 1001)
	t0 := time.Now()
	preload(c, p.Keys, s.value)
	ready.PreloadSeconds = time.Since(t0).Seconds()
	runtime.GC()
	ready.Config, ready.Len, ready.RSS = desc, c.Len(), sysinfo.RSS()
	return s, ready, nil
}

// Run runs g goroutines for d, each doing readPct% Gets and the rest Sets of existing keys,
// as the throughput cells do; salt moves the goroutines' starting points from run to run.
func (s *Side) Run(readPct, g int, d time.Duration, salt uint64) SideRun {
	opsPerSec, _, hit := runCell(s.c, s.seq, s.value, readPct, g, d, salt)
	return SideRun{NsPerOp: 1e9 / opsPerSec, HitRate: hit, RSS: sysinfo.RSS()}
}

// Close releases the cache.
func (s *Side) Close() { s.c.Close() }
