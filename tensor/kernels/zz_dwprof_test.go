package kernels

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

func TestZZDwProf(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, s := range dwBenchShapes {
		p := dwParams(1, s.c, s.hw, s.hw, s.s)
		rng := rand.New(rand.NewPCG(1, 1))
		x, w := reluRand(rng, p.C*p.H*p.W), convRand(rng, p.C*9)
		y := make([]float32, p.C*p.OH*p.OW)
		ep := &Epilogue{Bias: convRand(rng, p.C), Act: ActReLU6}
		j := &dwJob{p: &p, x: x, w: w, y: y, ep: ep, impl: dwImpl}
		full := minTime(10, 3, func() { j.run(0, p.C) })
		ld := dwLD(&p)
		pad := make([]float32, (p.H+2)*ld+8)
		plane := minTime(10, 3, func() {
			for c := 0; c < p.C; c++ {
				dwImpl(pad, ld, y[c*p.OH*p.OW:], p.OW, p.OH, p.SH, w[c*9:], 0, nil, ActReLU6)
			}
		})
		outs := float64(p.C * p.OH * p.OW)
		t.Logf("c%d_%d_s%d: 1-thread full %.1f us (%.2f ns/out, %.1f GFLOP/s), plane-only hot %.1f us (%.2f ns/out)", s.c, s.hw, s.s,
			full.Seconds()*1e6, full.Seconds()*1e9/outs, p.Flops()/full.Seconds()/1e9, plane.Seconds()*1e6, plane.Seconds()*1e9/outs)
	}
}
