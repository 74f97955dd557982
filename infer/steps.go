package infer

import (
	"fmt"
	"math"
	"strings"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// step is one operation of a compiled plan. Steps are built at compile
// time with the locations of their operands; bind resolves those against
// an arena (and a workspace), after which run computes without allocating.
// A step's parallel body is a method value created once in bind, so that
// handing it to kernels.Parallel allocates nothing.
type step interface {
	// operands lists every location the step reads or writes, for the
	// liveness analysis.
	operands() []loc
	// workspace is the scratch the step needs, in floats.
	workspace() int
	bind(arena, ws []float32)
	run() error
	// clone returns an unbound copy sharing read-only data (weights).
	clone() step
	describe() string
}

// operand is a value's location and shape.
type operand struct {
	l     loc
	shape []int
}

func (o operand) slice(arena []float32) []float32 { return o.l.slice(arena, o.shape) }

// split returns part i of n units cut into parts nearly equal ranges.
func split(n, parts, i int) (lo, hi int) {
	q, r := n/parts, n%parts
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return lo, hi
}

// The GEMM the plan calls (the linear layers); tests swap it to tell the
// plan's own allocations from the kernels'.
var sgemm = kernels.Sgemm

// elemGrain is the number of elements below which memory-bound loops are
// not worth another worker.
const elemGrain = 1 << 14

func planeGrain(inner int) int { return max(1, elemGrain/max(inner, 1)) }

func actName(a kernels.Activation) string {
	switch a {
	case kernels.ActReLU:
		return "+relu"
	case kernels.ActReLU6:
		return "+relu6"
	}
	return ""
}

// epilogueRow does y = act(y + bias + res) over one row (res may be nil),
// kernels.Epilogue's output stage, vectorised by kernels.EpilogueRow.
func epilogueRow(y []float32, bias float32, res []float32, act kernels.Activation) {
	if res == nil && act == kernels.ActNone && bias == 0 {
		return
	}
	kernels.EpilogueRow(y, y, res, bias, act)
}

// actRow applies an activation to a row in place.
func actRow(y []float32, a kernels.Activation) { epilogueRow(y, 0, nil, a) }

// sumRow returns the sum of x, a vector row (kernels.SumRow) per block.
func sumRow(x []float32) float32 {
	var s float32
	for i := 0; i < len(x); i += kernels.NormBlock {
		s += kernels.SumRow(x[i:min(i+kernels.NormBlock, len(x))])
	}
	return s
}

// ---------------------------------------------------------------------------
// Affine: y = act(x*scale[c] + shift[c]), BatchNorm that could not be folded
// (DenseNet's pre-activation) and standalone ReLU/ReLU6 (scale nil).

type affineStep struct {
	label        string
	x, y         operand
	scale, shift []float32
	act          kernels.Activation
	xs, ys       []float32
	fn           func(lo, hi int)
}

func (s *affineStep) operands() []loc { return []loc{s.x.l, s.y.l} }
func (s *affineStep) workspace() int  { return 0 }
func (s *affineStep) clone() step     { c := *s; return &c }
func (s *affineStep) describe() string {
	if s.scale == nil {
		return s.label + " clamp" + actName(s.act)
	}
	return s.label + " batchnorm" + actName(s.act)
}
func (s *affineStep) bind(arena, _ []float32) {
	s.xs, s.ys = s.x.slice(arena), s.y.slice(arena)
	s.fn = s.planes
}
func (s *affineStep) run() error {
	n, c, inner := dims(s.x.shape)
	kernels.Parallel(n*c, planeGrain(inner), s.fn)
	return nil
}
func (s *affineStep) planes(lo, hi int) {
	_, c, inner := dims(s.x.shape)
	for u := lo; u < hi; u++ {
		b, ch := u/c, u%c
		src := s.xs[b*s.x.l.bs+ch*s.x.l.cs:][:inner]
		dst := s.ys[b*s.y.l.bs+ch*s.y.l.cs:][:inner]
		if s.scale == nil {
			kernels.EpilogueRow(dst, src, nil, 0, s.act)
			continue
		}
		kernels.AffineRow(dst, src, s.scale[ch], s.shift[ch], s.act)
	}
}

// ---------------------------------------------------------------------------
// Add: y = act(a + b), a residual addition no convolution could take.

type addStep struct {
	label      string
	a, b, y    operand
	act        kernels.Activation
	as, bs, ys []float32
	fn         func(lo, hi int)
}

func (s *addStep) operands() []loc  { return []loc{s.a.l, s.b.l, s.y.l} }
func (s *addStep) workspace() int   { return 0 }
func (s *addStep) clone() step      { c := *s; return &c }
func (s *addStep) describe() string { return s.label + " add" + actName(s.act) }
func (s *addStep) bind(a, _ []float32) {
	s.as, s.bs, s.ys = s.a.slice(a), s.b.slice(a), s.y.slice(a)
	s.fn = s.planes
}
func (s *addStep) run() error {
	n, c, inner := dims(s.y.shape)
	kernels.Parallel(n*c, planeGrain(inner), s.fn)
	return nil
}
func (s *addStep) planes(lo, hi int) {
	_, c, inner := dims(s.y.shape)
	for u := lo; u < hi; u++ {
		b, ch := u/c, u%c
		x1 := s.as[b*s.a.l.bs+ch*s.a.l.cs:][:inner]
		x2 := s.bs[b*s.b.l.bs+ch*s.b.l.cs:][:inner]
		dst := s.ys[b*s.y.l.bs+ch*s.y.l.cs:][:inner]
		kernels.EpilogueRow(dst, x1, x2, 0, s.act)
	}
}

// ---------------------------------------------------------------------------
// Copy: a value moved to another location (a concatenation input that
// could not be written in place, a reshape of a strided value, the plan's
// output). With perm set it is a channel shuffle: output channel j*groups+i
// reads input channel i*(C/groups)+j.

type copyStep struct {
	label  string
	x, y   operand
	groups int // channel shuffle groups; 0 for a plain copy
	xs, ys []float32
	fn     func(lo, hi int)
}

func (s *copyStep) operands() []loc { return []loc{s.x.l, s.y.l} }
func (s *copyStep) workspace() int  { return 0 }
func (s *copyStep) clone() step     { c := *s; return &c }
func (s *copyStep) describe() string {
	if s.groups > 0 {
		return fmt.Sprintf("%s channel_shuffle(%d)", s.label, s.groups)
	}
	return s.label + " copy"
}
func (s *copyStep) bind(a, _ []float32) {
	s.xs, s.ys = s.x.slice(a), s.y.slice(a)
	s.fn = s.planes
}
func (s *copyStep) run() error {
	n, c, inner := dims(s.x.shape)
	if s.groups == 0 && s.x.l.imageDense(s.x.shape) && s.y.l.imageDense(s.y.shape) {
		kernels.Parallel(n, planeGrain(c*inner), s.fn)
		return nil
	}
	kernels.Parallel(n*c, planeGrain(inner), s.fn)
	return nil
}
func (s *copyStep) planes(lo, hi int) {
	_, c, inner := dims(s.x.shape)
	if s.groups == 0 && s.x.l.imageDense(s.x.shape) && s.y.l.imageDense(s.y.shape) {
		// Whole images.
		for b := lo; b < hi; b++ {
			copy(s.ys[b*s.y.l.bs:][:c*inner], s.xs[b*s.x.l.bs:][:c*inner])
		}
		return
	}
	per := 1
	if s.groups > 0 {
		per = c / s.groups
	}
	for u := lo; u < hi; u++ {
		b, ch := u/c, u%c
		out := ch
		if s.groups > 0 {
			i, j := ch/per, ch%per
			out = j*s.groups + i
		}
		copy(s.ys[b*s.y.l.bs+out*s.y.l.cs:][:inner], s.xs[b*s.x.l.bs+ch*s.x.l.cs:][:inner])
	}
}

// ---------------------------------------------------------------------------
// Pooling.

type poolKind uint8

const (
	poolMax poolKind = iota
	poolAvg
	poolAdaptive
)

type poolStep struct {
	label           string
	kind            poolKind
	p               kernels.PoolParams // N, C, H, W, OH, OW always set
	countIncludePad bool
	x, y            operand
	act             kernels.Activation
	pro             *kernels.Prologue // applied to each input plane first (poolFirst); nil for none
	xs, ys, ws      []float32
	fn              func(lo, hi int)
}

func (s *poolStep) operands() []loc { return []loc{s.x.l, s.y.l} }

// workspace is per slot a row for max pooling's vertical maxima (see
// maxPoolPlane), or a plane for the prologue's output.
func (s *poolStep) workspace() int {
	return s.slots() * s.scratch()
}

// scratch is the workspace of one slot.
func (s *poolStep) scratch() int {
	switch {
	case s.pro != nil:
		return s.p.H * s.p.W
	case s.kind == poolMax:
		return maxPoolRow(&s.p)
	}
	return 0
}

// maxPoolRow is the length of maxPoolPlane's scratch row: the padded row,
// and as far as the last window reaches (ceil_mode windows may pass the
// padding).
func maxPoolRow(p *kernels.PoolParams) int {
	return max(p.W+2*p.PW, (p.OW-1)*p.SW+(p.KW-1)*p.DW+1)
}

// slots is the number of parallel tasks: at most one per worker, each
// with its own scratch row.
func (s *poolStep) slots() int {
	planes := s.p.N * s.p.C
	return max(1, min(kernels.Workers(), planes/planeGrain(s.p.H*s.p.W)))
}
func (s *poolStep) clone() step { c := *s; return &c }
func (s *poolStep) describe() string {
	p := s.p
	switch s.kind {
	case poolMax:
		return fmt.Sprintf("%s maxpool %dx%d/%d pad %d%s", s.label, p.KH, p.KW, p.SH, p.PH, actName(s.act))
	case poolAvg:
		pre := ""
		if s.pro != nil {
			pre = " (input " + strings.TrimPrefix(prologueName(s.pro), "+") + ")"
		}
		return fmt.Sprintf("%s avgpool %dx%d/%d pad %d%s%s", s.label, p.KH, p.KW, p.SH, p.PH, pre, actName(s.act))
	}
	return fmt.Sprintf("%s adaptive_avgpool %dx%d%s", s.label, p.OH, p.OW, actName(s.act))
}
func (s *poolStep) bind(a, ws []float32) {
	s.xs, s.ys, s.ws = s.x.slice(a), s.y.slice(a), ws
	s.fn = s.slot
}
func (s *poolStep) run() error {
	kernels.Parallel(s.slots(), 1, s.fn)
	return nil
}

// slot pools slot k's share of the planes.
func (s *poolStep) slot(lo, hi int) {
	n := s.slots()
	for k := lo; k < hi; k++ {
		p0, p1 := split(s.p.N*s.p.C, n, k)
		m := s.scratch()
		s.planes(p0, p1, s.ws[k*m:(k+1)*m])
	}
}

// planes pools planes [lo, hi); scratch is the slot's workspace.
func (s *poolStep) planes(lo, hi int, scratch []float32) {
	p := &s.p
	for u := lo; u < hi; u++ {
		b, ch := u/p.C, u%p.C
		x := s.xs[b*s.x.l.bs+ch*s.x.l.cs:][:p.H*p.W]
		y := s.ys[b*s.y.l.bs+ch*s.y.l.cs:][:p.OH*p.OW]
		vmax := scratch
		if q := s.pro; q != nil {
			scale, shift := float32(1), float32(0)
			if q.Scale != nil {
				scale = q.Scale[ch]
			}
			if q.Shift != nil {
				shift = q.Shift[ch]
			}
			kernels.AffineRow(scratch, x, scale, shift, q.Act)
			x = scratch
		}
		switch s.kind {
		case poolMax:
			maxPoolPlane(p, x, y, vmax)
		case poolAvg:
			avgPoolPlane(p, x, y, s.countIncludePad)
		default:
			adaptivePoolPlane(p, x, y)
		}
		actRow(y, s.act)
	}
}

// colRange returns the output columns [lo, hi) whose input column
// ow*S + off lies inside [0, w).
func colRange(off, s, w, ow int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	m := w - 1 - off
	if m < 0 {
		return 0, 0
	}
	hi = min(ow, m/s+1)
	return min(lo, hi), hi
}

// maxPoolPlane is max pooling of one plane, separably: for each output
// row, the maximum of the window's input rows (vmax, a scratch row: the
// padded input row, -Inf in the padding), then the maximum of each
// window's columns of that row. That is KH + KW instead of KH*KW
// comparisons per output, the first pass on whole vectors (kernels.MaxRow),
// the second too for stride-2 windows (kernels.MaxPoolRowS2). Windows of
// at most 3x3 with stride 2 across, the zoo's, skip the scratch row
// (maxPoolPlaneS2). A NaN in the window wins, as in PyTorch; padding never
// does.
func maxPoolPlane(p *kernels.PoolParams, x, y, vmax []float32) {
	if p.SW == 2 && p.DW == 1 && p.DH == 1 && (p.KW == 2 || p.KW == 3) && p.KH <= 3 {
		maxPoolPlaneS2(p, x, y)
		return
	}
	vmax = vmax[:maxPoolRow(p)]
	negInf := float32(math.Inf(-1))
	for i := range vmax[:p.PW] {
		vmax[i] = negInf
	}
	for i := range vmax[p.PW+p.W:] {
		vmax[p.PW+p.W+i] = negInf
	}
	row := vmax[p.PW : p.PW+p.W]
	fast := p.SW == 2 && p.DW == 1 && (p.KW == 2 || p.KW == 3)
	for oh := 0; oh < p.OH; oh++ {
		first := true
		for kh := 0; kh < p.KH; kh++ {
			ih := oh*p.SH - p.PH + kh*p.DH
			if ih < 0 || ih >= p.H {
				continue
			}
			xr := x[ih*p.W : (ih+1)*p.W]
			if first {
				copy(row, xr)
				first = false
				continue
			}
			kernels.MaxRow(row, row, xr)
		}
		if first {
			// No input row in the window (not produced by PyTorch's output
			// size rule, but keep the scratch row defined).
			for i := range row {
				row[i] = negInf
			}
		}
		yr := y[oh*p.OW : (oh+1)*p.OW]
		if fast {
			kernels.MaxPoolRowS2(yr, vmax, p.KW)
			continue
		}
		for ow := range yr {
			w0 := ow * p.SW
			m := negInf
			for kw := 0; kw < p.KW; kw++ {
				m = max(m, vmax[w0+kw*p.DW])
			}
			yr[ow] = m
		}
	}
}

// maxPoolPlaneS2 is maxPoolPlane for the windows almost every network
// uses (at most 3 rows by 2 or 3 columns, stride 2 across): the output
// rows and columns whose windows lie inside the plane go to one
// kernels.MaxPoolRowsS2R3 call, which takes the window rows' maximum on
// the way; the one or two rows and columns at the edges that reach into
// the padding (or past the plane in ceil mode) are done here, row by row,
// the windows clipped to the plane.
func maxPoolPlaneS2(p *kernels.PoolParams, x, y []float32) {
	lo := min((p.PW+1)/2, p.OW)
	hi := max(lo, min(p.OW, floorDiv(p.W-p.KW+p.PW, 2)+1))
	rlo := min((p.PH+p.SH-1)/p.SH, p.OH)
	rhi := max(rlo, min(p.OH, floorDiv(p.H-p.KH+p.PH, p.SH)+1))
	if hi == lo {
		rlo, rhi = 0, 0
	}
	if rhi > rlo {
		ih, c := rlo*p.SH-p.PH, 2*lo-p.PW
		r0 := x[ih*p.W+c:]
		r1 := x[(ih+min(1, p.KH-1))*p.W+c:]
		r2 := x[(ih+p.KH-1)*p.W+c:]
		kernels.MaxPoolRowsS2R3(y[rlo*p.OW+lo:], p.OW, hi-lo, r0, r1, r2, p.SH*p.W, rhi-rlo, p.KW)
	}
	negInf := float32(math.Inf(-1))
	var rows [3][]float32
	for oh := 0; oh < p.OH; oh++ {
		inner := oh >= rlo && oh < rhi
		if inner && lo == 0 && hi == p.OW {
			continue // done above, no edge columns
		}
		n := 0
		for kh := 0; kh < p.KH; kh++ {
			if ih := oh*p.SH - p.PH + kh; ih >= 0 && ih < p.H {
				rows[n] = x[ih*p.W : (ih+1)*p.W]
				n++
			}
		}
		yr := y[oh*p.OW : (oh+1)*p.OW]
		if n == 0 {
			// Not produced by PyTorch's output size rule; keep y defined.
			for i := range yr {
				yr[i] = negInf
			}
			continue
		}
		for i := n; i < 3; i++ {
			rows[i] = rows[n-1]
		}
		if hi > lo && !inner {
			c := 2*lo - p.PW
			kernels.MaxPoolRowsS2R3(yr[lo:hi], hi-lo, hi-lo, rows[0][c:], rows[1][c:], rows[2][c:], 0, 1, p.KW)
		}
		for ow := 0; ow < p.OW; ow++ {
			if ow == lo {
				ow = hi
				if ow >= p.OW {
					break
				}
			}
			w0, w1 := max(2*ow-p.PW, 0), min(2*ow-p.PW+p.KW, p.W)
			m := negInf
			for _, r := range rows[:n] {
				for _, v := range r[w0:w1] {
					if v != v || v > m {
						m = v
					}
				}
			}
			yr[ow] = m
		}
	}
}

// floorDiv is a/b rounded down (b > 0); Go's / rounds toward zero. A
// plane shorter than the window (a band of convPoolStep's at the image's
// bottom) has a negative a.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// avgPoolPlane follows torch.nn.AvgPool2d: with count_include_pad the
// divisor counts the window clipped to the padded input, without it the
// window clipped to the input.
func avgPoolPlane(p *kernels.PoolParams, x, y []float32, countIncludePad bool) {
	if p.KH == 2 && p.KW == 2 && p.SH == 2 && p.SW == 2 && p.PH == 0 && p.PW == 0 && 2*p.OH <= p.H && 2*p.OW <= p.W {
		// DenseNet's transitions: every window whole, divisor 4.
		for oh := 0; oh < p.OH; oh++ {
			kernels.AvgPoolRow2x2(y[oh*p.OW:(oh+1)*p.OW], x[2*oh*p.W:][:2*p.OW], x[(2*oh+1)*p.W:][:2*p.OW])
		}
		return
	}
	for oh := 0; oh < p.OH; oh++ {
		h0 := oh*p.SH - p.PH
		h1 := min(h0+p.KH, p.H+p.PH)
		hs := h1 - h0
		h0, h1 = max(h0, 0), min(h1, p.H)
		for ow := 0; ow < p.OW; ow++ {
			w0 := ow*p.SW - p.PW
			w1 := min(w0+p.KW, p.W+p.PW)
			ws := w1 - w0
			w0, w1 = max(w0, 0), min(w1, p.W)
			var sum float32
			for ih := h0; ih < h1; ih++ {
				for _, v := range x[ih*p.W+w0 : ih*p.W+w1] {
					sum += v
				}
			}
			div := float32((h1 - h0) * (w1 - w0))
			if countIncludePad {
				div = float32(hs * ws)
			}
			if div > 0 {
				sum /= div
			}
			y[oh*p.OW+ow] = sum
		}
	}
}

// adaptivePoolPlane is PyTorch's adaptive average pooling: output cell i
// averages [floor(i*in/out), ceil((i+1)*in/out)).
func adaptivePoolPlane(p *kernels.PoolParams, x, y []float32) {
	if p.OH == 1 && p.OW == 1 {
		y[0] = sumRow(x) / float32(len(x))
		return
	}
	for i := 0; i < p.OH; i++ {
		h0, h1 := (i*p.H)/p.OH, ((i+1)*p.H+p.OH-1)/p.OH
		for j := 0; j < p.OW; j++ {
			w0, w1 := (j*p.W)/p.OW, ((j+1)*p.W+p.OW-1)/p.OW
			var sum float32
			for ih := h0; ih < h1; ih++ {
				for _, v := range x[ih*p.W+w0 : ih*p.W+w1] {
					sum += v
				}
			}
			y[i*p.OW+j] = sum / float32((h1-h0)*(w1-w0))
		}
	}
}

// ---------------------------------------------------------------------------
// Linear: y = act(x W^T + b). For one or two images each is a GEMV
// (kernels.SgemvSerial, the weight rows split over the workers), which
// reads the weights once per image in place; for more, y^T = W x^T as a
// GEMM, so that the big weight matrix is the GEMM's A operand and only the
// few rows of x are packed.

type linearStep struct {
	label  string
	x, y   operand
	w, b   []float32 // [out, in], [out] or nil
	act    kernels.Activation
	xs, ys []float32
	yt     []float32 // [out, N] workspace (N > 1 or a strided output)
	direct bool      // y^T is y itself (one row, contiguous)
	gemvFn func(lo, hi int)
	img    int // the image gemvRows works on
}

// gemvMax is the largest batch the linear step runs as GEMVs.
const gemvMax = 2

func (s *linearStep) operands() []loc { return []loc{s.x.l, s.y.l} }
func (s *linearStep) workspace() int {
	if s.direct {
		return 0
	}
	return s.y.shape[0] * s.y.shape[1]
}
func (s *linearStep) clone() step { c := *s; return &c }
func (s *linearStep) describe() string {
	return fmt.Sprintf("%s linear %dx%d%s", s.label, s.y.shape[1], s.x.shape[1], actName(s.act))
}
func (s *linearStep) bind(a, ws []float32) {
	s.xs, s.ys = s.x.slice(a), s.y.slice(a)
	s.yt = ws
	s.gemvFn = s.gemvRows
}
func (s *linearStep) run() error {
	n, out, in := s.x.shape[0], s.y.shape[1], s.x.shape[1]
	if n <= gemvMax {
		// Blocks of 64 rows (a quarter megabyte of weights for 1024
		// inputs) keep the workers' shares even.
		for b := 0; b < n; b++ {
			s.img = b
			kernels.Parallel((out+63)/64, max(1, (1<<16)/max(64*in, 1)), s.gemvFn)
		}
		if s.y.l.cs != 1 {
			for b := 0; b < n; b++ {
				for o, v := range s.yt[b*out : (b+1)*out] {
					s.ys[b*s.y.l.bs+o*s.y.l.cs] = v
				}
			}
		}
		return nil
	}
	yt := s.yt
	if s.direct {
		yt = s.ys
	}
	sgemm(false, true, out, n, in, 1, s.w, in, s.xs, s.x.l.bs, 0, yt, n)
	for b := 0; b < n; b++ {
		for o := 0; o < out; o++ {
			s.ys[b*s.y.l.bs+o*s.y.l.cs] = s.epilogue(o, yt[o*n+b])
		}
	}
	return nil
}

// gemvRows computes rows [64*lo, 64*hi) of image s.img's output, into y
// itself when its features are contiguous, else into yt.
func (s *linearStep) gemvRows(lo, hi int) {
	out, in := s.y.shape[1], s.x.shape[1]
	r0, r1 := 64*lo, min(64*hi, out)
	var dst []float32
	if s.y.l.cs == 1 {
		dst = s.ys[s.img*s.y.l.bs:][:out]
	} else {
		dst = s.yt[s.img*out:][:out]
	}
	kernels.SgemvSerial(r1-r0, in, s.w[r0*in:], in, s.xs[s.img*s.x.l.bs:], dst[r0:r1])
	for o := r0; o < r1; o++ {
		dst[o] = s.epilogue(o, dst[o])
	}
}

func (s *linearStep) epilogue(o int, v float32) float32 {
	if s.b != nil {
		v += s.b[o]
	}
	switch s.act {
	case kernels.ActReLU:
		v = max(v, 0)
	case kernels.ActReLU6:
		v = min(max(v, 0), 6)
	}
	return v
}

// ---------------------------------------------------------------------------
// Generic: any operation the plan does not specialise runs as the autograd
// operation itself, on tensors wrapping the arena (NoGrad). It allocates its
// output on every run; none of the zoo's models needs it.

type genericStep struct {
	label string
	n     *node
	ins   []operand // per parent; zero loc for constants and absent operands
	y     operand
	arena []float32
}

func (s *genericStep) operands() []loc {
	out := []loc{s.y.l}
	for i, in := range s.n.ins {
		if in != nil {
			out = append(out, s.ins[i].l)
		}
	}
	return out
}
func (s *genericStep) workspace() int          { return 0 }
func (s *genericStep) clone() step             { c := *s; return &c }
func (s *genericStep) describe() string        { return fmt.Sprintf("%s %s (generic)", s.label, s.n.op) }
func (s *genericStep) bind(arena, _ []float32) { s.arena = arena }

func (s *genericStep) run() error {
	ctx := &autograd.Context{NoGrad: true}
	args := make([]*autograd.Value, len(s.n.ins))
	for i, in := range s.n.ins {
		switch {
		case in != nil:
			t := tensor.New(s.ins[i].shape...)
			gather(t.Data, s.ins[i].slice(s.arena), s.ins[i])
			args[i] = autograd.Input(t, ctx, false)
		case s.n.consts[i] != nil:
			args[i] = autograd.Const(s.n.consts[i])
		}
	}
	v, err := callOp(s.n.op, s.n.attrs, args)
	if err != nil {
		return fmt.Errorf("infer: %s: %w", s.describe(), err)
	}
	if !tensor.SameShape(v.T.Shape, s.y.shape) {
		return fmt.Errorf("infer: %s: output %v, traced %v", s.describe(), v.T.Shape, s.y.shape)
	}
	scatter(s.y.slice(s.arena), v.T.Data, s.y)
	return nil
}

// gather copies a value at o (src is its slice) into dense dst.
func gather(dst, src []float32, o operand) {
	n, c, inner := dims(o.shape)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(dst[(b*c+ch)*inner:][:inner], src[b*o.l.bs+ch*o.l.cs:][:inner])
		}
	}
}

