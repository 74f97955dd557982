package infer

import (
	"fmt"
	"strings"

	"github.com/convnet/convnet/tensor/kernels"
)

// algo is how a convolution is computed.
type algo uint8

const (
	algoPacked    algo = iota // kernels.PackedConv: implicit im2col, fused epilogue
	algoDepthwise             // direct loop per channel plane
	algoWinograd              // kernels.WinogradConv, F(4x4, 3x3) or F(2x2, 3x3)
	algoDW3x3                 // kernels.DepthwiseConv3x3
)

func (a algo) String() string {
	return [...]string{"packed gemm", "depthwise", "winograd", "depthwise 3x3"}[a]
}

// convStep is a convolution with its folded BatchNorm, bias, residual
// addition and activation applied while each output tile is in cache.
// Every convolution that is not depthwise runs as kernels.PackedConv (an
// im2col-free GEMM with the epilogue in its micro-kernel) unless it is a
// 3x3 stride-1 layer that Winograd computes faster (tune.go).
type convStep struct {
	label  string
	algo   algo
	p      kernels.ConvParams // p.N is the batch
	w      []float32          // [Cout, Cin/groups * KH * KW], BatchNorm folded in
	ep     kernels.Epilogue   // Bias and Act (the residual is passed per row)
	x, y   operand
	res    *operand          // nil without a residual
	folded bool              // a BatchNorm is folded into w and the bias
	pro    *kernels.Prologue // applied to x as it is read (algoPacked only); nil for none

	xs, ys, rs, ws []float32
	fn             func(lo, hi int)
	wino           *winograd           // algoWinograd only
	pc             *kernels.PackedConv // algoPacked only (read-only, shared by clones)
	wep            kernels.Epilogue    // the external kernels', with the residual bound
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
	switch s.algo {
	case algoWinograd:
		return s.wino.workspace()
	case algoPacked:
		return s.pc.WorkspaceSize()
	}
	return 0
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
	if s.pro != nil {
		// The prologue, in front: "(input affine+relu)".
		g += " (input " + strings.TrimPrefix(prologueName(s.pro), "+") + ")"
	}
	a := s.algo.String()
	if s.algo == algoWinograd {
		a = fmt.Sprintf("winograd F%d", s.wino.wc.Tile())
	}
	over := ""
	if s.residualInPlace() {
		over = ", over the residual"
	}
	return fmt.Sprintf("%s conv %dx%d/%d %d->%d%s [%s]%s%s%s", s.label, p.KH, p.KW, p.SH, p.C, p.Cout, g, a, extra, actName(s.ep.Act), over)
}

// prologueName is "affine+relu" or the like.
func prologueName(q *kernels.Prologue) string {
	pre := "affine"
	if q.Scale == nil && q.Shift == nil {
		pre = ""
	}
	return pre + actName(q.Act)
}

// residualInPlace reports whether the output is written over the residual
// (shareResiduals).
func (s *convStep) residualInPlace() bool {
	return s.res != nil && s.y.l.buf.root() == s.res.l.buf.root()
}

func (s *convStep) bind(arena, ws []float32) {
	s.xs, s.ys = s.x.slice(arena), s.y.slice(arena)
	if s.res != nil {
		s.rs = s.res.slice(arena)
	}
	s.ws = ws
	s.fn = nil
	if s.algo == algoDepthwise {
		s.fn = s.dwPlanes
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
	case algoPacked:
		s.runPacked()
	}
	return nil
}

// usePacked makes s a kernels.PackedConv. Its shape comes from a traced
// convolution, which the kernel takes whatever the stride, padding,
// dilation or groups: an error is a bug.
func (s *convStep) usePacked() {
	pc, err := kernels.NewPackedConv(&s.p, s.w)
	if err == nil && s.pro != nil {
		err = pc.SetPrologue(s.pro)
	}
	if err != nil {
		panic(fmt.Sprintf("infer: internal error: %s: %v", s.label, err))
	}
	s.pc, s.algo = pc, algoPacked
}

func (s *convStep) runPacked() {
	ep := &s.wep
	ep.Bias, ep.Act, ep.Residual = s.ep.Bias, s.ep.Act, nil
	var rl kernels.Layout
	if s.res != nil {
		ep.Residual = s.rs
		rl = kernels.Layout{CS: s.res.l.cs, BS: s.res.l.bs}
	}
	s.pc.Run(s.p.N, s.xs, kernels.Layout{CS: s.x.l.cs, BS: s.x.l.bs}, s.ys, kernels.Layout{CS: s.y.l.cs, BS: s.y.l.bs}, ep, rl, s.ws)
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
