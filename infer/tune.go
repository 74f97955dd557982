package infer

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor/kernels"
)

// Choosing the algorithm of a 3x3, stride-1 convolution.
//
// Three candidates compute it: Winograd F(4x4, 3x3) (4x fewer
// multiplications than the direct convolution), F(2x2, 3x3) (2.25x fewer,
// with smaller transforms) and kernels.PackedConv (the direct product). On
// large images F(4x4) wins by far (2 threads, batch 1, Zen 3: 64 channels
// at 56x56 1.5 ms against 2.1 for F(2x2)); on 14x14 and 7x7 outputs the
// 6x6 tiles waste work (a 7x7 output takes four 4x4 tiles, 64 outputs for
// 49) and, at batch 1, the transformed weights (36 planes of Cout x C
// floats, 38 MB at 512 channels) must stream from memory for a handful of
// tiles, so F(2x2) (16 planes) or the direct product (the weights once)
// can be faster. Which one depends on the machine, the batch and the
// channels, so where it is close the compiler times the candidates on the
// layer's own shape, and remembers the answer per shape for the process.
// Measured so (best of the rounds, ms, 2 busy Zen 3 cores; before the
// Winograd kernels dropped the junk slot per tile row where they can,
// which made F(4x4) at 14x14 and both tiles at 7x7 cheaper, so that
// F(4x4) now often wins ResNet's 14x14 layers):
//
//	layer                      batch   F(4x4)  F(2x2)  packed   chosen
//	ResNet 512->512 at 7x7       1      4.25    3.07    3.95    F(2x2)
//	ResNet 256->256 at 14x14     1      1.88    1.59    3.12    F(2x2)
//	VGG 512->512 at 14x14        1      7.01    6.19   12.08    F(2x2)
//	DenseNet 128->32 at 7x7      1      0.110   0.159   0.187   F(4x4)
//	SqueezeNet 64->256 at 13x13  1      0.503   0.484   0.669   F(2x2)
//	ResNet 256->256 at 14x14    16     22.5    25.0    48.5     F(4x4)
//	ResNet 512->512 at 7x7      16     25.7    36.5    57.4     F(4x4)
//
// A resnet50 compile at batch 1 spends about 100 ms timing its two
// measured shapes.

// measureBelow is the number of output pixels per channel (batch x OH x
// OW) under which the candidates are timed; from it up F(4x4) is chosen
// without measuring. It won every layer of the zoo there (2 threads, Zen
// 3): by 1.4x or more at 28x28 and up, batch 1; by 1.1x (14x14) and 1.4x
// (7x7) on ResNet's layers at batch 16, where enough tiles share each
// transformed weight.
const measureBelow = 28 * 28

// tuneBudget bounds the time spent timing one shape's candidates once
// each has been timed twice (after a warm-up run), in at most tuneRounds
// rounds.
const (
	tuneBudget = 100 * time.Millisecond
	tuneRounds = 8
)

type tuneKey struct {
	p            kernels.ConvParams
	workers      int
	res, perImg  bool
	xcs, ycs, bs int // layouts: the strided and per-image paths cost more
}

var tuneCache struct {
	sync.Mutex
	m map[tuneKey]int
}

// tuneLog, when set (by tests), receives one line per measured shape.
var tuneLog func(string)

// ruleTile is the choice without measuring: F(4x4) from measureBelow up,
// F(2x2) below, where it was faster on most zoo layers (batch 1: ResNet's
// and VGG's 14x14 and 7x7 layers by 1.1-1.4x; DenseNet's cheap 128->32 at
// 7x7 is the exception).
func ruleTile(p *kernels.ConvParams) int {
	if p.N*p.OH*p.OW >= measureBelow {
		return 4
	}
	return 2
}

