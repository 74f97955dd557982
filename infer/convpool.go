package infer

import (
	"fmt"

	"github.com/convnet/convnet/tensor/kernels"
)

// convPoolStep is a network's stem, a strided convolution of a few input
// channels followed by a max pooling of stride 2 (ResNet, DenseNet,
// ShuffleNetV2, SqueezeNet), computed band by band: for a band of the
// pooling's output rows, the convolution computes the rows the band's
// windows read into a scratch band that stays in the core's cache, and the
// pooling reads them there. The convolution's output, the largest tensor
// of these networks (64 x 111 x 111 in SqueezeNet, 3.2 MB), is then never
// written to memory and read back: written to memory that is not cached,
// each of its lines is read first, and the pooling reads it again.
//
// A band's first rows are the last rows of the band before (a 3x3/2
// window overlaps the next one by a row): a task that takes the bands of
// an image in order copies them to the top of its scratch band instead of
// computing them again. The convolution of a band runs as a PackedConv
// compiled for its rows and an input window without vertical padding,
// which the step copies from the image with zero rows where the window
// passes the image's edge (a few input channels: a small copy).
type convPoolStep struct {
	conv *convStep
	pool *poolStep

	band, bands int // pooling output rows per band; bands per image
	// pcs[m] computes m convolution rows (nil where no band needs m).
	pcs              []*kernels.PackedConv
	winMax, rowsMax  int // input window rows; convolution rows held
	winSize, bufSize int // floats per slot
	wsSize           int // the PackedConvs' workspace, per slot
	slots            int

	xs, ys, ws []float32
	free       chan int // slot indices not in use
	fn         func(lo, hi int)
	ep         kernels.Epilogue
}

// stemBandBytes is the target size of a band of convolution rows. More
// than a Zen 3 core's L2 (512 KiB): the band's fixed work (a PackedConv
// call, a pooling call per channel, the rows shared with the band before)
// weighs more than the rows that spill to the last-level cache before the
// pooling reads them. In-process A/B of SqueezeNet (1200 alternate
// passes, split into the host's fast and slow thirds), 384 -> 768 KiB, 6
// -> 13 pooled rows per band (the cap below, two bands per worker): the
// stem -4 to -7% fast and -6 to -10% slow in three runs; 192 KiB (2 rows)
// was 9% slower. ShuffleNetV2's stem is at the cap with either.
const stemBandBytes = 768 << 10

// fuseStems replaces each packed convolution of at most 4 input channels
// and a window of at most 3x3 whose output only a following stride-2 max
// pooling reads by a convPoolStep. The convolution's output buffer then
// holds nothing: its size becomes 0. Measured in-process (two plans run
// alternately, 400 runs each, 2 Zen 3 cores, batch 1): ShuffleNetV2
// -2.5 to -4.5%, SqueezeNet level to -1.5%. The 7x7 stems of ResNet and
// DenseNet measured level to 2-4% slower: their convolution is 6 times
// the work, and its bands lose more than the pooling saves.
func fuseStems(steps []step) []step {
	readers := countUses(steps)
	var out []step
	for i := 0; i < len(steps); i++ {
		if i+1 < len(steps) {
			if cs, ok := steps[i].(*convStep); ok {
				if ps, ok := steps[i+1].(*poolStep); ok && stemFusable(cs, ps) && readers[cs.y.l.buf.root()] == 2 {
					if f := newConvPoolStep(cs, ps); f != nil {
						cs.y.l.buf.size = 0
						out = append(out, f)
						i++
						continue
					}
				}
			}
		}
		out = append(out, steps[i])
	}
	return out
}

