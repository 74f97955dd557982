package kernels

import (
	"os"
	"sync"
)

// The training passes of a convolution (Conv2dForward, Conv2dBackwardData,
// Conv2dBackwardWeight) on the inference plan's implicit-GEMM machinery
// instead of im2col + GEMM: on ResNet-20 at 28x28 the im2col and col2im
// copies took 40% of a training step.
//
//   - forward: a PackedConv whose packed weights are refreshed each call
//     (packing Cout*Cin*KH*KW floats is nothing next to the product);
//   - backward data, stride 1: the transposed convolution is an ordinary
//     one over dy with the kernel flipped and its in/out channels
//     swapped, padding D*(K-1)-P, so it runs as a PackedConv too;
//   - backward weight: dW^T = im2col(x) * dy^T, with im2col(x)'s rows
//     read in place from the prepared (zero-bordered, phase-split) image
//     that PackedConv uses (sgemmTapA), one GEMM per image accumulated
//     into a per-worker sum.

// convCache keeps built convolutions (PackedConv, WinogradConv) per
// shape, so that a training step reuses them: building one plans its
// grid and allocates its jobs. Each caller takes one for its own use and
// puts it back, so concurrent passes never share one.
type convCache[T any] struct {
	mu   sync.Mutex
	free map[ConvParams][]T
}

// convCacheMaxShapes bounds a cache: a model sees a few dozen shapes; a
// server fed every input size must not grow it forever.
const convCacheMaxShapes = 512

func (c *convCache[T]) get(p *ConvParams) (t T, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.free[*p]; len(l) > 0 {
		t = l[len(l)-1]
		c.free[*p] = l[:len(l)-1]
		return t, true
	}
	return t, false
}

func (c *convCache[T]) put(p ConvParams, t T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.free == nil {
		c.free = map[ConvParams][]T{}
	}
	if _, ok := c.free[p]; ok || len(c.free) < convCacheMaxShapes {
		c.free[p] = append(c.free[p], t)
	}
}

var (
	packedConvs   convCache[*PackedConv]
	winogradConvs convCache[*WinogradConv]
)

func getPackedConv(p *ConvParams, w []float32) (*PackedConv, error) {
	if pc, ok := packedConvs.get(p); ok {
		return pc, pc.SetWeights(w)
	}
	return NewPackedConv(p, w)
}

// trainWinograd lets the training passes run 3x3 stride-1 convolutions
// as F(4x4, 3x3) Winograd (about 1.6x the packed convolution's speed on
// ResNet-20's layers; relative error below 8e-6, TestWinogradAccuracy).
// CONVNET_WINOGRAD=off turns it off, for bit-level comparisons;
// CONVNET_WINOGRAD=2 uses F(2x2, 3x3) (about 5x less rounding error).
var (
	trainWinograd = os.Getenv("CONVNET_WINOGRAD") != "off"
	wgTrainTile   = map[bool]int{true: 2, false: 4}[os.Getenv("CONVNET_WINOGRAD") == "2"]
)

// winogradFits reports whether the training passes should use Winograd
// for p: a 3x3, stride-1, single-group convolution with enough channels
// on both sides for the transforms to pay.
func winogradFits(p *ConvParams) bool {
	return trainWinograd && p.KH == 3 && p.KW == 3 && p.SH == 1 && p.SW == 1 && p.DH == 1 && p.DW == 1 &&
		p.Groups == 1 && p.C >= 8 && p.Cout >= 8
}

func runWinograd(p *ConvParams, x, w, bias, y []float32) bool {
	wc, ok := winogradConvs.get(p)
	if !ok {
		var err error
		if wc, err = NewWinogradConv(p, w, wgTrainTile); err != nil {
			return false
		}
	} else if wc.SetWeights(w) != nil {
		return false
	}
	var ep *Epilogue
	if bias != nil {
		ep = &Epilogue{Bias: bias}
	}
	wc.Forward(x, y, ep)
	winogradConvs.put(*p, wc)
	return true
}

// runPacked computes y = conv(x, w) + bias for all p.N images through a
// cached PackedConv. It reports false (nothing written) when the shape is
// not one PackedConv takes.
func runPacked(p *ConvParams, x, w, bias, y []float32) bool {
	if winogradFits(p) && runWinograd(p, x, w, bias, y) {
		return true
	}
	pc, err := getPackedConv(p, w)
	if err != nil {
		return false
	}
	var ep *Epilogue
	if bias != nil {
		ep = &Epilogue{Bias: bias}
	}
	ws := getBuf(pc.WorkspaceSize())
	pc.Run(p.N, x, DenseLayout(p.C, p.H*p.W), y, DenseLayout(p.Cout, p.OH*p.OW), ep, Layout{}, *ws)
	putBuf(ws)
	packedConvs.put(pc.p, pc)
	return true
}

// backwardDataAsConv reports whether dx can be computed as a stride-1
// convolution of dy, and its parameters.
func backwardDataAsConv(p *ConvParams) (ConvParams, bool) {
	ph, pw := p.DH*(p.KH-1)-p.PH, p.DW*(p.KW-1)-p.PW
	if p.SH != 1 || p.SW != 1 || ph < 0 || pw < 0 {
		return ConvParams{}, false
	}
	return ConvParams{
		N: p.N, C: p.Cout, H: p.OH, W: p.OW,
		Cout: p.C, KH: p.KH, KW: p.KW,
		SH: 1, SW: 1, PH: ph, PW: pw, DH: p.DH, DW: p.DW,
		Groups: p.Groups, OH: p.H, OW: p.W,
	}, true
}

