package kernels

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

func TestZZWgProf2(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l := fmaPeakLoops()[0]
	d := minTime(30, 1, func() { l.fn(100000) })
	peak := 100000 * float64(l.flops) / d.Seconds() / 1e9
	t.Logf("1-core FMA peak %.1f GFLOP/s", peak)
	for _, s := range wgBenchShapes {
		p := wgCase{1, s.c, s.hw, s.hw, s.k, 1}.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := reluRand(rng, p.C*p.H*p.W)
		w := kaiming(rng, p.Cout, p.C)
		y := make([]float32, p.Cout*p.OH*p.OW)
		bias := convRand(rng, p.Cout)
		ep := &Epilogue{Bias: bias, Act: ActReLU}
		// im2col + GEMM on one thread: SgemmSerial
		col := make([]float32, p.C*9*p.OH*p.OW)
		dIm := minTime(5, 1, func() {
			Im2col(&p, x, p.C, col)
			SgemmSerial(false, false, p.Cout, p.OH*p.OW, p.C*9, 1, w, p.C*9, col, p.OH*p.OW, 0, y, p.OH*p.OW)
		})
		line := ""
		for _, tile := range []int{4, 2} {
			wc, _ := NewWinogradConv(&p, w, tile)
			ws := make([]float32, wc.WorkspaceSize())
			j := newWgJob(wc)
			j.x, j.y, j.ws, j.ep = x, y, ws, ep
			v, mm, in, st := j.scratch(0)
			var tin, tg, tout float64
			tot := minTime(5, 1, func() {
				for b := 0; b < wc.nb; b++ {
					s0, ns := wc.block(b)
					for c := 0; c < p.C; c++ {
						wc.inputChannel(x, c, s0, ns, in, v)
					}
					for k0 := 0; k0 < wc.kp; k0 += wc.kb {
						kn := min(wc.kb, wc.kp-k0)
						wc.gemmOnly(k0, kn, ns, v, mm)
						wc.outOnly(j, k0, kn, s0, ns, mm, st)
					}
				}
			})
			tin = minTime(5, 1, func() {
				for b := 0; b < wc.nb; b++ {
					s0, ns := wc.block(b)
					for c := 0; c < p.C; c++ {
						wc.inputChannel(x, c, s0, ns, in, v)
					}
				}
			}).Seconds()
			tg = minTime(5, 1, func() {
				for b := 0; b < wc.nb; b++ {
					_, ns := wc.block(b)
					for k0 := 0; k0 < wc.kp; k0 += wc.kb {
						wc.gemmOnly(k0, min(wc.kb, wc.kp-k0), ns, v, mm)
					}
				}
			}).Seconds()
			tout = tot.Seconds() - tin - tg
			gf := 2 * float64(wc.nxi) * float64(wc.kp) * float64(p.C) * float64(wc.nb*wc.tb)
			line += "  F" + string(rune('0'+tile)) + ": " + fmtF(p.Flops()/tot.Seconds()/1e9) + " eff (in " + fmtF(100*tin/tot.Seconds()) + "% gemm " + fmtF(100*tg/tot.Seconds()) + "% at " + fmtF(100*gf/tg/1e9/peak) + "% peak, out " + fmtF(100*tout/tot.Seconds()) + "%)"
		}
		t.Logf("%-14s im2col+SgemmSerial %s GFLOP/s |%s", s.name, fmtF(p.Flops()/dIm.Seconds()/1e9), line)
	}
}

func fmtF(v float64) string { return fmtE0(v) }