// stemFusable reports whether the pair has the shapes convPoolStep takes.
func stemFusable(c *convStep, p *poolStep) bool {
	cp, pp := &c.p, &p.p
	return c.algo == algoPacked && c.res == nil && c.pro == nil && cp.Groups == 1 && cp.C <= 4 && cp.DH == 1 && cp.KH*cp.KW <= 9 &&
		p.kind == poolMax && p.pro == nil && pp.SH == 2 && pp.SW == 2 && pp.DH == 1 && pp.DW == 1 &&
		(pp.KW == 2 || pp.KW == 3) && (pp.KH == 2 || pp.KH == 3) &&
		p.x.l == c.y.l && c.y.l.off == 0 && c.y.l.dense(c.y.shape) && c.x.l.imageDense(c.x.shape) &&
		pp.C == cp.Cout && pp.H == cp.OH && pp.W == cp.OW && pp.N == cp.N
}

// rows returns the convolution rows [c0, c1) that band b's windows read.
func (s *convPoolStep) rows(b int) (o0, o1, c0, c1 int) {
	pp := &s.pool.p
	o0, o1 = b*s.band, min((b+1)*s.band, pp.OH)
	c0 = max(0, o0*pp.SH-pp.PH)
	c1 = min(pp.H, (o1-1)*pp.SH-pp.PH+pp.KH)
	return
}

// kept is how many of band b's first rows a task that computed band b-1
// of the same image already holds.
func (s *convPoolStep) kept(b int) int {
	if b == 0 {
		return 0
	}
	_, _, _, prev := s.rows(b - 1)
	_, _, c0, c1 := s.rows(b)
	return max(0, min(prev, c1)-c0)
}

func newConvPoolStep(c *convStep, p *poolStep) *convPoolStep {
	cp, pp := c.p, p.p
	s := &convPoolStep{conv: c, pool: p, slots: kernels.Workers()}
	rowBytes := 4 * cp.Cout * cp.OW
	rows := max(pp.KH, stemBandBytes/rowBytes) // convolution rows per band
	s.band = max(1, (rows-pp.KH)/pp.SH+1)
	// At least two bands per worker, for the balance.
	s.band = min(s.band, max(1, pp.OH/(2*s.slots)))
	s.bands = (pp.OH + s.band - 1) / s.band
	for b := 0; b < s.bands; b++ {
		_, _, c0, c1 := s.rows(b)
		if c1 <= c0 {
			return nil // a band without a row: not from PyTorch's size rule
		}
		s.rowsMax = max(s.rowsMax, c1-c0)
		for _, m := range []int{c1 - c0, c1 - c0 - s.kept(b)} {
			if m <= 0 {
				continue
			}
			for len(s.pcs) <= m {
				s.pcs = append(s.pcs, nil)
			}
			if s.pcs[m] != nil {
				continue
			}
			bp := cp
			bp.N, bp.PH, bp.OH = 1, 0, m
			bp.H = (m-1)*cp.SH + cp.KH
			pc, err := kernels.NewPackedConv(&bp, c.w)
			if err != nil {
				panic(fmt.Sprintf("infer: internal error: %s: band of %d rows: %v", c.label, m, err))
			}
			s.pcs[m] = pc
			s.winMax = max(s.winMax, bp.H)
			s.wsSize = max(s.wsSize, pc.WorkspaceSize())
		}
	}
	s.winSize = cp.C * s.winMax * cp.W
	s.bufSize = cp.Cout * s.rowsMax * cp.OW
	return s
}

func (s *convPoolStep) operands() []loc { return []loc{s.conv.x.l, s.pool.y.l} }

func (s *convPoolStep) workspace() int { return s.slots * (s.winSize + s.bufSize + s.wsSize) }

func (s *convPoolStep) clone() step { c := *s; return &c }

func (s *convPoolStep) describe() string {
	return fmt.Sprintf("%s, then %s, in bands of %d rows", s.conv.describe(), s.pool.describe(), s.band)
}

func (s *convPoolStep) bind(arena, ws []float32) {
	s.xs, s.ys, s.ws = s.conv.x.slice(arena), s.pool.y.slice(arena), ws
	s.free = make(chan int, s.slots)
	for k := 0; k < s.slots; k++ {
		s.free <- k
	}
	s.ep = kernels.Epilogue{Bias: s.conv.ep.Bias, Act: s.conv.ep.Act}
	s.fn = s.units
}

