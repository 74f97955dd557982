package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

func TestZZConv(t *testing.T) {
	for _, sh := range [][4]int{{64, 64, 56, 3}, {512, 512, 7, 3}, {128, 128, 28, 3}, {64, 256, 56, 1}} {
		cin, cout, hw, k := sh[0], sh[1], sh[2], sh[3]
		pad := k / 2
		p := kernels.ConvParams{N: 1, C: cin, H: hw, W: hw, Cout: cout, KH: k, KW: k, SH: 1, SW: 1, PH: pad, PW: pad, DH: 1, DW: 1, Groups: 1, OH: hw, OW: hw}
		rng := rand.New(rand.NewPCG(1, 2))
		x := tensor.Randn(rng, 1, cin, hw, hw)
		w := tensor.Randn(rng, cout, cin, k, k)
		bias := make([]float32, cout)
		y := make([]float32, cout*hw*hw)
		xb := &buffer{size: len(x.Data)}
		yb := &buffer{size: len(y), off: len(x.Data)}
		s := &convStep{algo: algoGEMM, p: p, w: w.Data, ep: kernels.Epilogue{Bias: bias, Act: kernels.ActReLU},
			x: operand{denseLoc(xb, x.Shape), x.Shape}, y: operand{denseLoc(yb, []int{1, cout, hw, hw}), []int{1, cout, hw, hw}}}
		if k == 1 {
			s.algo = algoPointwise
		}
		s.planGrid(kernels.Workers())
		arena := make([]float32, len(x.Data)+len(y))
		copy(arena, x.Data)
		ws := make([]float32, s.workspace())
		s.bind(arena, ws)
		col := make([]float32, cin*k*k*hw*hw)
		kk := cin * k * k
		var a, b, c float64 = 1e9, 1e9, 1e9
		for r := 0; r < 5; r++ {
			a = min(a, minTime(3, func() { s.run() }))
			b = min(b, minTime(3, func() { kernels.Conv2dForward(&p, x.Data, w.Data, bias, y) }))
			c = min(c, minTime(3, func() {
				kernels.Im2col(&p, x.Data, cin, col)
				kernels.Sgemm(false, false, cout, hw*hw, kk, 1, w.Data, kk, col, hw*hw, 0, y, hw*hw)
			}))
		}
		gm := float64(cout*kk*hw*hw) / 1e6
		fmt.Printf("%v grid %dx%d (%dx%d) slots %d: plan %.2f ms (%.1f GFLOP/s)  Conv2dForward %.2f ms  im2col+Sgemm %.2f ms (%.1f)\n", sh, s.mw, s.nw, s.mb, s.nb, s.slots, a, 2*gm/a, b, c, 2*gm/c)
	}
}

func TestZZConv2(t *testing.T) {
	cin, cout, hw := 64, 256, 56
	_ = 0
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.Randn(rng, 1, cin, hw, hw)
	w := tensor.Randn(rng, cout, cin, 1, 1)
	bias := make([]float32, cout)
	n := hw * hw
	y := make([]float32, cout*n)
	for _, nb := range []int{784, 392, 196, 3136} {
		ta := minTime(10, func() {
			for j0 := 0; j0 < n; j0 += nb {
				kernels.SgemmSerial(false, false, cout, nb, cin, 1, w.Data, cin, x.Data[j0:], n, 0, y[j0:], n)
			}
		})
		tb := minTime(10, func() {
			for j0 := 0; j0 < n; j0 += nb {
				kernels.SgemmSerial(false, false, cout, nb, cin, 1, w.Data, cin, x.Data[j0:], n, 0, y[j0:], n)
				ep := kernels.Epilogue{Bias: bias, Act: kernels.ActReLU}
				for r := 0; r < cout; r++ {
					ep.Apply(y[r*n+j0:r*n+j0+nb], nb, r, nil)
				}
			}
		})
		fmt.Printf("nb %d: gemm %.2f ms, gemm+epi %.2f ms\n", nb, ta, tb)
	}
}
