package infer

import (
	"fmt"

	"github.com/convnet/convnet/tensor/kernels"
)

// algo is how a convolution is computed.
type algo uint8

const (
	algoGEMM      algo = iota // im2col (per column tile) + GEMM
	algoPointwise             // 1x1 stride 1: GEMM on the input itself
	algoDepthwise             // direct loop per channel plane
	algoWinograd              // kernels.WinogradConv, F(4x4, 3x3)
	algoDW3x3                 // kernels.DepthwiseConv3x3
)

func (a algo) String() string {
	return [...]string{"im2col+gemm", "gemm 1x1", "depthwise", "winograd", "depthwise 3x3"}[a]
}

// convStep is a convolution with its folded BatchNorm, bias, residual
// addition and activation applied while each output tile is in cache.
//
// The GEMM algorithms cut every image's output (Cout x OH*OW per group)
// into a grid of tiles; a tile's task builds the im2col columns it needs
// into the worker's own workspace, multiplies, and runs the epilogue on the
// tile. Tasks are spread over at most Workers() slots, one Parallel call
// per convolution.
type convStep struct {
	label  string
	algo   algo
	p      kernels.ConvParams // p.N is the batch
	w      []float32          // [Cout, Cin/groups * KH * KW], BatchNorm folded in
	ep     kernels.Epilogue   // Bias and Act (the residual is passed per row)
	x, y   operand
	res    *operand // nil without a residual
	folded bool     // a BatchNorm is folded into w and the bias

	// Grid: per image and group, mw x nw tiles of mb rows and nb columns.
	mw, nw, mb, nb int
	total, slots   int
	wsPer          int // workspace floats per slot

	xs, ys, rs, ws []float32
	fn             func(lo, hi int)
	wino           *winograd        // algoWinograd only
	wep            kernels.Epilogue // the external kernels', with the residual bound
	// algoDW3x3: the kernel's shape (N = 1 when run one image at a time).
	dwp      kernels.ConvParams
	perImage bool
}

func (s *convStep) operands() []loc {
	l := []loc{s.x.l, s.y.l}
	if s.res != nil {
		l = append(l, s.res.l)
	}
	return l
}

func (s *convStep) workspace() int {
	if s.algo == algoWinograd {
		return s.wino.workspace()
	}
	return s.slots * s.wsPer
}

func (s *convStep) clone() step { c := *s; return &c }

func (s *convStep) describe() string {
	p := s.p
	extra := ""
	if s.folded {
		extra = "+bn"
	}
	if s.res != nil {
		extra += "+add"
	}
	g := ""
	if p.Groups > 1 {
		g = fmt.Sprintf(" groups %d", p.Groups)
	}
	return fmt.Sprintf("%s conv %dx%d/%d %d->%d%s [%s]%s%s", s.label, p.KH, p.KW, p.SH, p.C, p.Cout, g, s.algo, extra, actName(s.ep.Act))
}

func (s *convStep) bind(arena, ws []float32) {
	s.xs, s.ys = s.x.slice(arena), s.y.slice(arena)
	if s.res != nil {
		s.rs = s.res.slice(arena)
	}
	s.ws = ws
	switch s.algo {
	case algoDepthwise:
		s.fn = s.dwPlanes
	case algoWinograd, algoDW3x3:
		s.fn = nil
	default:
		s.fn = s.slot
	}
}

func (s *convStep) run() error {
	switch s.algo {
	case algoDepthwise:
		kernels.Parallel(s.p.N*s.p.Cout, planeGrain(4*s.p.OH*s.p.OW), s.fn)
	case algoWinograd:
		s.wino.run(s)
	case algoDW3x3:
		s.runDW3x3()
	default:
		kernels.Parallel(s.slots, 1, s.fn)
	}
	return nil
}

// planGrid chooses the tiling of a GEMM convolution for w workers.
func (s *convStep) planGrid(w int) {
	p := &s.p
	m := p.Cout / p.Groups
	n := p.OH * p.OW
	k := p.C / p.Groups * p.KH * p.KW
	units := p.N * p.Groups
	s.mw, s.nw, s.mb, s.nb = chooseGrid(m, n, k, units, w)
	s.total = units * s.mw * s.nw
	s.slots = min(w, s.total)
	if s.algo == algoGEMM {
		s.wsPer = k * s.nb
	}
}

// Micro-tile of the GEMM the grid is rounded to (the AVX2 kernel's 6x16;
// the exact value matters little).
const (
	tileM = 6
	tileN = 16
	// A column tile's im2col panel (k x nb floats) should stay in L2.
	panelBudget = 64 << 10
)

