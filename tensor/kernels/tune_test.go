//go:build linux

package kernels

// A tuning harness for the GEMM blocking, skipped unless asked for. It
// times with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), which is far
// steadier than wall time on a shared machine, alternates the settings
// under comparison and keeps the best of seven rounds of each:
//
//	TUNE=kc=192,256,384 SHAPES='1024,1024,1024;64,3136,576' \
//	    go test -run TestTune -v ./tensor/kernels/
//
// TUNE fields: mc, kc, nb (nBudget), l2, direct (0/1: in-place A for narrow
// n), none (just time the shapes). PAR=1 times Sgemm (wall clock) instead
// of SgemmSerial; PAR=cpu times Sgemm by the process's CPU time, that is
// GFLOP/s per busy core, which shows the parallel overhead (packing done
// twice, waiting) even on a machine too busy for wall-clock speed-ups. TUNEK=1 runs TestTuneKernel: the main micro-kernel alone
// on L1-resident panels, against the FMA peak loop. SPEEDUP=1 runs
// TestTuneSpeedup: SgemmSerial against Sgemm, wall clock.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// threadCPU is the calling thread's CPU time (lock the goroutine to its
// thread around a measurement).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0) // CLOCK_THREAD_CPUTIME_ID
	return time.Duration(ts.Nano())
}

func TestTune(t *testing.T) {
	spec := os.Getenv("TUNE")
	if spec == "" {
		t.Skip("set TUNE to run")
	}
	im := gemmActive.Load()
	orig := *im
	origDirect := gemmDirectA
	defer func() { *im, gemmDirectA = orig, origDirect }()
	field, vals, _ := strings.Cut(spec, "=")
	var cfgs []int
	for _, v := range strings.Split(vals, ",") {
		x, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("TUNE: %v", err)
		}
		cfgs = append(cfgs, x)
	}
	set := func(v int) {
		*im, gemmDirectA = orig, origDirect
		switch field {
		case "mc":
			im.mc = v
		case "kc":
			im.kc = v
		case "nb":
			im.nBudget = v
		case "l2":
			im.l2 = v
		case "direct":
			gemmDirectA = v == 1
		case "none":
		default:
			t.Fatalf("TUNE: unknown field %q", field)
		}
	}
	par := os.Getenv("PAR") != ""
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now := threadCPU
	f := SgemmSerial
	if par {
		now = func() time.Duration { return time.Duration(time.Now().UnixNano()) }
		f = Sgemm
		if os.Getenv("PAR") == "cpu" {
			// CPU time of the whole process: GFLOP/s per busy core.
			now = func() time.Duration {
				var ru syscall.Rusage
				syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
		}
	}
	shapes := os.Getenv("SHAPES")
	if shapes == "" {
		shapes = "1024,1024,1024"
	}
	for _, sh := range strings.Split(shapes, ";") {
		var d [3]int
		for i, x := range strings.Split(sh, ",") {
			d[i], _ = strconv.Atoi(x)
		}
		m, n, k := d[0], d[1], d[2]
		r := rand.New(rand.NewPCG(1, 2))
		a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		best := make([]time.Duration, len(cfgs))
		reps := max(1, int(1e9/(2*float64(m*n*k)))) // about 10 ms per round
		peak := 0.0                                 // interleaved FMA peak, GFLOP/s of one core
		loops := fmaPeakLoops()
		for round := 0; round < 7; round++ {
			if len(loops) > 0 {
				const it = 200000
				st := threadCPU()
				loops[0].fn(it)
				peak = max(peak, it*float64(loops[0].flops)/(threadCPU()-st).Seconds()/1e9)
			}
			for ci, v := range cfgs {
				set(v)
				f(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				st := now()
				for range reps {
					f(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				}
				el := (now() - st) / time.Duration(reps)
				if best[ci] == 0 || el < best[ci] {
					best[ci] = el
				}
			}
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %dx%dx%d:", im.name, m, n, k)
		for ci, v := range cfgs {
			gf := 2 * float64(m*n*k) / best[ci].Seconds() / 1e9
			fmt.Fprintf(&sb, "  %s=%d %.1f GFLOP/s", field, v, gf)
			if peak > 0 && !par {
				fmt.Fprintf(&sb, " (%.1f%% of %.1f)", 100*gf/peak, peak)
			}
		}
		t.Log(sb.String())
	}
}

func TestTuneKernel(t *testing.T) {
	if os.Getenv("TUNEK") == "" {
		t.Skip("set TUNEK to run")
	}
	loops := fmaPeakLoops()
	if len(loops) == 0 {
		t.Skip("no FMA peak loop")
	}
	im := gemmActive.Load()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, kc := range []int{64, 128, 256, 384} {
		pa := alignedFloats(im.mr * kc)
		pb := alignedFloats(im.nr * kc)
		c := alignedFloats(im.mr * im.nr)
		var best, bestPeak time.Duration
		const reps = 20000
		for round := 0; round < 7; round++ {
			st := threadCPU()
			for range reps {
				im.kerns[0](kc, &pa[0], &pb[0], &c[0], im.nr, im.mr, 1, 1)
			}
			if el := threadCPU() - st; best == 0 || el < best {
				best = el
			}
			st = threadCPU()
			loops[0].fn(reps * kc / 2)
			if el := threadCPU() - st; bestPeak == 0 || el < bestPeak {
				bestPeak = el
			}
		}
		g := float64(reps) * float64(im.mr*im.nr*2*kc) / best.Seconds() / 1e9
		p := float64(reps*kc/2) * float64(loops[0].flops) / bestPeak.Seconds() / 1e9
		t.Logf("%s kc=%d: kernel %.1f GFLOP/s, %s peak %.1f, %.1f%%", im.name, kc, g, loops[0].name, p, 100*g/p)
	}
}

// TestTuneSpeedup (SPEEDUP=1) alternates SgemmSerial and Sgemm on the
// benchmark shapes and prints the best wall-clock time of each: the
// parallel speed-up, when the machine has idle cores to give.
func TestTuneSpeedup(t *testing.T) {
	if os.Getenv("SPEEDUP") == "" {
		t.Skip("set SPEEDUP to run")
	}
	for _, s := range benchShapes() {
		m, n, k := s.m, s.n, s.k
		r := rand.New(rand.NewPCG(1, 2))
		a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		var bs, bp time.Duration
		for round := 0; round < 25; round++ {
			st := time.Now()
			SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			if e := time.Since(st); bs == 0 || e < bs {
				bs = e
			}
			st = time.Now()
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			if e := time.Since(st); bp == 0 || e < bp {
				bp = e
			}
		}
		gf := 2 * float64(m*n*k) / 1e9
		t.Logf("%-18s serial %6.1f  parallel (%d workers) %6.1f GFLOP/s  speed-up %.2f",
			s.name, gf/bs.Seconds(), Workers(), gf/bp.Seconds(), float64(bs)/float64(bp))
	}
}
