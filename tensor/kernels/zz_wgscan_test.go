package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestZZWgScan(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, s := range wgBenchShapes {
		if sh := os.Getenv("SHAPE"); sh != "" && !strings.Contains(sh, s.name) {
			continue
		}
		p := wgCase{1, s.c, s.hw, s.hw, s.k, 1}.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := reluRand(rng, p.C*p.H*p.W)
		w := kaiming(rng, p.Cout, p.C)
		y := make([]float32, p.Cout*p.OH*p.OW)
		line := s.name + ":"
		for _, tbv := range []int{16, 32, 48, 64, 96} {
			for _, kbv := range []int{12, 24, 48, 96} {
				wgTileBlock, wgTileBlockChan, wgKChunk = tbv, tbv, kbv
				wc, _ := NewWinogradConv(&p, w, 4)
				ws := make([]float32, wc.WorkspaceSize())
				j := newWgJob(wc)
				j.x, j.y, j.ws = x, y, ws
				v, mm, in, st := j.scratch(0)
				d := minTime(4, 1, func() {
					for b := 0; b < wc.nb; b++ {
						s0, ns := wc.block(b)
						for c := 0; c < p.C; c++ {
							wc.inputChannel(x, c, s0, ns, in, v)
						}
						for k0 := 0; k0 < wc.kp; k0 += wc.kb {
							wc.outputChunk(j, k0, min(wc.kb, wc.kp-k0), s0, ns, v, mm, st)
						}
					}
				})
				line += fmt.Sprintf(" %d/%d:%.0f", wc.tb, wc.kb, p.Flops()/d.Seconds()/1e9)
			}
			line += "\n"
		}
		t.Log(line)
	}
	wgTileBlock, wgTileBlockChan, wgKChunk = 64, 96, 48
}
