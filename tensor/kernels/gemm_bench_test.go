package kernels

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Run with e.g.
//
//	go test -run '^$' -bench 'FMAPeak|Sgemm' -benchtime=200ms ./tensor/kernels/
//
// Every GEMM benchmark reports GFLOP/s and, where an FMA peak loop exists,
// %peak: GFLOP/s as a percentage of one core's measured FMA peak times the
// number of workers the call uses.

// BenchmarkFMAPeak runs 12 independent VFMADD231PS chains: the machine's
// single-core FMA peak (ymm and, where the CPU has AVX-512, zmm).
func BenchmarkFMAPeak(b *testing.B) {
	loops := fmaPeakLoops()
	if len(loops) == 0 {
		b.Skip("no FMA peak loop on this CPU/build")
	}
	for _, l := range loops {
		b.Run(l.name, func(b *testing.B) {
			const iters = 100000
			for b.Loop() {
				l.fn(iters)
			}
			b.ReportMetric(float64(b.N)*iters*float64(l.flops)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

var peakOnce struct {
	sync.Once
	gflops float64 // single core, ymm (the default kernel's width)
}

// corePeak measures one core's ymm FMA peak in GFLOP/s (0 if unknown).
func corePeak() float64 {
	peakOnce.Do(func() {
		loops := fmaPeakLoops()
		if len(loops) == 0 {
			return
		}
		l := loops[0]
		if gemmActive.Load().name == "avx512" && len(loops) > 1 {
			l = loops[1]
		}
		const iters = 200000
		for range 5 {
			t := time.Now()
			l.fn(iters)
			g := iters * float64(l.flops) / time.Since(t).Seconds() / 1e9
			peakOnce.gflops = max(peakOnce.gflops, g)
		}
	})
	return peakOnce.gflops
}

type benchShape struct {
	name    string
	m, n, k int
}

func benchShapes() []benchShape {
	l := []benchShape{}
	for _, s := range []int{256, 512, 1024, 2048} {
		l = append(l, benchShape{fmt.Sprintf("square%d", s), s, s, s})
	}
	// ResNet-50 convolutions as GEMMs: m = Cout, n = H*W, k = Cin*kh*kw.
	for _, s := range [][3]int{
		{64, 3136, 64}, {64, 3136, 576}, {256, 3136, 64},
		{128, 784, 1152}, {512, 784, 128},
		{256, 196, 2304}, {1024, 196, 256},
		{512, 49, 4608}, {2048, 49, 512},
	} {
		l = append(l, benchShape{fmt.Sprintf("conv%dx%dx%d", s[0], s[1], s[2]), s[0], s[1], s[2]})
	}
	return l
}

func benchGemm(b *testing.B, s benchShape, transA, transB, par bool) {
	r := rand.New(rand.NewPCG(1, 2))
	a := randSlice(r, s.m*s.k)
	bb := randSlice(r, s.k*s.n)
	c := make([]float32, s.m*s.n)
	lda, ldb := s.k, s.n
	if transA {
		lda = s.m
	}
	if transB {
		ldb = s.k
	}
	f := SgemmSerial
	workers := 1
	if par {
		f = Sgemm
		workers = Workers()
	}
	f(transA, transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) // warm buffers
	for b.Loop() {
		f(transA, transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	gf := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gf, "GFLOP/s")
	if p := corePeak(); p > 0 {
		b.ReportMetric(100*gf/(p*float64(workers)), "%peak")
	}
}

// BenchmarkSgemm: the default implementation, one worker (SgemmSerial) and
// all workers (Sgemm).
func BenchmarkSgemm(b *testing.B) {
	b.Logf("GEMM %s, %d workers, core FMA peak %.1f GFLOP/s", gemmActive.Load().name, Workers(), corePeak())
	for _, mode := range []string{"serial", "parallel"} {
		for _, s := range benchShapes() {
			b.Run(mode+"/"+s.name, func(b *testing.B) {
				benchGemm(b, s, false, false, mode == "parallel")
			})
		}
	}
}

// BenchmarkSgemmTrans: the transposed layouts of backpropagation (dW = dY
// col^T, dcol = W^T dY), serial.
func BenchmarkSgemmTrans(b *testing.B) {
	for _, s := range []benchShape{{"square1024", 1024, 1024, 1024}, {"conv64x3136x576", 64, 3136, 576}} {
		for _, tr := range transCombos[1:] {
			b.Run(fmt.Sprintf("tA=%v,tB=%v/%s", tr[0], tr[1], s.name), func(b *testing.B) {
				benchGemm(b, s, tr[0], tr[1], false)
			})
		}
	}
}

// BenchmarkSgemmImpl: every implementation this CPU runs, serial, on a few
// shapes (the generic one is CONVNET_KERNELS=generic).
func BenchmarkSgemmImpl(b *testing.B) {
	for _, im := range testImpls() {
		for _, s := range []benchShape{{"square512", 512, 512, 512}, {"conv64x3136x576", 64, 3136, 576}} {
			b.Run(im.name+"/"+s.name, func(b *testing.B) {
				withImpl(im, func() { benchGemm(b, s, false, false, false) })
			})
		}
	}
}
