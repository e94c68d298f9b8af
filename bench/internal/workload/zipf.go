package workload

import (
	"math"
	"math/rand/v2"
)

// Zipf draws ranks 1..n with probability proportional to 1/rank^s, for any exponent s > 0
// (the standard library's rand.Zipf needs s > 1). It is rejection-inversion sampling
// (W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from monotone
// discrete distributions", 1996): invert the integral of the density's continuous envelope,
// round, and accept the rounded rank unless it falls under the envelope's excess.
type Zipf struct {
	s        float64
	n        float64
	hX1      float64 // H(1.5) - 1
	hN       float64 // H(n + 0.5)
	squeeze  float64 // ranks closer than this to the inverted point are accepted at once
	rng      *rand.Rand
	oneMinus float64 // 1 - s
}

// NewZipf returns a sampler over ranks 1..n with exponent s, seeded deterministically.
func NewZipf(n uint64, s float64, seed uint64) *Zipf {
	z := &Zipf{s: s, n: float64(n), oneMinus: 1 - s, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
	z.hX1 = z.bigH(1.5) - 1
	z.hN = z.bigH(z.n + 0.5)
	z.squeeze = 2 - z.bigHInv(z.bigH(2.5)-z.h(2))
	return z
}

// h is the unnormalised density x^-s.
func (z *Zipf) h(x float64) float64 { return math.Exp(-z.s * math.Log(x)) }

// bigH is an antiderivative of h: (x^(1-s) - 1) / (1-s), or log x when s = 1, computed in a
// form that stays accurate near s = 1.
func (z *Zipf) bigH(x float64) float64 {
	lx := math.Log(x)
	return expm1OverX(z.oneMinus*lx) * lx
}

// bigHInv inverts bigH.
func (z *Zipf) bigHInv(y float64) float64 {
	t := max(y*z.oneMinus, -1)
	return math.Exp(log1pOverX(t) * y)
}

// Next returns the next rank, in 1..n.
func (z *Zipf) Next() uint64 {
	for {
		u := z.hN + z.rng.Float64()*(z.hX1-z.hN)
		x := z.bigHInv(u)
		k := math.Floor(x + 0.5)
		k = min(max(k, 1), z.n)
		if k-x <= z.squeeze || u >= z.bigH(k+0.5)-z.h(k) {
			return uint64(k)
		}
	}
}

// expm1OverX is (e^x - 1)/x, with its limit 1 at 0.
func expm1OverX(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x/2*(1+x/3*(1+x/4))
}

// log1pOverX is log(1+x)/x, with its limit 1 at 0.
func log1pOverX(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-x/4))
}
