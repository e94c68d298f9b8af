package stats

import "math/bits"

// Histogram counts non-negative durations in nanoseconds with about 3% resolution: values
// under 64 have a bucket each; above, each power of two is split into 32 buckets.
type Histogram struct {
	Counts []uint64
	Total  uint64
}

const (
	linear   = 64
	subBits  = 5 // 32 buckets per power of two
	subCount = 1 << subBits
	maxExp   = 40 // values up to 2^(40+6) ns, about 20 hours
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{Counts: make([]uint64, linear+maxExp*subCount)}
}

func bucket(v int64) int {
	if v < linear {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - (subBits + 1) // shift that leaves subBits+1 significant bits
	mant := int(uint64(v)>>e) - subCount       // 0 .. subCount-1
	i := linear + (e-1)*subCount + mant
	return min(i, linear+maxExp*subCount-1)
}

// lowerBound is the smallest value in bucket i.
func lowerBound(i int) int64 {
	if i < linear {
		return int64(i)
	}
	e := (i-linear)/subCount + 1
	mant := (i-linear)%subCount + subCount
	return int64(mant) << e
}

// Record adds one value.
func (h *Histogram) Record(v int64) {
	h.Counts[bucket(v)]++
	h.Total++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Total += o.Total
}

// Quantile returns the value below which a fraction q of the recorded values fall, as the
// midpoint of its bucket.
func (h *Histogram) Quantile(q float64) float64 {
	if h.Total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.Total))
	if rank >= h.Total {
		rank = h.Total - 1
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen > rank {
			lo := lowerBound(i)
			hi := lowerBound(i + 1)
			if i+1 >= len(h.Counts) {
				hi = lo
			}
			return float64(lo+hi) / 2
		}
	}
	return 0
}