// chooseGrid picks mw x nw tiles per unit (image and group) of an m x n
// output with inner dimension k, so that units*mw*nw tasks spread well over
// w workers. The cost of the slowest worker is its number of tasks times a
// tile's multiply-adds plus the packing and im2col work proportional to
// the tile's rows and columns; panels that outgrow L2 pay extra.
func chooseGrid(m, n, k, units, w int) (mw, nw, mb, nb int) {
	mp := (m + tileM - 1) / tileM
	np := (n + tileN - 1) / tileN
	best := -1.0
	for r := 1; r <= min(mp, w); r++ {
		for c := 1; c <= min(np, 4*w); c++ {
			rows := (mp + r - 1) / r * tileM
			cols := (np + c - 1) / c * tileN
			tasks := units * r * c
			rounds := (tasks + w - 1) / w
			cost := float64(rounds) * (float64(rows)*float64(cols) + 8*float64(rows) + 4*float64(cols) + 200)
			if k*cols > panelBudget {
				cost *= 1.1
			}
			if best < 0 || cost < best {
				best, mw, nw = cost, r, c
			}
		}
	}
	mb = (mp + mw - 1) / mw * tileM
	nb = (np + nw - 1) / nw * tileN
	mw = (m + mb - 1) / mb
	nw = (n + nb - 1) / nb
	return mw, nw, min(mb, m), min(nb, n)
}

// slot runs slot k's share of the tasks with slot k's workspace.
func (s *convStep) slot(lo, hi int) {
	for k := lo; k < hi; k++ {
		t0, t1 := split(s.total, s.slots, k)
		ws := s.ws[k*s.wsPer : (k+1)*s.wsPer]
		for t := t0; t < t1; t++ {
			s.task(t, ws)
		}
	}
}

// task computes one tile: rows [r0, r1) of one group, columns [j0, j1) of
// one image.
func (s *convStep) task(t int, ws []float32) {
	p := &s.p
	cb := t % s.nw
	t /= s.nw
	rb := t % s.mw
	t /= s.mw
	g := t % p.Groups
	n := t / p.Groups
	coutG, cinG := p.Cout/p.Groups, p.C/p.Groups
	ohw := p.OH * p.OW
	k := cinG * p.KH * p.KW
	r0, r1 := rb*s.mb, min((rb+1)*s.mb, coutG)
	j0, j1 := cb*s.nb, min((cb+1)*s.nb, ohw)
	if r0 >= r1 || j0 >= j1 {
		return
	}
	cols := j1 - j0
	xin := s.xs[n*s.x.l.bs+g*cinG*s.x.l.cs:]
	var b []float32
	ldb := cols
	if s.algo == algoPointwise {
		b, ldb = xin[j0:], s.x.l.cs
	} else {
		b = ws[:k*cols]
		im2colRange(p, xin, s.x.l.cs, cinG, b, j0, j1)
	}
	c0 := g*coutG + r0
	ycs := s.y.l.cs
	yt := s.ys[n*s.y.l.bs+c0*ycs+j0:]
	sgemmSerial(false, false, r1-r0, cols, k, 1, s.w[c0*k:], k, b, ldb, 0, yt, ycs)
	if s.ep.Bias == nil && s.ep.Act == kernels.ActNone && s.res == nil {
		return
	}
	for r := 0; r < r1-r0; r++ {
		var b float32
		if s.ep.Bias != nil {
			b = s.ep.Bias[c0+r]
		}
		var res []float32
		if s.res != nil {
			res = s.rs[n*s.res.l.bs+(c0+r)*s.res.l.cs+j0:][:cols]
		}
		epilogueRow(yt[r*ycs:r*ycs+cols], b, res, s.ep.Act)
	}
}

// im2colRange writes columns [j0, j1) of one image's im2col matrix (cin
// channels cs apart in x) into col, a (cin*KH*KW) x (j1-j0) matrix; padding
// reads as zero. It is kernels.Im2col restricted to a column tile, so that
// the tile's panel is built where its GEMM reads it.
func im2colRange(p *kernels.ConvParams, x []float32, cs, cin int, col []float32, j0, j1 int) {
	cols := j1 - j0
	for c := 0; c < cin; c++ {
		xc := x[c*cs:][:p.H*p.W]
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				row := col[((c*p.KH+kh)*p.KW+kw)*cols:][:cols]
				off := kw*p.DW - p.PW
				lo, hi := colRange(off, p.SW, p.W, p.OW)
				idx := 0
				for j := j0; j < j1; {
					oh, ow0 := j/p.OW, j%p.OW
					ow1 := min(p.OW, ow0+j1-j)
					seg := row[idx : idx+ow1-ow0]
					idx += ow1 - ow0
					j += ow1 - ow0
					ih := oh*p.SH - p.PH + kh*p.DH
					if ih < 0 || ih >= p.H {
						clear(seg)
						continue
					}
					xr := xc[ih*p.W : (ih+1)*p.W]
					a, b := max(lo, ow0), min(hi, ow1)
					if a >= b {
						clear(seg)
						continue
					}
					clear(seg[:a-ow0])
					clear(seg[b-ow0:])
					dst := seg[a-ow0 : b-ow0]
					if p.SW == 1 {
						copy(dst, xr[a+off:b+off])
						continue
					}
					gatherStrided(dst, xr[a*p.SW+off:], p.SW)
				}
			}
		}
	}
}

