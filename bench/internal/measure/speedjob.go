package measure

import (
	"flag"
	"testing"

	"github.com/mmcache/mmcache/bench/internal/speed"
)

// SpeedParams runs issue 2's four speed benchmarks against one contender.
type SpeedParams struct {
	Cache     string
	Keys      int
	Runs      int
	BenchTime string // as go test's -benchtime
}

// SpeedOp is the runs of one benchmark.
type SpeedOp struct {
	Op          string
	NsPerOp     []float64
	AllocsPerOp []float64
}

// SpeedResult is a contender's four benchmarks.
type SpeedResult struct {
	Ops []SpeedOp
}

var testingInit = func() func() {
	done := false
	return func() {
		if !done {
			testing.Init()
			done = true
		}
	}
}()

// RunSpeed preloads the contender and runs each benchmark Runs times with testing.Benchmark,
// exactly as the Go benchmarks in the bench module do.
func RunSpeed(p SpeedParams) (SpeedResult, error) {
	var res SpeedResult
	testingInit()
	if err := flag.Set("test.benchtime", p.BenchTime); err != nil {
		return res, err
	}
	f, err := speed.Prepare(p.Cache, p.Keys)
	if err != nil {
		return res, err
	}
	defer f.Cache.Close()
	for _, op := range speed.Ops {
		so := SpeedOp{Op: op.Name}
		for range p.Runs {
			r := testing.Benchmark(func(b *testing.B) { op.Run(b, f) })
			so.NsPerOp = append(so.NsPerOp, float64(r.T.Nanoseconds())/float64(max(r.N, 1)))
			so.AllocsPerOp = append(so.AllocsPerOp, float64(r.MemAllocs)/float64(max(r.N, 1)))
		}
		res.Ops = append(res.Ops, so)
	}
	return res, nil
}