// scatter copies dense src to the value at o (dst is its slice).
func scatter(dst, src []float32, o operand) {
	n, c, inner := dims(o.shape)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(dst[b*o.l.bs+ch*o.l.cs:][:inner], src[(b*c+ch)*inner:][:inner])
		}
	}
}

// callOp runs one autograd operation from its recorded kind and
// attributes.
func callOp(op autograd.Op, attrs any, a []*autograd.Value) (*autograd.Value, error) {
	arg := func(i int) *autograd.Value {
		if i < len(a) {
			return a[i]
		}
		return nil
	}
	switch op {
	case autograd.OpConv2d:
		p := attrs.(kernels.ConvParams)
		return autograd.Conv2d(arg(0), arg(1), arg(2), autograd.Conv2dOpts{
			Stride: [2]int{p.SH, p.SW}, Padding: [2]int{p.PH, p.PW}, Dilation: [2]int{p.DH, p.DW}, Groups: p.Groups})
	case autograd.OpLinear:
		return autograd.Linear(arg(0), arg(1), arg(2))
	case autograd.OpClamp:
		if attrs.(autograd.ClampAttrs).Max == 6 {
			return autograd.ReLU6(arg(0)), nil
		}
		if attrs.(autograd.ClampAttrs).Max < 0 {
			return autograd.ReLU(arg(0)), nil
		}
	case autograd.OpAdd:
		return autograd.Add(arg(0), arg(1))
	case autograd.OpMul:
		return autograd.Mul(arg(0), arg(1))
	case autograd.OpScale:
		return autograd.Scale(arg(0), attrs.(float32)), nil
	case autograd.OpSum:
		return autograd.Sum(arg(0)), nil
	case autograd.OpConcat:
		return autograd.Concat(a...)
	case autograd.OpChannelShuffle:
		return autograd.ChannelShuffle(arg(0), attrs.(int))
	case autograd.OpNarrow:
		r := attrs.([2]int)
		return autograd.Narrow(arg(0), r[0], r[1])
	case autograd.OpSoftmax:
		sa := attrs.(autograd.SoftmaxAttrs)
		if sa.Log {
			return autograd.LogSoftmax(arg(0), sa.Dim)
		}
		return autograd.Softmax(arg(0), sa.Dim)
	case autograd.OpBatchNorm2d:
		return autograd.BatchNorm2d(arg(0), arg(1), arg(2), attrs.(autograd.BatchNormOpts))
	case autograd.OpLocalResponseNorm:
		l := attrs.(autograd.LRNAttrs)
		return autograd.LocalResponseNorm(arg(0), l.Size, l.Alpha, l.Beta, l.K)
	case autograd.OpMaxPool2d, autograd.OpAvgPool2d, autograd.OpAdaptiveAvgPool2d, autograd.OpReshape, autograd.OpDropout:
		// Specialised by the plan; never generic.
	}
	return nil, fmt.Errorf("operation %s (attributes %T) cannot be replayed", op, attrs)
}