// lowerWinograd gives a 3x3 stride-1 convolution its Winograd kernel,
// with the tile chosen by configuration, rule or measurement, or sends it
// to the packed GEMM (s.algo = algoPacked) when that was measured faster or
// the layout does not suit the Winograd kernel.
func (c *compiler) lowerWinograd(s *convStep) {
	tile := c.cfg.wgTile
	if tile == 0 {
		if !c.cfg.measure || s.p.N*s.p.OH*s.p.OW >= measureBelow {
			tile = ruleTile(&s.p)
		} else {
			var w *winograd
			var pc *kernels.PackedConv
			tile, w, pc = c.measureTile(s)
			switch {
			case tile == 0 && pc != nil:
				s.algo, s.pc = algoPacked, pc
				return
			case tile != 0 && w != nil:
				s.wino = w
				return
			}
		}
	}
	if tile != 0 {
		if s.wino = newWinograd(s, tile); s.wino != nil {
			return
		}
	}
	s.algo = algoPacked
}

// measureTile returns the fastest of F(4x4), F(2x2) and the packed GEMM
// (tile 0) for s, with the kernel it built for the winner (nil on a cache
// hit).
func (c *compiler) measureTile(s *convStep) (int, *winograd, *kernels.PackedConv) {
	key := tuneKey{p: s.p, workers: c.workers, res: s.res != nil, xcs: s.x.l.cs, ycs: s.y.l.cs, bs: s.y.l.bs}
	tuneCache.Lock()
	if t, ok := tuneCache.m[key]; ok {
		tuneCache.Unlock()
		return t, nil, nil
	}
	tuneCache.Unlock()

	type cand struct {
		tile int
		st   convStep
		best time.Duration
	}
	var cands []*cand
	for _, tile := range []int{4, 2} {
		if w := newWinograd(s, tile); w != nil {
			cs := *s
			cs.wino = w
			cands = append(cands, &cand{tile: tile, st: cs})
		}
	}
	if pc, err := kernels.NewPackedConv(&s.p, s.w); err == nil {
		cs := *s
		cs.algo, cs.pc = algoPacked, pc
		cands = append(cands, &cand{tile: 0, st: cs})
	}
	// Scratch operands with the step's layouts, and the largest
	// workspace.
	span := func(o operand) int { return o.l.span(o.shape) }
	x := make([]float32, span(s.x))
	for i := range x {
		x[i] = float32(i%17) * 0.0625
	}
	y := make([]float32, span(s.y))
	var res []float32
	if s.res != nil {
		res = make([]float32, span(*s.res))
	}
	wsMax := 0
	for _, cd := range cands {
		wsMax = max(wsMax, cd.st.workspace())
	}
	ws := make([]float32, wsMax)
	for _, cd := range cands {
		st := &cd.st
		st.xs, st.ys, st.rs, st.ws = x, y, res, ws[:st.workspace()]
		st.fn = nil
		cd.best = time.Duration(math.MaxInt64)
	}
	// Rounds over the candidates, so that a burst of load from other
	// processes hits them alike; the first round warms caches and pages.
	if len(cands) == 0 {
		return ruleTile(&s.p), nil, nil
	}
	start := time.Now()
	live := cands
	for round := 0; round < tuneRounds && len(live) > 1; round++ {
		for _, cd := range live {
			t := time.Now()
			cd.st.run()
			if d := time.Since(t); round > 0 {
				cd.best = min(cd.best, d)
			}
		}
		// Candidates drop out, and timing stops, only once each has its
		// best of two runs: on a busy machine one run can take 3x as long.
		if round < 2 {
			continue
		}
		best := live[0].best
		for _, cd := range live {
			best = min(best, cd.best)
		}
		var keep []*cand
		for _, cd := range live {
			if float64(cd.best) <= 1.3*float64(best) {
				keep = append(keep, cd)
			}
		}
		live = keep
		if time.Since(start) > tuneBudget {
			break
		}
	}
	win := live[0]
	for _, cd := range live {
		if cd.best < win.best {
			win = cd
		}
	}
	if tuneLog != nil {
		line := fmt.Sprintf("%v batch %d %d->%d @%dx%d:", s.label, s.p.N, s.p.C, s.p.Cout, s.p.OH, s.p.OW)
		for _, cd := range cands {
			line += fmt.Sprintf(" F%d %.3f ms", cd.tile, float64(cd.best.Microseconds())/1e3)
		}
		tuneLog(fmt.Sprintf("%s -> F%d (%v)", line, win.tile, time.Since(start).Round(time.Millisecond)))
	}
	tuneCache.Lock()
	if tuneCache.m == nil {
		tuneCache.m = map[tuneKey]int{}
	}
	tuneCache.m[key] = win.tile
	tuneCache.Unlock()
	return win.tile, win.st.wino, win.st.pc
}