// useDW3x3 switches a depthwise step to kernels.DepthwiseConv3x3 when the
// kernel supports the shape and the operands' layout: each image
// contiguous (a batch in a concatenation's range runs one image at a
// time).
func (s *convStep) useDW3x3() bool {
	p := s.p
	if !kernels.DepthwiseConv3x3Supported(&p) {
		return false
	}
	if !s.x.l.imageDense(s.x.shape) || !s.y.l.imageDense(s.y.shape) || (s.res != nil && !s.res.l.imageDense(s.res.shape)) {
		return false
	}
	s.perImage = p.N > 1 && !(s.x.l.dense(s.x.shape) && s.y.l.dense(s.y.shape) && (s.res == nil || s.res.l.dense(s.res.shape)))
	if s.perImage {
		p.N = 1
	}
	s.dwp = p
	s.algo = algoDW3x3
	return true
}

func (s *convStep) runDW3x3() {
	ep := &s.wep
	ep.Bias, ep.Act = s.ep.Bias, s.ep.Act
	if !s.perImage {
		ep.Residual = s.rs
		kernels.DepthwiseConv3x3(&s.dwp, s.xs, s.w, s.ys, ep)
		return
	}
	for n := 0; n < s.p.N; n++ {
		ep.Residual = nil
		if s.res != nil {
			ep.Residual = s.rs[n*s.res.l.bs:]
		}
		kernels.DepthwiseConv3x3(&s.dwp, s.xs[n*s.x.l.bs:], s.w, s.ys[n*s.y.l.bs:], ep)
	}
}

// gatherStrided does dst[i] = src[i*stride], unrolled by four with the bounds
// checked once per group.
func gatherStrided(dst, src []float32, stride int) {
	n := len(dst)
	if n == 0 {
		return
	}
	src = src[:(n-1)*stride+1]
	i, j := 0, 0
	for ; i+4 <= n; i, j = i+4, j+4*stride {
		d := dst[i : i+4 : i+4]
		s := src[j : j+3*stride+1]
		d[0], d[1], d[2], d[3] = s[0], s[stride], s[2*stride], s[3*stride]
	}
	for ; i < n; i, j = i+1, j+stride {
		dst[i] = src[j]
	}
}

// dwPlanes computes output planes [lo, hi) of a depthwise convolution.
func (s *convStep) dwPlanes(lo, hi int) {
	p := &s.p
	mult := p.Cout / p.C
	kk := p.KH * p.KW
	ohw := p.OH * p.OW
	for u := lo; u < hi; u++ {
		n, o := u/p.Cout, u%p.Cout
		x := s.xs[n*s.x.l.bs+(o/mult)*s.x.l.cs:][:p.H*p.W]
		y := s.ys[n*s.y.l.bs+o*s.y.l.cs:][:ohw]
		var b float32
		if s.ep.Bias != nil {
			b = s.ep.Bias[o]
		}
		depthwisePlane(p, x, s.w[o*kk:][:kk], y, b)
		var res []float32
		if s.res != nil {
			res = s.rs[n*s.res.l.bs+o*s.res.l.cs:][:ohw]
		}
		if res != nil || s.ep.Act != kernels.ActNone {
			epilogueRow(y, 0, res, s.ep.Act) // the bias is already in
		}
	}
}

// depthwisePlane convolves one plane with one kh x kw filter, a row of taps
// at a time: every tap is a scaled add of an input row segment into the
// output row, which stays in L1.
func depthwisePlane(p *kernels.ConvParams, x, w, y []float32, bias float32) {
	for oh := 0; oh < p.OH; oh++ {
		yr := y[oh*p.OW : (oh+1)*p.OW]
		for i := range yr {
			yr[i] = bias
		}
		for kh := 0; kh < p.KH; kh++ {
			ih := oh*p.SH - p.PH + kh*p.DH
			if ih < 0 || ih >= p.H {
				continue
			}
			xr := x[ih*p.W : (ih+1)*p.W]
			wr := w[kh*p.KW : (kh+1)*p.KW]
			if p.KW == 3 && p.SW == 1 && p.DW == 1 && p.PW == 1 && p.W == p.OW && p.W >= 2 {
				dw3Row(yr, xr, wr[0], wr[1], wr[2])
				continue
			}
			for kw, wv := range wr {
				off := kw*p.DW - p.PW
				lo, hi := colRange(off, p.SW, p.W, p.OW)
				if p.SW == 1 {
					src := xr[lo+off : hi+off]
					dst := yr[lo:hi]
					for i, v := range src {
						dst[i] += wv * v
					}
					continue
				}
				src := lo*p.SW + off
				for ow := lo; ow < hi; ow++ {
					yr[ow] += wv * xr[src]
					src += p.SW
				}
			}
		}
	}
}

// dw3Row adds the three taps of a 3-wide, stride-1, pad-1 filter row:
// y[i] += w0*x[i-1] + w1*x[i] + w2*x[i+1], zero outside x.
func dw3Row(y, x []float32, w0, w1, w2 float32) {
	n := len(x)
	y[0] += w1*x[0] + w2*x[1]
	xm, x0, xp := x[:n-2], x[1:n-1], x[2:n]
	ym := y[1 : n-1]
	for i := range ym {
		ym[i] += w0*xm[i] + w1*x0[i] + w2*xp[i]
	}
	y[n-1] += w0*x[n-2] + w1*x[n-1]
}
