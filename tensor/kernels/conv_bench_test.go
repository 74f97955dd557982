package kernels

import (
	"math/rand/v2"
	"testing"
)

// The lecture's convolution shapes, batch 1. FLOPs are 2 x multiply-adds
// of the forward pass; backward-data and backward-weight do the same
// number, so all three report comparable GFLOP/s.
//
//	go test -run '^$' -bench Conv2d -benchtime 5x ./tensor/kernels/
var convBenchShapes = []struct {
	name string
	p    ConvParams
}{
	{"alexnet_conv1_227_11x11s4", ConvParams{N: 1, C: 3, H: 227, W: 227, Cout: 96, KH: 11, KW: 11, SH: 4, SW: 4, DH: 1, DW: 1, Groups: 1}},
	{"vgg_3x3_64to64_224", ConvParams{N: 1, C: 64, H: 224, W: 224, Cout: 64, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 1}},
	{"resnet_1x1_256to64_56", ConvParams{N: 1, C: 256, H: 56, W: 56, Cout: 64, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, Groups: 1}},
	{"depthwise_3x3_32_112", ConvParams{N: 1, C: 32, H: 112, W: 112, Cout: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1, Groups: 32}},
}

func benchConv(b *testing.B, pass string) {
	for _, s := range convBenchShapes {
		p := s.p
		p.OH = convOut(p.H, p.KH, p.SH, p.PH, p.DH)
		p.OW = convOut(p.W, p.KW, p.SW, p.PW, p.DW)
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x := convRand(rng, p.N*p.C*p.H*p.W)
			w := convRand(rng, p.Cout*(p.C/p.Groups)*p.KH*p.KW)
			bias := convRand(rng, p.Cout)
			y := convRand(rng, p.N*p.Cout*p.OH*p.OW)
			dx := make([]float32, len(x))
			dw := make([]float32, len(w))
			db := make([]float32, p.Cout)
			run := func() {
				switch pass {
				case "forward":
					Conv2dForward(&p, x, w, bias, y)
				case "backward_data":
					Conv2dBackwardData(&p, y, w, dx)
				case "backward_weight":
					Conv2dBackwardWeight(&p, x, y, dw, db)
				}
			}
			run() // warm the pools and buffers
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
			b.ReportMetric(p.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkConv2dForward(b *testing.B)        { benchConv(b, "forward") }
func BenchmarkConv2dBackwardData(b *testing.B)   { benchConv(b, "backward_data") }
func BenchmarkConv2dBackwardWeight(b *testing.B) { benchConv(b, "backward_weight") }
