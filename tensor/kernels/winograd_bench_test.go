package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The 3x3 stride-1 layers of VGG16 and ResNet-18/34, batch 1 (and
// ResNet's small ones at batch 16). Every
// algorithm reports effective GFLOP/s: the direct convolution's
// 2*K*C*9*OH*OW flops per second, so numbers compare as speed.
//
//	go test -run XXX -bench Winograd -benchtime 200ms ./tensor/kernels/
var wgBenchShapes = []struct {
	name        string
	c, hw, k, n int
}{
	{"vgg_64_224", 64, 224, 64, 1},
	{"vgg_128_112", 128, 112, 128, 1},
	{"vgg_256_56", 256, 56, 256, 1},
	{"vgg_512_28", 512, 28, 512, 1},
	{"vgg_512_14", 512, 14, 512, 1},
	{"resnet_64_56", 64, 56, 64, 1},
	{"resnet_128_28", 128, 28, 128, 1},
	{"resnet_256_14", 256, 14, 256, 1},
	{"resnet_512_7", 512, 7, 512, 1},
	{"resnet_256_14_b16", 256, 14, 256, 16},
	{"resnet_512_7_b16", 512, 7, 512, 16},
}

// BenchmarkWinograd runs im2col+GEMM (Conv2dForward, bias added in a
// separate pass), F(2x2,3x3) and F(4x4,3x3) (bias and ReLU fused) on each
// shape in one run.
func BenchmarkWinograd(b *testing.B) {
	for _, s := range wgBenchShapes {
		p := wgCase{s.n, s.c, s.hw, s.hw, s.k, 1}.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := reluRand(rng, p.N*p.C*p.H*p.W)
		w := kaiming(rng, p.Cout, p.C)
		bias := convRand(rng, p.Cout)
		y := make([]float32, p.N*p.Cout*p.OH*p.OW)
		ep := &Epilogue{Bias: bias, Act: ActReLU}
		b.Run(s.name+"/im2col_gemm", func(b *testing.B) {
			Conv2dForward(&p, x, w, bias, y)
			for b.Loop() {
				Conv2dForward(&p, x, w, bias, y)
			}
			b.ReportMetric(p.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, v := range []struct {
			tile int
			junk bool
		}{{2, false}, {4, false}, {2, true}, {4, true}} {
			name := fmt.Sprintf("%s/F%dx%d", s.name, v.tile, v.tile)
			if v.junk {
				// A junk slot per tile row, as before junkFree.
				name += "_junk"
			}
			b.Run(name, func(b *testing.B) {
				defer func(old bool) { wgJunkFree = old }(wgJunkFree)
				wgJunkFree = !v.junk
				wc, err := NewWinogradConv(&p, w, v.tile)
				if err != nil {
					b.Fatal(err)
				}
				ws := make([]float32, wc.WorkspaceSize())
				wc.ForwardWorkspace(x, y, ep, ws)
				for b.Loop() {
					wc.ForwardWorkspace(x, y, ep, ws)
				}
				b.ReportMetric(p.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
