package workload

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Dist is a key distribution.
type Dist struct {
	// Name is "uniform" or "zipf".
	Name string
	// S is the zipf exponent; unused for uniform.
	S float64
}

// String names the distribution for tables.
func (d Dist) String() string {
	if d.Name == "zipf" {
		return fmt.Sprintf("zipf %.2g", d.S)
	}
	return d.Name
}

// Uniform and Zipf099 are the throughput distributions.
var (
	Uniform = Dist{Name: "uniform"}
	Zipf099 = Dist{Name: "zipf", S: 0.99}
)

// Sequence returns length ids in [0, n) drawn from d. For zipf the ranks are scattered over
// the id space by a fixed permutation, so hot keys are not neighbours.
func Sequence(d Dist, n uint64, length int, seed uint64) []uint32 {
	if n > 1<<32 {
		panic("workload: key space over 2^32")
	}
	out := make([]uint32, length)
	switch d.Name {
	case "zipf":
		z, sc := NewZipf(n, d.S, seed), NewScatter(n)
		for i := range out {
			out[i] = uint32(sc.Map(z.Next() - 1))
		}
	default:
		r := rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5))
		for i := range out {
			out[i] = uint32(r.Uint64N(n))
		}
	}
	return out
}

// Scatter is a fixed bijection of [0, n): multiplication by a large odd constant made coprime
// with n, modulo n. It spreads zipf ranks over the id space so hot keys are not neighbours.
type Scatter struct{ m, n uint64 }

// NewScatter returns the bijection of [0, n).
func NewScatter(n uint64) Scatter {
	m := uint64(0x9e3779b97f4a7c15) % n
	for m == 0 || gcd(m, n) != 1 {
		m = (m + 1) % n
		if n == 1 {
			return Scatter{0, 1}
		}
	}
	return Scatter{m, n}
}

// Map returns the image of r, which must be below n.
func (s Scatter) Map(r uint64) uint64 {
	hi, lo := bits.Mul64(r, s.m)
	_, rem := bits.Div64(hi, lo, s.n)
	return rem
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
