package infer

import (
	"github.com/convnet/convnet/tensor/kernels"
)

// winograd runs a convolution through kernels' Winograd F(4x4, 3x3), whose
// weights are transformed once at compile time. The kernel reads and
// writes dense NCHW batches; a value in a concatenation's channel range
// (batch stride larger than one image) is run one image at a time.
type winograd struct {
	wc       *kernels.WinogradConv // read-only, shared by clones
	perImage bool
}

func (w *winograd) workspace() int { return w.wc.WorkspaceSize() }

// run computes s; s.wep is the step's own epilogue (clones must not share
// it: its Residual points into their arenas).
func (w *winograd) run(s *convStep) {
	ep := &s.wep
	ep.Bias, ep.Act = s.ep.Bias, s.ep.Act
	if !w.perImage {
		ep.Residual = s.rs
		w.wc.ForwardWorkspace(s.xs, s.ys, ep, s.ws)
		return
	}
	for n := 0; n < s.p.N; n++ {
		ep.Residual = nil
		if s.res != nil {
			ep.Residual = s.rs[n*s.res.l.bs:]
		}
		w.wc.ForwardWorkspace(s.xs[n*s.x.l.bs:], s.ys[n*s.y.l.bs:], ep, s.ws)
	}
}

// winogradTile is F(m x m, 3x3)'s m: 4 multiplies 4x fewer times than the
// direct convolution and errs by about 1e-6 of the layer's output range
// (kernels' TestWinogradAccuracy), which leaves the 1e-4 end-to-end budget
// intact even for VGG19's 16 layers.
const winogradTile = 4

// useWinograd decides whether a convolution runs as Winograd: in automatic
// mode wherever the kernel applies (3x3, stride 1, one group). Measured
// against this package's im2col+GEMM on 2 busy Zen cores, batch 1, the
// Winograd kernel was faster on every shape of the zoo's 3x3 layers:
//
//	Cin x Cout x side   GEMM ms   Winograd ms   speed-up
//	  3 x  64 x 224      7.97       5.85          1.36
//	 16 x  16 x  56      0.59       0.23          2.60
//	 64 x  64 x  56      4.80       1.83          2.62
//	128 x  32 x  56      5.31       1.35          3.95
//	128 x 128 x  28      5.21       1.49          3.48
//	 96 x  96 x  35      4.10       1.36          3.02
//	256 x 256 x  14      3.91       1.89          2.07
//	 64 x 256 x  13      0.95       0.73          1.29
//	128 x  32 x   7      0.30       0.12          2.59
//	512 x 512 x   7      5.36       4.77          1.12
//
// It gains least where the image is small and the channels many (7x7
// outputs take four 4x4 tiles, 64 outputs computed for 49), but never
// loses, so no threshold is applied.
func (c *compiler) useWinograd(p *kernels.ConvParams) bool {
	if !c.cfg.winograd {
		return false
	}
	return p.KH == 3 && p.KW == 3 && p.SH == 1 && p.SW == 1 && p.DH == 1 && p.DW == 1 && p.Groups == 1
}

// newWinograd builds the Winograd kernel for s, or returns nil when the
// operands' layout does not allow it (a channel-interleaved value).
func newWinograd(s *convStep) *winograd {
	dense := s.x.l.imageDense(s.x.shape) && s.y.l.imageDense(s.y.shape) && (s.res == nil || s.res.l.imageDense(s.res.shape))
	if !dense {
		return nil
	}
	p := s.p
	perImage := p.N > 1 && !(s.x.l.dense(s.x.shape) && s.y.l.dense(s.y.shape) && (s.res == nil || s.res.l.dense(s.res.shape)))
	if perImage {
		p.N = 1
	}
	wc, err := kernels.NewWinogradConv(&p, s.w, winogradTile)
	if err != nil {
		return nil
	}
	return &winograd{wc: wc, perImage: perImage}
}
