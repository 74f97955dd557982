package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// MobileNetV2's and ShuffleNetV2's depthwise 3x3 layers, batch 1: the new
// kernel (bias and ReLU6 fused) against the plain depthwise kernel
// (Conv2dForward's path, bias only) in the same run.
//
//	go test -run XXX -bench Depthwise -benchtime 200ms ./tensor/kernels/
var dwBenchShapes = []struct{ c, hw, s int }{
	{32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {192, 28, 1}, {384, 14, 1}, {960, 7, 1},
}

func BenchmarkDepthwise3x3(b *testing.B) {
	for _, s := range dwBenchShapes {
		p := dwParams(1, s.c, s.hw, s.hw, s.s)
		rng := rand.New(rand.NewPCG(1, 1))
		x, w := reluRand(rng, p.C*p.H*p.W), convRand(rng, p.C*9)
		bias := convRand(rng, p.C)
		y := make([]float32, p.C*p.OH*p.OW)
		ep := &Epilogue{Bias: bias, Act: ActReLU6}
		name := fmt.Sprintf("c%d_%d_s%d", s.c, s.hw, s.s)
		b.Run(name+"/plain", func(b *testing.B) {
			for b.Loop() {
				depthwiseForward(&p, x, w, bias, y)
			}
			b.ReportMetric(p.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for impl, k := range dwImpls() {
			b.Run(name+"/"+impl, func(b *testing.B) {
				oldI, oldC := dwImpl, dwCopy
				dwImpl, dwCopy = k.plane, k.copy
				defer func() { dwImpl, dwCopy = oldI, oldC }()
				for b.Loop() {
					DepthwiseConv3x3(&p, x, w, y, ep)
				}
				b.ReportMetric(p.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
