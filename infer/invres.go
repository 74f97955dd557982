package infer

import (
	"fmt"

	"github.com/convnet/convnet/tensor/kernels"
)

// blockStep is a MobileNetV2 inverted residual block, computed band by
// band: for a band of the block's output rows, the 1x1 expansion computes
// the rows the 3x3 depthwise convolution reads into a scratch band, the
// depthwise convolution its rows into a second one, and the 1x1
// projection (with the residual) the block's rows from that; both scratch
// bands stay in the core's L2. The expanded tensor, six times the block's
// input (96 x 112 x 112 floats, 4.8 MB, in MobileNetV2's second block),
// and the depthwise output are then never written to memory and read
// back.
//
// Why: on a shared host the last-level cache is not ours alone. In the
// minutes when the neighbours use it, the steps that stream large
// tensors through it ran 1.3-2x as long (MobileNetV2's steps summed 6.4
// ms in the fast minutes, 8.3 in the slow ones, the expansions at 112x112
// and 56x56 and the depthwise layers most), while the same layers on
// tensors held in L2 did not slow down.
//
// A band's first expanded rows are the last of the band before (the 3x3
// window overlaps the next by a row or two): a task that takes an
// image's bands in order moves them to the top of its scratch band rather
// than computing them again. Each convolution of a band runs as a
// PackedConv compiled for its rows (kernels.DepthwiseConv3x3Rows for the
// depthwise one), reading the block's input and writing its output in
// place. The block without an expansion (MobileNetV2's first) is the same
// with the depthwise convolution reading the input; when a network's stem
// (a convolution of a few input channels) is all that reads into it, the
// stem takes the expansion's place, computing its rows from a copied
// window of input rows (MobileNetV2's 3x3/2, 3 -> 32: its 32 x 112 x 112
// output, 1.6 MB, stays in bands too; in-process A/B against the stem as
// a step of its own, 800 runs: level with fast host caches, -2.6% with
// slow).
type blockStep struct {
	exp, dw, proj *convStep // exp is nil without an expansion

	band, bands int // output rows per band; bands per image
	// pcE[m] expands m rows; pcP[m] projects m rows (nil where no band
	// needs m).
	pcE, pcP []*kernels.PackedConv
	eRows    int // expanded rows a band holds at most
	ePlane   int // floats per channel of the expanded band
	dPlane   int // floats per channel of the depthwise band
	eSize    int // floats per slot: expanded band
	winRows  int // a stem's input window rows, at most
	winSize  int // floats per slot: a stem's input window
	dSize    int // depthwise band
	dwSize   int // depthwise scratch
	pcSize   int // the PackedConvs' workspace
	slots    int

	xs, ys, rs, ws []float32
	free           chan int // slot indices not in use
	fn             func(lo, hi int)
	epE, epD       kernels.Epilogue
	epP            []kernels.Epilogue // per slot: the residual moves with the band
}

// blockBandBytes is the target size of a band's two scratch bands: a Zen
// 3 core's L2 (512 KiB; the band's first rows leave it as the last come
// in). In-process A/B on MobileNetV2, 800 runs each: 512 KiB -1.2%
// against 256 KiB (MobileNetV2's second block in bands of 4 rows instead
// of 2, the rows shared with the band before moved half as often), 768
// KiB and 1 MiB level with 512 KiB.
var blockBandBytes = 512 << 10

