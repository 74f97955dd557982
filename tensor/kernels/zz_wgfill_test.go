package kernels

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

func TestZZWgFill(t *testing.T) {
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
		wc, _ := NewWinogradConv(&p, w, 4)
		ws := make([]float32, wc.WorkspaceSize())
		j := newWgJob(wc)
		j.ws = ws
		v, _, in, _ := j.scratch(0)
		full := minTime(5, 3, func() {
			for b := 0; b < wc.nb; b++ {
				s0, ns := wc.block(b)
				for c := 0; c < p.C; c++ {
					wc.inputChannel(x, c, s0, ns, in, v)
				}
			}
		})
		old := wc.impl
		wc.impl = &wgKernels{input: func(int, []float32, int, []float32, int) {}}
		fill := minTime(5, 3, func() {
			for b := 0; b < wc.nb; b++ {
				s0, ns := wc.block(b)
				for c := 0; c < p.C; c++ {
					wc.inputChannel(x, c, s0, ns, in, v)
				}
			}
		})
		wc.impl = old
		// transform only, same V addresses, hot input buffer
		tr := minTime(5, 3, func() {
			for b := 0; b < wc.nb; b++ {
				_, ns := wc.block(b)
				for c := 0; c < p.C; c++ {
					for g := 0; g < ns/8; g++ {
						off := (g/2*p.C+c)*wgNR + g%2*8
						wc.impl.input(4, in[g*8*4:], wc.bw, v[off:], wc.vxis)
					}
				}
			}
		})
		t.Logf("%s: full %.2fms fill-only %.2fms transform-only %.2fms", s.name, full.Seconds()*1e3, fill.Seconds()*1e3, tr.Seconds()*1e3)
	}
}
