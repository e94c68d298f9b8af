package stats

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, 3, 2, 4})
	if s.Median != 3 || s.Min != 1 || s.Max != 5 || s.N != 5 {
		t.Fatalf("got %+v", s)
	}
	if got := Summarize([]float64{1, 2, 3, 4}).Median; got != 2.5 {
		t.Fatalf("even median %v", got)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 100000; v++ {
		h.Record(v)
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		want := q * 100000
		if got := h.Quantile(q); math.Abs(got-want) > 0.04*want {
			t.Errorf("q%v = %v, want about %v", q, got, want)
		}
	}
	for i := 0; i < linear+maxExp*subCount; i++ {
		if lowerBound(bucket(lowerBound(i))) != lowerBound(i) {
			t.Fatalf("bucket %d does not round-trip", i)
		}
	}
}