// fuseBlocks replaces each run of a 1x1 expansion, a depthwise 3x3
// convolution and a 1x1 projection whose intermediate values only the
// next of them reads (or of the last two, without an expansion) by a
// blockStep, where the depthwise convolution's input has at least
// blockMinPixels pixels per channel. The intermediate buffers then hold
// nothing.
func fuseBlocks(steps []step) []step {
	readers := countUses(steps)
	// only reports whether b is written by one step and read by one.
	only := func(o operand) bool { return readers[o.l.buf.root()] == 2 }
	var out []step
	for i := 0; i < len(steps); i++ {
		cs := func(k int) *convStep {
			if k < len(steps) {
				if c, ok := steps[k].(*convStep); ok {
					return c
				}
			}
			return nil
		}
		e, d, p := cs(i), cs(i+1), cs(i+2)
		if e != nil && d != nil && p != nil && expansion(e) && depthwiseBand(d) && projection(p) &&
			d.x.l == e.y.l && p.x.l == d.y.l && only(e.y) && only(d.y) {
			if f := newBlockStep(e, d, p); f != nil {
				e.y.l.buf.size, d.y.l.buf.size = 0, 0
				out = append(out, f)
				i += 2
				continue
			}
		}
		d, p = cs(i), cs(i+1)
		if d != nil && p != nil && depthwiseBand(d) && projection(p) && p.x.l == d.y.l && only(d.y) {
			if f := newBlockStep(nil, d, p); f != nil {
				d.y.l.buf.size = 0
				out = append(out, f)
				i++
				continue
			}
		}
		out = append(out, steps[i])
	}
	return out
}

// blockMinPixels is the least depthwise input, in pixels per channel,
// of a block that runs in bands: MobileNetV2's first two blocks (112x112).
// Measured per block (in-process, the plans with and without bands run
// alternately, 400 runs, 2 Zen 3 vCPUs, batch 1): the first block (no
// expansion, 32 channels) -25 to -37%, the second (96 channels, stride 2)
// level to -7%; the blocks at 56x56 and 28x28 +4 to +27% (bands of 3 to 7
// rows, whose fixed work, a PackedConv call per convolution and band on a
// few hundred pixels, costs more than their tensors, which fit the
// last-level cache, cost to stream), so they keep their three steps. The
// whole plan: -1.1% in the minutes when the host's caches were fast,
// -2.9% when slow, -1.6 to -2% at batch 16.
var blockMinPixels = 112 * 112

// pointwise reports whether s is a plain 1x1 convolution the block can
// run on a band of rows: packed, stride 1, no padding or groups, no
// prologue, its operands' planes with rows of the image's width.
func pointwise(s *convStep) bool {
	p := &s.p
	return s.algo == algoPacked && s.pro == nil && p.Groups == 1 && p.KH == 1 && p.KW == 1 &&
		p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0 && p.DH == 1 && p.DW == 1 &&
		s.x.l.cs >= p.H*p.W && s.y.l.cs >= p.OH*p.OW
}

// expansion reports whether s can compute a block's first rows band by
// band: a pointwise convolution (read in place), or a network's stem, a
// convolution of at most 4 input channels (MobileNetV2's 3x3/2, 3 -> 32,
// read through a copied window of rows).
func expansion(s *convStep) bool {
	if s.res != nil || !s.x.l.imageDense(s.x.shape) {
		return false
	}
	if pointwise(s) {
		return true
	}
	p := &s.p
	return s.algo == algoPacked && s.pro == nil && p.Groups == 1 && p.C <= 4 && p.DH == 1 && p.DW == 1 &&
		s.y.l.cs >= p.OH*p.OW
}

// windowed reports whether the expansion reads its input through a
// copied window of rows (a stem) rather than in place.
func (s *blockStep) windowed() bool { return s.exp != nil && !pointwise(s.exp) }

func projection(s *convStep) bool {
	return pointwise(s) && (s.res == nil || s.res.l.cs >= s.p.OH*s.p.OW)
}

// depthwiseBand reports whether s is a depthwise 3x3 layer that
// kernels.DepthwiseConv3x3Rows computes, large enough to be worth bands.
func depthwiseBand(s *convStep) bool {
	return s.algo == algoDW3x3 && s.res == nil && s.p.H*s.p.W >= blockMinPixels &&
		s.x.l.imageDense(s.x.shape) && s.y.l.imageDense(s.y.shape)
}

// eRange returns the output rows [o0, o1) of band b and the expanded
// (depthwise input) rows [e0, e1) they read.
func (s *blockStep) eRange(b int) (o0, o1, e0, e1 int) {
	dp := &s.dw.p
	o0, o1 = b*s.band, min((b+1)*s.band, dp.OH)
	e0 = max(0, o0*dp.SH-1)
	e1 = min(dp.H, (o1-1)*dp.SH+2)
	return
}

