//go:build amd64 && !noasm

package kernels

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

func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0) // CLOCK_THREAD_CPUTIME_ID
	return time.Duration(ts.Nano())
}

// TestTune: TUNE="field=v1,v2;..." SHAPES="m,n,k;..." alternates configs, prints best GFLOP/s.
func TestTune(t *testing.T) {
	spec := os.Getenv("TUNE")
	if spec == "" {
		t.Skip()
	}
	im := gemmActive
	orig := *im
	defer func() { *im = orig }()
	field, vals, _ := strings.Cut(spec, "=")
	var cfgs []int
	for _, v := range strings.Split(vals, ",") {
		x, _ := strconv.Atoi(v)
		cfgs = append(cfgs, x)
	}
	set := func(v int) {
		*im = orig
		switch field {
		case "mc":
			im.mc = v
		case "kc":
			im.kc = v
		case "nb":
			im.nBudget = v
		case "direct":
			gemmDirectA = v == 1
		case "none":
		}
	}
	par := os.Getenv("PAR") != ""
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now := threadCPU
	if par {
		now = func() time.Duration { return time.Duration(time.Now().UnixNano()) }
	}
	for _, sh := range strings.Split(os.Getenv("SHAPES"), ";") {
		var d [3]int
		for i, x := range strings.Split(sh, ",") {
			d[i], _ = strconv.Atoi(x)
		}
		m, n, k := d[0], d[1], d[2]
		r := rand.New(rand.NewPCG(1, 2))
		a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		best := make([]time.Duration, len(cfgs))
		reps := max(1, int(1e9/(2*float64(m*n*k)))) // ~ 10 ms per rep
		for round := 0; round < 7; round++ {
			for ci, v := range cfgs {
				set(v)
				f := SgemmSerial
				if par {
					f = Sgemm
				}
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
		fmt.Fprintf(&sb, "%dx%dx%d:", m, n, k)
		for ci, v := range cfgs {
			fmt.Fprintf(&sb, "  %s=%d %.1f", field, v, 2*float64(m*n*k)/best[ci].Seconds()/1e9)
		}
		t.Log(sb.String())
	}
}

func TestTuneKernel(t *testing.T) {
	if os.Getenv("TUNEK") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, kc := range []int{64, 128, 256, 384, 512} {
		pa := alignedFloats(6 * kc)
		pb := alignedFloats(16 * kc)
		c := alignedFloats(6 * 16)
		var best, bestPeak time.Duration
		const reps = 20000
		for round := 0; round < 7; round++ {
			st := threadCPU()
			for range reps {
				sgemmKernel6x16AVX2(kc, &pa[0], &pb[0], &c[0], 16, 1, 1)
			}
			el := threadCPU() - st
			if best == 0 || el < best {
				best = el
			}
			st = threadCPU()
			fmaPeakAVX2(reps * kc / 2)
			el = threadCPU() - st
			if bestPeak == 0 || el < bestPeak {
				bestPeak = el
			}
		}
		g := float64(reps) * 6 * 16 * 2 * float64(kc) / best.Seconds() / 1e9
		p := float64(reps*kc/2) * 192 / bestPeak.Seconds() / 1e9
		t.Logf("kc=%d kernel %.1f GFLOP/s, peak %.1f, %.1f%%", kc, g, p, 100*g/p)
	}
}
