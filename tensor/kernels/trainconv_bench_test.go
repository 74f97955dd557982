package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The 3x3 layers of ResNet-20 on 28x28 images at batch 128, through the
// three training passes; the forward pass also through Winograd for
// comparison. Effective GFLOP/s (2*MACs of the direct convolution per
// second), so the numbers compare as speed.
//
//	go test -run XXX -bench TrainConv -benchtime 20x ./tensor/kernels/
func BenchmarkTrainConv(b *testing.B) {
	for _, s := range []struct{ c, hw int }{{16, 28}, {32, 14}, {64, 7}} {
		p := wgCase{128, s.c, s.hw, s.hw, s.c, 1}.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := reluRand(rng, p.N*p.C*p.H*p.W)
		w := kaiming(rng, p.Cout, p.C)
		y := make([]float32, p.N*p.Cout*p.OH*p.OW)
		dx := make([]float32, len(x))
		dw := make([]float32, len(w))
		name := fmt.Sprintf("c%d_%d", s.c, s.hw)
		rate := func(b *testing.B) {
			b.ReportMetric(p.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		b.Run(name+"/forward", func(b *testing.B) {
			for b.Loop() {
				Conv2dForward(&p, x, w, nil, y)
			}
			rate(b)
		})
		for _, tile := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/forward_F%d", name, tile), func(b *testing.B) {
				wc, err := NewWinogradConv(&p, w, tile)
				if err != nil {
					b.Fatal(err)
				}
				ws := make([]float32, wc.WorkspaceSize())
				for b.Loop() {
					wc.ForwardWorkspace(x, y, nil, ws)
				}
				rate(b)
			})
		}
		b.Run(name+"/backward_data", func(b *testing.B) {
			for b.Loop() {
				Conv2dBackwardData(&p, y, w, dx)
			}
			rate(b)
		})
		b.Run(name+"/backward_weight", func(b *testing.B) {
			for b.Loop() {
				Conv2dBackwardWeight(&p, x, y, dw, nil)
			}
			rate(b)
		})
	}
}
