// Package stats summarises repeated measurements (median and spread) and records latency
// distributions in a compact log-linear histogram.
package stats

import (
	"math"
	"slices"
)

// Summary is the median of a set of runs and their spread.
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median, minimum and maximum of xs (zero for none).
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Spread is the relative half-range of the runs, (max-min)/2/median, or 0 when undefined.
func (s Summary) Spread() float64 {
	if s.Median == 0 || s.N < 2 {
		return 0
	}
	return (s.Max - s.Min) / 2 / math.Abs(s.Median)
}
