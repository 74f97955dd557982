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
// of SgemmSerial. TUNEK=1 runs TestTuneKernel: the main micro-kernel alone
// on L1-resident panels, against the FMA peak loop.

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
	im := gemmActive
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
		for round := 0; round < 7; round++ {
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
			fmt.Fprintf(&sb, "  %s=%d %.1f GFLOP/s", field, v, 2*float64(m*n*k)/best[ci].Seconds()/1e9)
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
	im := gemmActive
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
