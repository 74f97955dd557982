package infer

import (
	"github.com/convnet/convnet/tensor/kernels"
)

// winograd runs a convolution through kernels' Winograd F(4x4, 3x3) or
// F(2x2, 3x3), whose weights are transformed once at compile time. The kernel reads and
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

// useWinograd decides whether a convolution is a Winograd candidate: 3x3,
// stride 1, one group. Which tile it runs with, or whether the packed GEMM
// computes it after all, is lowerWinograd's choice (tune.go).
//
// Accuracy (kernels' TestWinogradAccuracy: max|y - y64| / max|y64| per
// layer against a float64 direct convolution, 64 to 512 channels): F(4x4)
// 1.6e-6 .. 4.7e-6, F(2x2) 3.3e-7 .. 6.5e-7, im2col + GEMM 2e-7 .. 3.4e-7.
// The error grows with the fan-in (about sqrt(C)); F(4x4) through VGG19's
// 16 layers stays well inside the plans' 1e-4 end-to-end tolerance.
func (c *compiler) useWinograd(p *kernels.ConvParams) bool {
	if !c.cfg.winograd {
		return false
	}
	return p.KH == 3 && p.KW == 3 && p.SH == 1 && p.SW == 1 && p.DH == 1 && p.DW == 1 && p.Groups == 1
}

// newWinograd builds the Winograd kernel for s, or returns nil when the
// operands' layout does not allow it (a channel-interleaved value).
func newWinograd(s *convStep, tile int) *winograd {
	dense := s.x.l.imageDense(s.x.shape) && s.y.l.imageDense(s.y.shape) && (s.res == nil || s.res.l.imageDense(s.res.shape))
	if !dense {
		return nil
	}
	p := s.p
	perImage := p.N > 1 && !(s.x.l.dense(s.x.shape) && s.y.l.dense(s.y.shape) && (s.res == nil || s.res.l.dense(s.res.shape)))
	if perImage {
		p.N = 1
	}
	wc, err := kernels.NewWinogradConv(&p, s.w, tile)
	if err != nil {
		return nil
	}
	return &winograd{wc: wc, perImage: perImage}
}
