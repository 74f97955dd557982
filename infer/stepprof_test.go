package infer

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/convnet/convnet/tensor"
)

// TestStepProfile prints where a plan's time goes, step by step: the
// median over a few runs of each step, and the totals per kind of step
// (the algorithm of a convolution, or the operation). It is a tool, not a
// test: it runs only when CONVNET_STEPPROF names the models, e.g.
//
//	CONVNET_STEPPROF=resnet50,vgg16 CONVNET_STEPPROF_BATCH=16 go test ./infer -run StepProfile -v
//
// CONVNET_STEPPROF_WARM=1 also runs every step a second time straight
// after the first and prints that time too: the gap is what the step
// pays, in a real pass, to bring its weights and operands into cache.
func TestStepProfile(t *testing.T) {
	names := os.Getenv("CONVNET_STEPPROF")
	if names == "" {
		t.Skip("set CONVNET_STEPPROF=model[,model...] to profile plans step by step")
	}
	batch := 1
	if b, err := strconv.Atoi(os.Getenv("CONVNET_STEPPROF_BATCH")); err == nil && b > 0 {
		batch = b
	}
	runs := 7
	if r, err := strconv.Atoi(os.Getenv("CONVNET_STEPPROF_RUNS")); err == nil && r > 0 {
		runs = r
	}
	warm := os.Getenv("CONVNET_STEPPROF_WARM") != ""
	top := 25 // steps listed, the slowest first (CONVNET_STEPPROF_TOP)
	if n, err := strconv.Atoi(os.Getenv("CONVNET_STEPPROF_TOP")); err == nil && n > 0 {
		top = n
	}
	tuneLog = func(s string) { t.Log("tune: " + s) }
	defer func() { tuneLog = nil }()
	for _, name := range strings.Split(names, ",") {
		m := newModel(t, name, 1)
		shape := []int{batch, 3, 224, 224}
		t0 := time.Now()
		p, err := Compile(m, shape)
		if err != nil {
			t.Fatal(err)
		}
		compile := time.Since(t0)
		header := fmt.Sprintf("%s batch %d", name, batch)
		if p.sub != nil {
			// Profile one pass; Run does batch/b of them.
			header += fmt.Sprintf(" (one pass of %d images on 1 of %d workers)", p.sub.input[0], len(p.slots))
			p = p.sub
			shape = p.input
		}
		x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), shape...)
		copy(p.in, x.Data)
		times := make([][]float64, len(p.steps))
		again := make([][]float64, len(p.steps))
		for r := 0; r < runs+1; r++ {
			for i, s := range p.steps {
				t1 := time.Now()
				if err := s.run(); err != nil {
					t.Fatal(err)
				}
				if r > 0 { // the first run warms up
					times[i] = append(times[i], float64(time.Since(t1).Nanoseconds())/1e6)
				}
				if warm {
					// Again at once: the weights and operands are in
					// cache, so the difference is what the step pays
					// for fetching them in a real pass.
					t1 = time.Now()
					if err := s.run(); err != nil {
						t.Fatal(err)
					}
					if r > 0 {
						again[i] = append(again[i], float64(time.Since(t1).Nanoseconds())/1e6)
					}
				}
			}
		}
		med, medAgain := make([]float64, len(p.steps)), make([]float64, len(p.steps))
		total, totalAgain := 0.0, 0.0
		kinds := map[string]float64{}
		for i, ts := range times {
			sort.Float64s(ts)
			med[i] = ts[len(ts)/2]
			total += med[i]
			kinds[stepKind(p.steps[i])] += med[i]
			if warm {
				sort.Float64s(again[i])
				medAgain[i] = again[i][len(again[i])/2]
				totalAgain += medAgain[i]
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %.2f ms (sum of step medians), compile %v\n", header, total, compile.Round(time.Millisecond))
		if warm {
			fmt.Fprintf(&b, "  each step run again at once (warm): %.2f ms; the 'warm' column\n", totalAgain)
		}
		order := make([]int, len(med))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, c int) bool { return med[order[a]] > med[order[c]] })
		for _, i := range order[:min(top, len(order))] {
			gf := ""
			if cs, ok := p.steps[i].(*convStep); ok {
				gf = fmt.Sprintf("%6.1f GF/s", cs.p.Flops()/med[i]/1e6)
			}
			w := ""
			if warm {
				w = fmt.Sprintf(" warm %7.3f", medAgain[i])
			}
			fmt.Fprintf(&b, "  %7.3f ms %5.1f%%%s %s  %s\n", med[i], 100*med[i]/total, w, gf, p.steps[i].describe())
		}
		var ks []string
		for k := range kinds {
			ks = append(ks, k)
		}
		sort.Slice(ks, func(a, c int) bool { return kinds[ks[a]] > kinds[ks[c]] })
		for _, k := range ks {
			fmt.Fprintf(&b, "  kind %-22s %8.3f ms %5.1f%%\n", k, kinds[k], 100*kinds[k]/total)
		}
		t.Log("\n" + b.String())
	}
}

// stepKind names a step's kind for the totals: a convolution's algorithm
// and kernel shape, else the kind of operation.
func stepKind(s step) string {
	switch s := s.(type) {
	case *convStep:
		if s.algo == algoWinograd {
			return fmt.Sprintf("conv %dx%d/%d winograd F%d", s.p.KH, s.p.KW, s.p.SH, s.wino.wc.Tile())
		}
		return fmt.Sprintf("conv %dx%d/%d %s", s.p.KH, s.p.KW, s.p.SH, s.algo)
	case *linearStep:
		return "linear"
	case *poolStep:
		return "pool"
	case *affineStep:
		return "affine"
	case *addStep:
		return "add"
	case *copyStep:
		return "copy"
	}
	return "other"
}
