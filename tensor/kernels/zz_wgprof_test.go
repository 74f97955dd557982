package kernels

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestZZWgProf(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	loops := fmaPeakLoops()
	t0 := threadCPU()
	loops[0].fn(2000000)
	peak := 2000000 * float64(loops[0].flops) / (threadCPU() - t0).Seconds() / 1e9
	t.Logf("thread-CPU FMA peak %.1f GFLOP/s", peak)
	for _, s := range wgBenchShapes {
		if os.Getenv("SHAPE") != "" && os.Getenv("SHAPE") != s.name {
			continue
		}
		for _, tile := range []int{4, 2} {
			for _, tbv := range []int{32, 48, 64, 96} {
				wgTileBlock, wgTileBlockChan = tbv, tbv
				p := wgCase{1, s.c, s.hw, s.hw, s.k, 1}.params()
				rng := rand.New(rand.NewPCG(1, 1))
				x := reluRand(rng, p.C*p.H*p.W)
				w := kaiming(rng, p.Cout, p.C)
				y := make([]float32, p.Cout*p.OH*p.OW)
				wc, _ := NewWinogradConv(&p, w, tile)
				ws := make([]float32, wc.WorkspaceSize())
				j := newWgJob(wc)
				j.x, j.y, j.ws = x, y, ws
				v, mm, in, st := j.scratch(0)
				var tin, tgemm, tout time.Duration
				reps := 0
				start := time.Now()
				for time.Since(start) < 150*time.Millisecond || reps < 2 {
					reps++
					for b := 0; b < wc.nb; b++ {
						s0, ns := wc.block(b)
						a := threadCPU()
						for c := 0; c < p.C; c++ {
							wc.inputChannel(x, c, s0, ns, in, v)
						}
						bb := threadCPU()
						tin += bb - a
						for k0 := 0; k0 < wc.kp; k0 += wc.kb {
							kn := min(wc.kb, wc.kp-k0)
							g0 := threadCPU()
							wc.gemmOnly(k0, kn, ns, v, mm)
							g1 := threadCPU()
							wc.outOnly(j, k0, kn, s0, ns, mm, st)
							g2 := threadCPU()
							tgemm += g1 - g0
							tout += g2 - g1
						}
					}
				}
				tot := (tin + tgemm + tout).Seconds() / float64(reps)
				gemmFlops := 2 * float64(wc.nxi) * float64(wc.kp) * float64(p.C) * float64(wc.nb*wc.tb)
				realTiles := float64(wc.tilesH * wc.tilesW)
				t.Logf("%-14s F%d tb=%d nb=%d chan=%v: in %.2fms gemm %.2fms (%.0f%% peak) out %.2fms | total 1-thread %.2fms = %.1f eff GFLOP/s; slot waste %.0f%%",
					s.name, tile, wc.tb, wc.nb, wc.chanMode, tin.Seconds()*1e3/float64(reps), tgemm.Seconds()*1e3/float64(reps),
					100*gemmFlops/(tgemm.Seconds()/float64(reps))/1e9/peak, tout.Seconds()*1e3/float64(reps), tot*1e3, p.Flops()/tot/1e9,
					100*(1-realTiles/float64(wc.nb*wc.tb)))
			}
		}
	}
}