// kept is how many of band b's first expanded rows a task that computed
// band b-1 of the same image already holds.
func (s *blockStep) kept(b int) int {
	if b == 0 || s.exp == nil {
		return 0
	}
	_, _, _, prev := s.eRange(b - 1)
	_, _, e0, e1 := s.eRange(b)
	return max(0, min(prev, e1)-e0)
}

func newBlockStep(e, d, p *convStep) *blockStep {
	dp := d.p
	s := &blockStep{exp: e, dw: d, proj: p, slots: kernels.Workers()}
	c := dp.C
	// Bytes of a band of r output rows: the expanded rows it reads (none
	// held without an expansion) and its depthwise rows.
	bytes := func(r int) int {
		n := r * dp.OW
		if e != nil {
			n += (dp.SH*(r-1) + 3) * dp.W
		}
		return 4 * c * n
	}
	s.band = 1
	for s.band < dp.OH && bytes(s.band+1) <= blockBandBytes {
		s.band++
	}
	// At least two bands per worker, for the balance.
	s.band = min(s.band, max(1, dp.OH/(2*s.slots)))
	s.bands = (dp.OH + s.band - 1) / s.band
	pcFor := func(list *[]*kernels.PackedConv, src *convStep, m, w int) bool {
		for len(*list) <= m {
			*list = append(*list, nil)
		}
		if (*list)[m] != nil {
			return true
		}
		bp := src.p
		bp.N, bp.OH = 1, m
		if src == e && s.windowed() {
			// The rows of a window with the vertical padding copied in.
			bp.PH, bp.H = 0, (m-1)*bp.SH+bp.KH
			s.winRows = max(s.winRows, bp.H)
		} else {
			bp.H, bp.W, bp.OW = m, w, w
		}
		pc, err := kernels.NewPackedConv(&bp, src.w)
		if err != nil {
			return false
		}
		pc.SetSerial()
		(*list)[m] = pc
		s.pcSize = max(s.pcSize, pc.WorkspaceSize())
		return true
	}
	for b := 0; b < s.bands; b++ {
		o0, o1, e0, e1 := s.eRange(b)
		if o1 <= o0 || e1 <= e0 {
			return nil
		}
		s.eRows = max(s.eRows, e1-e0)
		if !pcFor(&s.pcP, p, o1-o0, dp.OW) {
			return nil
		}
		if e == nil {
			continue
		}
		for _, m := range []int{e1 - e0, e1 - e0 - s.kept(b)} {
			if m > 0 && !pcFor(&s.pcE, e, m, dp.W) {
				return nil
			}
		}
	}
	if e != nil {
		s.ePlane = s.eRows * dp.W
		s.eSize = c * s.ePlane
		if s.windowed() {
			s.winSize = e.p.C * s.winRows * e.p.W
		}
	}
	s.dPlane = s.band * dp.OW
	s.dSize = c * s.dPlane
	bp := dp
	bp.N = 1
	s.dwSize = kernels.DepthwiseRowsScratch(&bp, s.band)
	return s
}

func (s *blockStep) operands() []loc {
	l := []loc{s.input().l, s.proj.y.l}
	if s.proj.res != nil {
		l = append(l, s.proj.res.l)
	}
	return l
}

// input is the block's input: the expansion's, or the depthwise layer's.
func (s *blockStep) input() operand {
	if s.exp != nil {
		return s.exp.x
	}
	return s.dw.x
}

func (s *blockStep) perSlot() int { return s.winSize + s.eSize + s.dSize + s.dwSize + s.pcSize }

func (s *blockStep) workspace() int { return s.slots * s.perSlot() }

func (s *blockStep) clone() step { c := *s; return &c }

func (s *blockStep) describe() string {
	d := ""
	if s.exp != nil {
		d = s.exp.describe() + ", "
	}
	return fmt.Sprintf("%s%s, %s, in bands of %d rows", d, s.dw.describe(), s.proj.describe(), s.band)
}

