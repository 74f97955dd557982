package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestPackedConvBlockingSweep times PackedConv's blockings (pcKC, pcNC,
// pcMC) on zoo shapes, one thread, best of 15 interleaved runs; a tool,
// run with CONVNET_PCSWEEP=1 GOMAXPROCS=1. On Zen 3 the blockings from 128
// to 384 differed by 3% at most.
func TestPackedConvBlockingSweep(t *testing.T) {
	if os.Getenv("CONVNET_PCSWEEP") == "" {
		t.Skip("set CONVNET_PCSWEEP=1")
	}
	shapes := []convCase{
		{n: 1, c: 256, h: 56, w: 56, cout: 256, kh: 1, kw: 1, s: 1, d: 1, g: 1},
		{n: 1, c: 64, h: 56, w: 56, cout: 256, kh: 1, kw: 1, s: 1, d: 1, g: 1},
		{n: 1, c: 1024, h: 14, w: 14, cout: 256, kh: 1, kw: 1, s: 1, d: 1, g: 1},
		{n: 1, c: 512, h: 7, w: 7, cout: 2048, kh: 1, kw: 1, s: 1, d: 1, g: 1},
		{n: 1, c: 3, h: 224, w: 224, cout: 64, kh: 7, kw: 7, s: 2, p: 3, d: 1, g: 1},
		{n: 1, c: 128, h: 56, w: 56, cout: 128, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1},
		{n: 1, c: 512, h: 14, w: 14, cout: 512, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1},
	}
	type bl struct{ kc, nc, mc int }
	var bls []bl
	for _, kc := range []int{128, 256, 384} {
		for _, nc := range []int{96, 192, 384} {
			for _, mc := range []int{48, 96, 192} {
				bls = append(bls, bl{kc, nc, mc})
			}
		}
	}
	for _, c := range shapes {
		p := c.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.Cout*p.C/p.Groups*p.KH*p.KW)
		ep := &Epilogue{Bias: convRand(rng, p.Cout), Act: ActReLU}
		y := make([]float32, p.N*p.Cout*p.OH*p.OW)
		xl, yl := DenseLayout(p.C, p.H*p.W), DenseLayout(p.Cout, p.OH*p.OW)
		best := make([]time.Duration, len(bls))
		pcs := make([]*PackedConv, len(bls))
		wss := make([][]float32, len(bls))
		for i, b := range bls {
			withPcBlocking(b.kc, b.nc, b.mc, func() {
				pcs[i], _ = NewPackedConv(&p, w)
			})
			wss[i] = make([]float32, pcs[i].WorkspaceSize())
			best[i] = time.Hour
		}
		for r := 0; r < 15; r++ {
			for i := range bls {
				t0 := time.Now()
				withPcBlocking(bls[i].kc, bls[i].nc, bls[i].mc, func() {
					pcs[i].Run(1, x, xl, y, yl, ep, Layout{}, wss[i])
				})
				best[i] = min(best[i], time.Since(t0))
			}
		}
		line := c.String() + ":"
		bi := 0
		for i := range bls {
			if best[i] < best[bi] {
				bi = i
			}
		}
		for i, b := range bls {
			mark := " "
			if i == bi {
				mark = "*"
			}
			line += fmt.Sprintf("\n %s kc %d nc %d mc %d: %.1f GFLOP/s", mark, b.kc, b.nc, b.mc, p.Flops()/best[i].Seconds()/1e9)
		}
		t.Log(line)
	}
}