// Passes. A batch can run as passes of a few images through a plan
// compiled for them, each worker taking the next pass on its own copy of
// that plan (its own arena). That does two things for batch 16:
//
//   - Layers no longer split across the workers: the parallel loops of a
//     small layer (MobileNet's and ShuffleNet's run in 20-100 us)
//     synchronise the workers once per layer, and on a busy machine every
//     layer waits for its slowest worker. Quiet 2-core scaling of the
//     layer-parallel plans (Xeon, pinned, batch 16): ResNet-50 1.95x,
//     DenseNet-121 1.54x, MobileNetV2 1.46x, ShuffleNet 1.45x,
//     SqueezeNet 1.38x.
//   - The activations of a few images stay in the last-level cache, where
//     a whole batch's stream through memory at every layer. Per image on 2
//     busy Zen 3 cores (32 MiB L3), batch 16 in one pass against the best
//     pass size: MobileNetV2 14.3 against 12.1 ms (2 images), SqueezeNet
//     13.0 against 10.6 (2), ShuffleNet 5.8 against 5.4 (8), DenseNet-121
//     75.9 against 66.5 (2).
//
// Every pass streams the weights again, which costs little for these
// small models. For bigger ones (ResNet-18 and -50: 47 and 102 MB of
// weights) the passes are as large as the workers allow (batch/workers
// images), so the weights stream once per worker; that was as fast as
// one pass or a little faster (quiet Xeon, batch 16: ResNet-50 804
// against 828 ms, ResNet-18 237 against 243). VGG-16's 553 MB (its
// Winograd weights 4x its convolutions') are better streamed once: 1267
// ms in one pass against 1455 in two, so from subBatchOneWeights up the
// batch runs in one pass, its layers split across the workers.
const (
	subBatchMaxWeights = 40 << 20
	subBatchOneWeights = 200 << 20
	subBatchArena      = 16 << 20
)

// chooseSubBatch returns the images per pass for input, and the batch-1
// plan if it compiled one to measure the arena.
func chooseSubBatch(m nn.Module, input []int, cfg config) (int, *Plan, error) {
	n := input[0]
	w := kernels.Workers()
	if n == 1 {
		return 1, nil, nil
	}
	// The largest pass that still gives every worker one.
	largest := func(ok func(b int) bool) int {
		best := 0
		for b := 1; b <= n; b++ {
			if n%b == 0 && ok(b) {
				best = b
			}
		}
		return best
	}
	weights := 4 * nn.CountParams(m)
	if weights >= subBatchOneWeights {
		return n, nil, nil
	}
	if weights > subBatchMaxWeights {
		if b := largest(func(b int) bool { return n/b >= w }); b > 0 {
			return b, nil, nil
		}
		return n, nil, nil
	}
	cfg.subBatch = 1
	one, err := compile(m, append([]int{1}, input[1:]...), cfg)
	if err != nil {
		return 0, nil, err
	}
	per := one.ArenaBytes()
	b := largest(func(b int) bool {
		return int64(b)*per*int64(min(w, n/b)) <= subBatchArena && n/b >= min(w, n)
	})
	return max(b, 1), one, nil
}

// batchSeparable reports whether every value of g keeps the batch as its
// first dimension and no operation reduces across it, so that running
// the images in passes computes the same thing.
func batchSeparable(g *graph, n int) bool {
	for _, nd := range g.nodes {
		if len(nd.shape) == 0 || nd.shape[0] != n {
			return false
		}
		switch nd.op {
		case autograd.OpSum:
			return false
		case autograd.OpSoftmax:
			if d := nd.attrs.(autograd.SoftmaxAttrs).Dim; d == 0 || d == -len(nd.shape) {
				return false
			}
		}
	}
	return true
}
