package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPackedConv times PackedConv on the zoo's GEMM-shaped layers
// (bias and ReLU fused), batch 1, reporting the direct convolution's
// GFLOP/s.
//
//	go test -run '^$' -bench PackedConv ./tensor/kernels/
func BenchmarkPackedConv(b *testing.B) {
	for _, s := range []struct {
		name string
		c    convCase
	}{
		{"1x1_256-256@56", convCase{n: 1, c: 256, h: 56, w: 56, cout: 256, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_64-256@56", convCase{n: 1, c: 64, h: 56, w: 56, cout: 256, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_16-96@112", convCase{n: 1, c: 16, h: 112, w: 112, cout: 96, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_32-16@112", convCase{n: 1, c: 32, h: 112, w: 112, cout: 16, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_96-24@56", convCase{n: 1, c: 96, h: 56, w: 56, cout: 24, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_144-24@56", convCase{n: 1, c: 144, h: 56, w: 56, cout: 24, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_24-144@56", convCase{n: 1, c: 24, h: 56, w: 56, cout: 144, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_192-32@28", convCase{n: 1, c: 192, h: 28, w: 28, cout: 32, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_384-64@14", convCase{n: 1, c: 384, h: 14, w: 14, cout: 64, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_58-58@28", convCase{n: 1, c: 58, h: 28, w: 28, cout: 58, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_116-116@14", convCase{n: 1, c: 116, h: 14, w: 14, cout: 116, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_576-96@14", convCase{n: 1, c: 576, h: 14, w: 14, cout: 96, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_960-320@7", convCase{n: 1, c: 960, h: 7, w: 7, cout: 320, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_512-1000@13", convCase{n: 1, c: 512, h: 13, w: 13, cout: 1000, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1_128-16@55", convCase{n: 1, c: 128, h: 55, w: 55, cout: 16, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"3x3s2p0_3-64@224", convCase{n: 1, c: 3, h: 224, w: 224, cout: 64, kh: 3, kw: 3, s: 2, d: 1, g: 1}},
		{"3x3s2_3-32@224", convCase{n: 1, c: 3, h: 224, w: 224, cout: 32, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1}},
		{"1x1_1024-256@14", convCase{n: 1, c: 1024, h: 14, w: 14, cout: 256, kh: 1, kw: 1, s: 1, d: 1, g: 1}},
		{"1x1s2_256-512@56", convCase{n: 1, c: 256, h: 56, w: 56, cout: 512, kh: 1, kw: 1, s: 2, d: 1, g: 1}},
		{"7x7s2_3-64@224", convCase{n: 1, c: 3, h: 224, w: 224, cout: 64, kh: 7, kw: 7, s: 2, p: 3, d: 1, g: 1}},
		{"3x3s2_128-128@56", convCase{n: 1, c: 128, h: 56, w: 56, cout: 128, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1}},
		{"3x3s2_512-512@14", convCase{n: 1, c: 512, h: 14, w: 14, cout: 512, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1}},
		{"3x3_512-512@7", convCase{n: 1, c: 512, h: 7, w: 7, cout: 512, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1}},
		{"3x3_256-256@14", convCase{n: 1, c: 256, h: 14, w: 14, cout: 256, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1}},
	} {
		for _, inPlace := range []bool{false, true} {
			name := s.name
			if s.c.kh*s.c.kw == 1 && s.c.s == 1 {
				name += map[bool]string{false: "/packed", true: "/inplace"}[inPlace]
			} else if inPlace {
				continue
			}
			benchPackedConv(b, name, s.c, inPlace)
		}
	}
}

// benchPackedConv times one shape; inPlace lets 1x1 layers read their B
// panels in place whatever their rows per task (false: always packed).
func benchPackedConv(b *testing.B, name string, c convCase, inPlace bool) {
	b.Run(name, func(b *testing.B) {
		old := pcInPlaceRows
		pcInPlaceRows = 0
		if inPlace {
			pcInPlaceRows = 1 << 30
		}
		defer func() { pcInPlaceRows = old }()
		p := c.params()
		rng := rand.New(rand.NewPCG(1, 1))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.Cout*p.C/p.Groups*p.KH*p.KW)
		ep := &Epilogue{Bias: convRand(rng, p.Cout), Act: ActReLU}
		pc, err := NewPackedConv(&p, w)
		if err != nil {
			b.Fatal(err)
		}
		ws := make([]float32, pc.WorkspaceSize())
		y := make([]float32, p.N*p.Cout*p.OH*p.OW)
		xl, yl := DenseLayout(p.C, p.H*p.W), DenseLayout(p.Cout, p.OH*p.OW)
		pc.Run(p.N, x, xl, y, yl, ep, Layout{}, ws)
		benchMin(b, p.Flops(), func() { pc.Run(p.N, x, xl, y, yl, ep, Layout{}, ws) })
	})
}

// benchMin runs f b.N times and reports GFLOP/s of the fastest run: on a
// shared machine the minimum is the time least disturbed by other
// processes (the mean is in ns/op).
func benchMin(b *testing.B, flops float64, f func()) {
	b.Helper()
	best := time.Duration(1 << 62)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		f()
		best = min(best, time.Since(t))
	}
	b.ReportMetric(float64(best.Nanoseconds())/1e6, "min-ms")
	b.ReportMetric(flops/best.Seconds()/1e9, "GFLOP/s")
}

// BenchmarkPackedConvKernel is the micro-kernel alone on L1-resident
// panels: its ceiling against the FMA peak.
func BenchmarkPackedConvKernel(b *testing.B) {
	for _, k := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("k%d", k), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			a, bp := convRand(rng, k*pcMR), convRand(rng, k*pcNR)
			c := make([]float32, pcMR*pcNR)
			bias, res := make([]float32, pcMR), make([]float32, pcNR)
			for b.Loop() {
				for i := 0; i < 100; i++ {
					pcImpl.kernel(pcNR, k, 1, a, bp, pcNR, c, pcNR, pcMR, true, bias, res, 0, -1, 1)
				}
			}
			b.ReportMetric(2*float64(k*pcMR*pcNR)*100*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