func (s *blockStep) bind(arena, ws []float32) {
	s.xs, s.ys, s.ws = s.input().slice(arena), s.proj.y.slice(arena), ws
	s.rs = nil
	if s.proj.res != nil {
		s.rs = s.proj.res.slice(arena)
	}
	s.free = make(chan int, s.slots)
	for k := 0; k < s.slots; k++ {
		s.free <- k
	}
	if s.exp != nil {
		s.epE = kernels.Epilogue{Bias: s.exp.ep.Bias, Act: s.exp.ep.Act}
	}
	s.epD = kernels.Epilogue{Bias: s.dw.ep.Bias, Act: s.dw.ep.Act}
	s.epP = make([]kernels.Epilogue, s.slots)
	s.fn = s.units
}

func (s *blockStep) run() error {
	kernels.Parallel(s.dw.p.N*s.bands, 1, s.fn)
	return nil
}

// units computes bands [lo, hi) (image-major) in one slot's scratch.
func (s *blockStep) units(lo, hi int) {
	k := <-s.free
	sl := s.ws[k*s.perSlot():][:s.perSlot()]
	win, sl := sl[:s.winSize], sl[s.winSize:]
	ebuf, sl := sl[:s.eSize], sl[s.eSize:]
	dbuf, sl := sl[:s.dSize], sl[s.dSize:]
	dws, pcws := sl[:s.dwSize], sl[s.dwSize:]
	dp := s.dw.p
	dp.N = 1
	c := dp.C
	xl, yl := s.input().l, s.proj.y.l
	held := -1 // the unit whose expanded rows ebuf holds
	for u := lo; u < hi; u++ {
		n, b := u/s.bands, u%s.bands
		o0, o1, e0, e1 := s.eRange(b)
		x := s.xs[n*xl.bs:]
		src, srcCS, srcRow := x, xl.cs, 0 // the depthwise input rows
		if s.exp != nil {
			keep := 0
			if held == u-1 && b > 0 {
				keep = s.kept(b)
				_, _, p0, p1 := s.eRange(b - 1)
				moveRowsUp(ebuf, c, s.ePlane, dp.W, p1-p0, keep)
			}
			if m := e1 - e0 - keep; m > 0 {
				ep := &s.exp.p
				in, il := x[(e0+keep)*ep.W:], kernels.Layout{CS: xl.cs, BS: xl.bs}
				if s.windowed() {
					// The input rows the m rows read, zero rows where
					// they pass the image's edge.
					r0 := (e0+keep)*ep.SH - ep.PH
					wh := (m-1)*ep.SH + ep.KH
					copyWindow(win, x, ep.C, xl.cs, ep.W, ep.H, r0, wh)
					in, il = win, kernels.Layout{CS: wh * ep.W, BS: ep.C * wh * ep.W}
				}
				s.pcE[m].Run(1, in, il, ebuf[keep*dp.W:], kernels.Layout{CS: s.ePlane, BS: s.eSize}, &s.epE, kernels.Layout{}, pcws)
			}
			held = u
			src, srcCS, srcRow = ebuf, s.ePlane, e0
		}
		kernels.DepthwiseConv3x3Rows(&dp, o0, o1, src, srcRow, e1, srcCS, s.dw.w, dbuf, s.dPlane, &s.epD, 0, dws)
		pp := s.proj.p
		ep := &s.epP[k]
		*ep = kernels.Epilogue{Bias: s.proj.ep.Bias, Act: s.proj.ep.Act}
		var rl kernels.Layout
		if r := s.proj.res; r != nil {
			ep.Residual = s.rs[n*r.l.bs+o0*pp.OW:]
			rl = kernels.Layout{CS: r.l.cs, BS: r.l.bs}
		}
		s.pcP[o1-o0].Run(1, dbuf, kernels.Layout{CS: s.dPlane, BS: s.dSize}, s.ys[n*yl.bs+o0*pp.OW:],
			kernels.Layout{CS: yl.cs, BS: yl.bs}, ep, rl, pcws)
	}
	s.free <- k
}
