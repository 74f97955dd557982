package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemv binds every GEMV to the reference GEMM on odd shapes (rows
// not a multiple of 4, columns not a multiple of 16, padded rows), with
// guard bands after y.
func TestSgemv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	impls := map[string]func(m, k int, a []float32, lda int, x, y []float32){"generic": gemvGo}
	if f := gemvAsm(); f != nil {
		impls["asm"] = f
	}
	for name, f := range impls {
		for _, s := range [][3]int{{1, 1, 1}, {4, 16, 16}, {5, 17, 20}, {7, 15, 15}, {1000, 1280, 1280}, {13, 33, 40}, {3, 64, 64}, {8, 100, 101}} {
			m, k, lda := s[0], s[1], s[2]
			a := make([]float32, (m-1)*lda+k)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			x := make([]float32, k)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			want := make([]float32, m)
			SgemmRef(false, false, m, 1, k, 1, a, lda, x, 1, 0, want, 1)
			y := make([]float32, m+8)
			for i := range y {
				y[i] = -7
			}
			f(m, k, a, lda, x, y[:m])
			for i := range want {
				if d := math.Abs(float64(y[i] - want[i])); d > 1e-5*math.Sqrt(float64(k))*4 {
					t.Fatalf("%s %v: y[%d] = %g, want %g", name, s, i, y[i], want[i])
				}
			}
			for i := m; i < len(y); i++ {
				if y[i] != -7 {
					t.Fatalf("%s %v: wrote past y (y[%d] = %g)", name, s, i, y[i])
				}
			}
		}
	}
}

func BenchmarkSgemv(b *testing.B) {
	for _, s := range [][2]int{{1000, 1280}, {1000, 2048}, {4096, 4096}} {
		m, k := s[0], s[1]
		a := make([]float32, m*k)
		x := make([]float32, k)
		y := make([]float32, m)
		b.Run(fmt.Sprintf("%dx%d", m, k), func(b *testing.B) {
			b.SetBytes(int64(4 * m * k))
			for b.Loop() {
				SgemvSerial(m, k, a, k, x, y)
			}
		})
	}
}
