package workload

import (
	"math"
	"testing"
)

// TestZipfShape checks the sampler against the exact probabilities of the first ranks.
func TestZipfShape(t *testing.T) {
	for _, s := range []float64{0.8, 0.99, 1.0, 1.2} {
		const n, draws = 1000, 400000
		z := NewZipf(n, s, 1)
		counts := make([]int, n+1)
		for range draws {
			k := z.Next()
			if k < 1 || k > n {
				t.Fatalf("s=%v: rank %d out of range", s, k)
			}
			counts[k]++
		}
		norm := 0.0
		for k := 1; k <= n; k++ {
			norm += math.Pow(float64(k), -s)
		}
		for _, k := range []int{1, 2, 10} {
			want := math.Pow(float64(k), -s) / norm
			got := float64(counts[k]) / draws
			if math.Abs(got-want) > 0.05*want+0.002 {
				t.Errorf("s=%v rank %d: frequency %.4f, want %.4f", s, k, got, want)
			}
		}
	}
}

// TestScatterIsBijection checks that Scatter permutes the id space.
func TestScatterIsBijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 10, 1000, 1 << 16} {
		sc := NewScatter(n)
		seen := make(map[uint64]bool, n)
		for r := uint64(0); r < n; r++ {
			v := sc.Map(r)
			if v >= n || seen[v] {
				t.Fatalf("n=%d: %d maps to %d twice or out of range", n, r, v)
			}
			seen[v] = true
		}
	}
}

// TestTraces reads a little of each trace when the folder is there.
func TestTraces(t *testing.T) {
	dir, err := FindTraces("../../../../shared/traces")
	if err != nil {
		t.Skip("traces not present: ", err)
	}
	for _, tf := range TraceFiles {
		keys, err := LoadTrace(dir, tf, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1000 && tf.Name != "gli" {
			t.Errorf("%s: %d keys", tf.Name, len(keys))
		}
	}
}
