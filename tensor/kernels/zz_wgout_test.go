package kernels

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

func TestZZWgOut(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, s := range wgBenchShapes[:2] {
		p := wgCase{1, s.c, s.hw, s.hw, s.k, 1}.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := reluRand(rng, p.C*p.H*p.W)
		w := kaiming(rng, p.Cout, p.C)
		y := make([]float32, p.Cout*p.OH*p.OW)
		wc, _ := NewWinogradConv(&p, w, 4)
		ws := make([]float32, wc.WorkspaceSize())
		j := newWgJob(wc)
		j.ws, j.x, j.y = ws, x, y
		j.ep = &Epilogue{Bias: make([]float32, p.Cout), Act: ActReLU}
		_, mm, _, st := j.scratch(0)
		run := func() {
			for b := 0; b < wc.nb; b++ {
				s0, ns := wc.block(b)
				for k0 := 0; k0 < wc.kp; k0 += wc.kb {
					wc.outOnly(j, k0, min(wc.kb, wc.kp-k0), s0, ns, mm, st)
				}
			}
		}
		full := minTime(5, 3, run)
		old := wc.impl
		wc.impl = &wgKernels{output: old.output, epi: func(dst, src, res []float32, bias float32, act Activation) {}}
		tonly := minTime(5, 3, run)
		wc.impl = &wgKernels{output: func(int, []float32, int, []float32, int) {}, epi: old.epi}
		sonly := minTime(5, 3, run)
		wc.impl = old
		t.Logf("%s: out full %.2fms transform-only %.2fms store-only %.2fms", s.name, full.Seconds()*1e3, tonly.Seconds()*1e3, sonly.Seconds()*1e3)
	}
}
