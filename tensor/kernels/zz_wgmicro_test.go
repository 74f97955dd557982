package kernels

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

func minTime(trials, reps int, f func()) time.Duration {
	best := time.Duration(1 << 62)
	for t := 0; t < trials; t++ {
		a := threadCPU()
		for i := 0; i < reps; i++ {
			f()
		}
		if d := (threadCPU() - a) / time.Duration(reps); d < best {
			best = d
		}
	}
	return best
}

func TestZZWgMicro(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l := fmaPeakLoops()[0]
	d := minTime(20, 1, func() { l.fn(100000) })
	peak := 100000 * float64(l.flops) / d.Seconds() / 1e9
	ghz := peak / 16 // assume 2 FMA/cycle x 8 lanes
	t.Logf("FMA peak %.1f GFLOP/s (=> %.2f GHz if 32 flop/cycle: %.2f)", peak, ghz, peak/32)
	rng := rand.New(rand.NewPCG(1, 2))
	im := wgAsmKernels()
	for _, m := range []int{4, 2} {
		a := m + 2
		ld := 8*m*8 + 8
		src := convRand(rng, a*ld)
		xis := 64*16 + 16
		dst := make([]float32, a*a*xis+64)
		d := minTime(20, 1000, func() {
			for g := 0; g < 8; g++ {
				im.input(m, src[g*8*m:], ld, dst[g*8:], xis)
			}
		})
		t.Logf("input F%d: %.1f ns/group", m, float64(d.Nanoseconds())/8)
		d = minTime(20, 1000, func() {
			for g := 0; g < 8; g++ {
				im.output(m, dst[g*8:], xis, src[g*8*m:], ld)
			}
		})
		t.Logf("output F%d: %.1f ns/group", m, float64(d.Nanoseconds())/8)
		d = minTime(20, 1000, func() {
			for g := 0; g < 8; g++ {
				wgGeneric.input(m, src[g*8*m:], ld, dst[g*8:], xis)
			}
		})
		t.Logf("Go input F%d: %.1f ns/group", m, float64(d.Nanoseconds())/8)
	}
	for _, k := range []int{64, 256, 512} {
		u := convRand(rng, k*6)
		v := convRand(rng, k*16)
		mm := make([]float32, 6*64)
		vv := convRand(rng, 4*k*16)
		d4 := minTime(20, 200, func() { im.gemm(k, u, vv, mm, 64, 64, k*16) })
		t.Logf("gemm6x64 k=%d: %.0f ns = %.0f%% of peak", k, float64(d4.Nanoseconds()), 100*float64(2*6*64*k)/d4.Seconds()/1e9/peak)
		d8 := minTime(20, 200, func() { im.gemm(k, u, v, mm, 64, 8, 0) })
		t.Logf("gemm6x8 k=%d: %.0f ns = %.0f%% of peak", k, float64(d8.Nanoseconds()), 100*float64(2*6*8*k)/d8.Seconds()/1e9/peak)
		d := minTime(20, 200, func() { im.gemm(k, u, v, mm, 64, 16, 0) })
		t.Logf("gemm6x16 k=%d: %.0f ns = %.0f%% of peak", k, float64(d.Nanoseconds()), 100*float64(2*6*16*k)/d.Seconds()/1e9/peak)
	}
	dst := make([]float32, 224)
	src := convRand(rng, 224)
	d = minTime(20, 1000, func() { im.epi(dst, src, nil, 1, ActReLU) })
	t.Logf("epi 224: %.1f ns", float64(d.Nanoseconds()))
}