func (s *convPoolStep) run() error {
	kernels.Parallel(s.conv.p.N*s.bands, 1, s.fn)
	return nil
}

// units computes bands [lo, hi) (image-major) in one slot's scratch.
func (s *convPoolStep) units(lo, hi int) {
	k := <-s.free
	per := s.winSize + s.bufSize + s.wsSize
	sl := s.ws[k*per : (k+1)*per]
	win, buf, ws := sl[:s.winSize], sl[s.winSize:s.winSize+s.bufSize], sl[s.winSize+s.bufSize:]
	cp, pp := &s.conv.p, s.pool.p
	xl, yl := s.conv.x.l, s.pool.y.l
	ohw := cp.OW // floats per convolution row
	plane := s.rowsMax * ohw
	held := -1 // the unit whose rows buf holds
	for u := lo; u < hi; u++ {
		n, b := u/s.bands, u%s.bands
		o0, o1, c0, c1 := s.rows(b)
		keep := 0
		if held == u-1 && b > 0 {
			// Move the rows this band shares with the one before to the
			// top of each channel's band.
			keep = s.kept(b)
			_, _, p0, p1 := s.rows(b - 1)
			moveRowsUp(buf, cp.Cout, plane, ohw, p1-p0, keep)
		}
		if m := c1 - c0 - keep; m > 0 {
			// The input window of rows [c0+keep, c1), zero rows outside
			// the image.
			r0 := (c0+keep)*cp.SH - cp.PH
			wh := (m-1)*cp.SH + cp.KH
			copyWindow(win, s.xs[n*xl.bs:], cp.C, xl.cs, cp.W, cp.H, r0, wh)
			s.pcs[m].Run(1, win, kernels.Layout{CS: wh * cp.W, BS: cp.C * wh * cp.W}, buf[keep*ohw:],
				kernels.Layout{CS: plane, BS: cp.Cout * plane}, &s.ep, kernels.Layout{}, ws)
		}
		held = u
		// The pooling of the band: its rows in band coordinates, the
		// padding above only where the band starts above the image.
		bp := pp
		bp.N, bp.C, bp.H, bp.OH = 1, 1, c1-c0, o1-o0
		bp.PH = c0 - (o0*pp.SH - pp.PH)
		for ch := 0; ch < cp.Cout; ch++ {
			y := s.ys[n*yl.bs+ch*yl.cs+o0*pp.OW:][:(o1-o0)*pp.OW]
			maxPoolPlaneS2(&bp, buf[ch*plane:][:(c1-c0)*ohw], y)
			actRow(y, s.pool.act)
		}
	}
	s.free <- k
}

// countUses returns how many steps use each buffer (as an operand, read
// or written): 2 for a value one step writes and one reads.
func countUses(steps []step) map[*buffer]int {
	n := map[*buffer]int{}
	for _, s := range steps {
		for _, l := range s.operands() {
			n[l.buf.root()]++
		}
	}
	return n
}

// copyWindow copies rows [r0, r0+wh) of c planes of an image (planes xcs
// floats apart in x, rows of w floats, h rows) into win as c planes of wh
// rows, with zero rows where a row lies outside the image: the input
// window of a band of convolution rows, its vertical padding filled in.
func copyWindow(win, x []float32, c, xcs, w, h, r0, wh int) {
	for ch := 0; ch < c; ch++ {
		for r := 0; r < wh; r++ {
			dst := win[(ch*wh+r)*w:][:w]
			if ir := r0 + r; ir >= 0 && ir < h {
				copy(dst, x[ch*xcs+ir*w:][:w])
			} else {
				clear(dst)
			}
		}
	}
}

// moveRowsUp moves the last n of the held rows of each of c bands (planes
// plane floats apart in buf, rows of w floats) to the top of its band:
// the rows a band shares with the band before.
func moveRowsUp(buf []float32, c, plane, w, held, n int) {
	for ch := 0; ch < c && n > 0; ch++ {
		copy(buf[ch*plane:][:n*w], buf[ch*plane+(held-n)*w:][:n*w])
	}
}
