package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

func mkConv(cin, cout, hw, k int, a algo) *convStep {
	pad := k / 2
	p := kernels.ConvParams{N: 1, C: cin, H: hw, W: hw, Cout: cout, KH: k, KW: k, SH: 1, SW: 1, PH: pad, PW: pad, DH: 1, DW: 1, Groups: 1, OH: hw, OW: hw}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.Randn(rng, 1, cin, hw, hw)
	w := tensor.Randn(rng, cout, cin, k, k)
	bias := make([]float32, cout)
	ny := cout * hw * hw
	xb := &buffer{size: len(x.Data)}
	yb := &buffer{size: ny, off: len(x.Data)}
	s := &convStep{algo: a, p: p, w: w.Data, ep: kernels.Epilogue{Bias: bias, Act: kernels.ActReLU},
		x: operand{denseLoc(xb, x.Shape), x.Shape}, y: operand{denseLoc(yb, []int{1, cout, hw, hw}), []int{1, cout, hw, hw}}}
	if a == algoWinograd {
		s.wino = newWinograd(s)
	} else {
		s.planGrid(kernels.Workers())
	}
	arena := make([]float32, len(x.Data)+ny)
	copy(arena, x.Data)
	s.bind(arena, make([]float32, s.workspace()))
	return s
}

func TestZZWino(t *testing.T) {
	for _, sh := range [][3]int{{256, 256, 7}, {512, 512, 7}, {512, 512, 14}, {384, 384, 8}, {160, 160, 17}, {128, 128, 7}, {512, 512, 7}} {
		g := mkConv(sh[0], sh[1], sh[2], 3, algoGEMM)
		w := mkConv(sh[0], sh[1], sh[2], 3, algoWinograd)
		var tg, tw float64 = 1e9, 1e9
		for r := 0; r < 4; r++ {
			tg = min(tg, minTime(3, func() { g.run() }))
			tw = min(tw, minTime(3, func() { w.run() }))
		}
		f := 2 * float64(sh[0]*sh[1]*9*sh[2]*sh[2]) / 1e6
		fmt.Printf("%v CinCout %6d: gemm %.3f ms (%.0f GF/s)  winograd %.3f ms (%.0f eff GF/s)  ratio %.2f\n", sh, sh[0]*sh[1], tg, f/tg, tw, f/tw, tg/tw)
	}
}
