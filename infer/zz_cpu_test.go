package infer

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func cpuTime(n int, f func()) float64 {
	best := 1e18
	for i := 0; i < n; i++ {
		t := cpuMs()
		f()
		best = min(best, cpuMs()-t)
	}
	return best
}

func mkConvP(p kernels.ConvParams, a algo) (*convStep, []float32, []float32) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.Randn(rng, 1, p.C, p.H, p.W)
	w := tensor.Randn(rng, p.Cout, p.C/p.Groups, p.KH, p.KW)
	bias := make([]float32, p.Cout)
	ny := p.Cout * p.OH * p.OW
	ys := []int{1, p.Cout, p.OH, p.OW}
	xb := &buffer{size: len(x.Data)}
	yb := &buffer{size: ny, off: len(x.Data)}
	s := &convStep{algo: a, p: p, w: w.Data, ep: kernels.Epilogue{Bias: bias, Act: kernels.ActReLU},
		x: operand{denseLoc(xb, x.Shape), x.Shape}, y: operand{denseLoc(yb, ys), ys}}
	s.planGrid(kernels.Workers())
	arena := make([]float32, len(x.Data)+ny)
	copy(arena, x.Data)
	s.bind(arena, make([]float32, s.workspace()))
	return s, x.Data, w.Data
}

func cp(c, co, hw, k, s int) kernels.ConvParams {
	pad := k / 2
	o := (hw+2*pad-k)/s + 1
	return kernels.ConvParams{N: 1, C: c, H: hw, W: hw, Cout: co, KH: k, KW: k, SH: s, SW: s, PH: pad, PW: pad, DH: 1, DW: 1, Groups: 1, OH: o, OW: o}
}

func TestZZCPU(t *testing.T) {
	for _, p := range []kernels.ConvParams{cp(16, 96, 112, 1, 1), cp(64, 256, 56, 1, 1), cp(256, 64, 56, 1, 1), cp(512, 256, 14, 1, 1), cp(128, 128, 56, 3, 2), cp(3, 64, 224, 7, 2), cp(256, 512, 56, 1, 2), cp(64, 64, 56, 3, 1)} {
		a := algoGEMM
		if p.KH == 1 && p.SH == 1 {
			a = algoPointwise
		}
		s, x, w := mkConvP(p, a)
		kk := p.C * p.KH * p.KW
		n := p.OH * p.OW
		col := make([]float32, kk*n)
		y := make([]float32, p.Cout*n)
		tp := cpuTime(5, func() { s.run() })
		tg := cpuTime(5, func() {
			src := x
			if a == algoGEMM {
				kernels.Im2col(&p, x, p.C, col)
				src = col
			}
			kernels.SgemmSerial(false, false, p.Cout, n, kk, 1, w, kk, src, n, 0, y, n)
		})
		f := 2 * float64(p.Cout*kk*n) / 1e6
		fmt.Printf("%dx%d/%d %d->%d @%d: plan %.2f ms (%.0f GF/s) grid %dx%d tile %dx%d | whole im2col+gemm %.2f ms (%.0f GF/s)\n", p.KH, p.KW, p.SH, p.C, p.Cout, p.H, tp, f/tp, s.mw, s.nw, s.mb, s.nb, tg, f/tg)
	}
}
