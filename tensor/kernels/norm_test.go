package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestNormKernels binds every implementation of the BatchNorm rows to
// float64 sums and element-wise formulas, on lengths around the vector
// widths and an offset mean (mean 50, spread 0.1).
func TestNormKernels(t *testing.T) {
	impls := []*normKernels{normGeneric}
	if k := normAsmKernels(); k != nil {
		impls = append(impls, k)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, im := range impls {
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 255, 256} {
			for _, off := range []float64{0, 50} {
				x := make([]float32, n)
				g := make([]float32, n)
				var mean float64
				for i := range x {
					x[i] = float32(off + 0.1*rng.NormFloat64())
					g[i] = float32(rng.NormFloat64())
					mean += float64(x[i])
				}
				if n > 0 {
					mean /= float64(n)
				}
				mu := float32(mean)
				lo := float32(mean - float64(mu))
				var s, sq, sg, sgx float64
				for i := range x {
					d := float64(x[i]) - mean
					s += float64(x[i])
					sq += d * d
					sg += float64(g[i])
					sgx += float64(g[i]) * d
				}
				near := func(what string, got float32, want, scale float64) {
					if math.Abs(float64(got)-want) > 1e-5*scale+1e-6 {
						t.Errorf("%s n=%d off=%v: %s = %v, want %v", im.name, n, off, what, got, want)
					}
				}
				near("sum", im.sum(x), s, math.Abs(s)+float64(n))
				near("sum sq dev", im.sumSq(x, mu, lo), sq, sq)
				a, b := im.sumDot(g, x, mu, lo)
				near("sum g", a, sg, float64(n))
				near("sum g*dev", b, sgx, 0.1*float64(n))
				y := make([]float32, n)
				im.norm(y, x, mu, lo, 3, 0.5)
				dx := make([]float32, n)
				im.bnBack(dx, g, x, 1.5, -2, 0.25, mu, lo)
				rx := make([]float32, n)
				for i := range rx {
					rx[i] = float32(rng.NormFloat64())
					if i%7 == 3 {
						rx[i] = float32(math.NaN())
					}
				}
				im.reluBack(dx[:0], g, rx) // nothing to do
				rd := make([]float32, n)
				im.reluBack(rd, g, rx)
				for i := range rd {
					want := g[i]
					if !(rx[i] > 0) {
						want = 0
					}
					if rd[i] != want {
						t.Fatalf("%s n=%d: relu back [%d] = %v for x %v, g %v", im.name, n, i, rd[i], rx[i], g[i])
					}
				}
				for i := range x {
					d := float64(x[i]) - mean
					near("norm", y[i], d*3+0.5, 3)
					near("bn back", dx[i], 1.5*float64(g[i])-2*d+0.25, 3)
				}
			}
		}
	}
}