// flipWeights writes the weights of the transposed convolution: wt[g][ci]
// [co][kh][kw] = w[g][co][ci][KH-1-kh][KW-1-kw].
func flipWeights(p *ConvParams, w, wt []float32) {
	cinG, coutG, taps := p.cinG(), p.coutG(), p.KH*p.KW
	for g := 0; g < p.Groups; g++ {
		for co := 0; co < coutG; co++ {
			for ci := 0; ci < cinG; ci++ {
				src := w[((g*coutG+co)*cinG+ci)*taps:][:taps]
				dst := wt[((g*cinG+ci)*coutG+co)*taps:][:taps]
				for t, v := range src {
					dst[taps-1-t] = v
				}
			}
		}
	}
}

func backwardDataPacked(p *ConvParams, dy, w, dx []float32) bool {
	q, ok := backwardDataAsConv(p)
	if !ok {
		return false
	}
	wt := getBuf(len(w))
	flipWeights(p, w, *wt)
	done := runPacked(&q, dy, *wt, nil, dx)
	putBuf(wt)
	return done
}

// backwardWeightPacked computes dw (overwritten) for every shape but the
// depthwise one; see the comment at the top of the file. Per image and
// group it is one GEMM dW^T = im2col(x) * dy^T: im2col(x)'s rows (tap t,
// channel ci) are read in place from the prepared image by the direct
// micro-kernels, and only dy (coutG rows) is packed. The rows of each tap
// are padded to a whole number of row panels so that every panel has one
// stride; the padding rows compute values that are dropped.
func backwardWeightPacked(p *ConvParams, x, dy, dw []float32) {
	geo := newConvGeom(p)
	cinG, coutG, taps := p.cinG(), p.coutG(), p.KH*p.KW
	mr := gemmRows()
	rows := (cinG + mr - 1) / mr * mr // rows per tap
	m := taps * rows                  // rows of one group's dW^T
	k := p.OH * geo.wq                // output pixels with the junk columns ow >= OW
	wide := geo.wq != p.OW
	// The padding rows of the last group read up to rows-cinG planes past
	// the last channel, and row (t, ci) reads (KW-1)*DW/SW floats past its
	// plane: slack, zero.
	prepN := geo.prepSize + (rows-cinG+1)*geo.planeQ
	dyN := 0
	if wide {
		dyN = p.Cout * k
	}
	accN := p.Groups * m * coutG
	perImage := func(n int, prep, dyp, acc []float32) {
		for c := 0; c < p.C; c++ {
			src := x[(n*p.C+c)*p.H*p.W:][:p.H*p.W]
			for pi := range geo.phases {
				geo.fillPlane(p, src, pi, prep[(pi*p.C+c)*geo.planeQ:][:geo.planeQ])
			}
		}
		dyn := dy[n*p.Cout*p.OH*p.OW:][:p.Cout*p.OH*p.OW]
		if wide {
			// dy with zero columns where the prepared rows run past OW, so
			// that im2col's rows are contiguous runs of the image.
			for r := 0; r < p.Cout*p.OH; r++ {
				row := dyp[r*geo.wq:][:geo.wq]
				copy(row, dyn[r*p.OW:][:p.OW])
				clear(row[p.OW:])
			}
		} else {
			dyp = dyn
		}
		for g := 0; g < p.Groups; g++ {
			sgemmTapA(m, coutG, k, prep[g*cinG*geo.planeQ:], geo.planeQ, geo.tap, rows,
				dyp[g*coutG*k:], k, 1, acc[g*m*coutG:], coutG)
		}
	}
	sum := func(n0, n1 int, acc []float32) {
		prep := getBuf(prepN)
		clear((*prep)[geo.prepSize:])
		dyp := getBuf(dyN)
		for n := n0; n < n1; n++ {
			perImage(n, *prep, *dyp, acc)
		}
		putBuf(dyp)
		putBuf(prep)
	}
	w := Workers()
	parts := 1
	if p.N >= w {
		parts = w
	}
	// Each part sums its images into a private buffer, added in a fixed
	// order at the end: no two workers write the same memory and the
	// result does not depend on scheduling.
	accs := make([]*[]float32, parts)
	step := (p.N + parts - 1) / parts
	Parallel(parts, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			acc := getBuf(accN)
			clear(*acc)
			sum(i*step, min(p.N, (i+1)*step), *acc)
			accs[i] = acc
		}
	})
	// dw[g][co][ci][t] = sum of acc[g][t][ci][co].
	clear(dw)
	for _, acc := range accs {
		a := *acc
		for g := 0; g < p.Groups; g++ {
			ag := a[g*m*coutG:][:m*coutG]
			for co := 0; co < coutG; co++ {
				dst := dw[(g*coutG+co)*cinG*taps:][:cinG*taps]
				for ci := 0; ci < cinG; ci++ {
					for t := 0; t < taps; t++ {
						dst[ci*taps+t] += ag[(t*rows+ci)*coutG+co]
					}
				}
			}
		}
		putBuf(acc)
	}
}
