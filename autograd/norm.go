package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// BatchNormOpts carries torch.nn.BatchNorm2d's state for one call.
type BatchNormOpts struct {
	// RunningMean and RunningVar are read in eval mode and updated in
	// training mode (they may be nil to always use batch statistics, as
	// track_running_stats=False does).
	RunningMean, RunningVar *tensor.Tensor
	Training                bool
	Momentum, Eps           float32
}

// BatchNorm2d normalises each channel of x [N, C, H, W]. weight and bias
// (the affine parameters, shape [C]) may be nil. In training mode it uses
// the batch's biased variance for normalisation and folds the unbiased one
// into the running variance, as PyTorch does.
func BatchNorm2d(x, weight, bias *Value, o BatchNormOpts) (*Value, error) {
	s := x.T.Shape
	if len(s) != 4 {
		return nil, fmt.Errorf("batch_norm: input must be 4-D [N, C, H, W], got %v", s)
	}
	n, c, inner := s[0], s[1], s[2]*s[3]
	for _, p := range []struct {
		name string
		t    *tensor.Tensor
	}{{"weight", tensorOf(weight)}, {"bias", tensorOf(bias)}, {"running_mean", o.RunningMean}, {"running_var", o.RunningVar}} {
		if p.t != nil && (len(p.t.Shape) != 1 || p.t.Shape[0] != c) {
			return nil, fmt.Errorf("batch_norm: %s has shape %v, want [%d] for input %v", p.name, p.t.Shape, c, s)
		}
	}
	useBatch := o.Training || o.RunningMean == nil || o.RunningVar == nil
	m := n * inner
	if useBatch && m <= 1 {
		return nil, fmt.Errorf("batch_norm: expected more than 1 value per channel when training, got input %v", s)
	}
	if isMeta(x, weight, bias) {
		return record(OpBatchNorm2d, o, tensor.Meta(s...), nil, x, weight, bias), nil
	}
	// Shape-only running statistics (a layer never materialised) cannot be
	// read or updated on real input.
	if (o.RunningMean != nil && o.RunningMean.IsMeta()) || (o.RunningVar != nil && o.RunningVar.IsMeta()) {
		return nil, fmt.Errorf("batch_norm: running_mean/running_var have no data (layer not materialised or loaded) for input %v", s)
	}
	mean := make([]float64, c)
	invstd := make([]float32, c)
	xd := x.T.Data
	if useBatch {
		kernels.Parallel(c, 1, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				var sum float64
				for b := 0; b < n; b++ {
					sum += sumRow(xd[(b*c+ch)*inner : (b*c+ch+1)*inner])
				}
				mu := sum / float64(m)
				hi, lo := splitMean(mu)
				var sq float64
				for b := 0; b < n; b++ {
					sq += sumSqDev(xd[(b*c+ch)*inner:(b*c+ch+1)*inner], hi, lo)
				}
				v := sq / float64(m)
				mean[ch] = mu
				invstd[ch] = float32(1 / math.Sqrt(v+float64(o.Eps)))
				if o.Training && o.RunningMean != nil && o.RunningVar != nil {
					mom := float64(o.Momentum)
					rm, rv := o.RunningMean.Data, o.RunningVar.Data
					rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mu)
					rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*sq/float64(m-1))
				}
			}
		})
	} else {
		for ch := 0; ch < c; ch++ {
			mean[ch] = float64(o.RunningMean.Data[ch])
			invstd[ch] = float32(1 / math.Sqrt(float64(o.RunningVar.Data[ch])+float64(o.Eps)))
		}
	}
	y := tensor.Empty(s...) // written in full
	kernels.Parallel(n*c, 1, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			ch := u % c
			scale := invstd[ch]
			shift := float32(0)
			if weight != nil {
				scale *= weight.T.Data[ch]
			}
			if bias != nil {
				shift = bias.T.Data[ch]
			}
			mu, muLo := splitMean(mean[ch])
			kernels.NormRow(y.Data[u*inner:(u+1)*inner], xd[u*inner:(u+1)*inner], mu, muLo, scale, shift)
		}
	})
	return record(OpBatchNorm2d, o, y, func(g *tensor.Tensor) {
		gd := g.Data
		// Per-channel sums of dy and dy*xhat give dgamma, dbeta and the
		// terms of the batch-statistics backward.
		sumDy := make([]float64, c)
		sumDyXhat := make([]float64, c)
		kernels.Parallel(c, 1, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				mu, muLo := splitMean(mean[ch])
				var sd, sdx float64
				for b := 0; b < n; b++ {
					off := (b*c + ch) * inner
					s1, s2 := sumDot(gd[off:off+inner], xd[off:off+inner], mu, muLo)
					sd += s1
					sdx += s2
				}
				sumDy[ch], sumDyXhat[ch] = sd, sdx*float64(invstd[ch])
			}
		})
		if weight != nil && weight.requiresGrad {
			dw := tensor.New(c)
			for ch := range dw.Data {
				dw.Data[ch] = float32(sumDyXhat[ch])
			}
			accumulate(weight, dw, true)
		}
		if bias != nil && bias.requiresGrad {
			db := tensor.New(c)
			for ch := range db.Data {
				db.Data[ch] = float32(sumDy[ch])
			}
			accumulate(bias, db, true)
		}
		if !x.requiresGrad {
			return
		}
		dx := tensor.Empty(s...) // written in full
		kernels.Parallel(n*c, 1, func(lo, hi int) {
			for u := lo; u < hi; u++ {
				ch := u % c
				gamma := float32(1)
				if weight != nil {
					gamma = weight.T.Data[ch]
				}
				k := gamma * invstd[ch]
				off := u * inner
				if !useBatch {
					for i, gv := range gd[off : off+inner] {
						dx.Data[off+i] = gv * k
					}
					continue
				}
				mu, muLo := splitMean(mean[ch])
				md := float32(sumDy[ch] / float64(m))
				mdx := float32(sumDyXhat[ch] / float64(m))
				// k*(g - md - xhat*mdx) with xhat = ((x-mu)-lo)*invstd.
				kg, kx, kc := k, -k*invstd[ch]*mdx, -k*md
				kernels.BNBackRow(dx.Data[off:off+inner], gd[off:off+inner], xd[off:off+inner], kg, kx, kc, mu, muLo)
			}
		})
		accumulate(x, dx, true)
	}, x, weight, bias), nil
}

// The per-channel reductions sum blocks of kernels.NormBlock values in
// float32 vector lanes (independent add chains instead of one float64
// chain, which was most of BatchNorm's time) and add the blocks in
// float64, so that long rows (224x224 planes) lose no precision.
func sumRow(s []float32) float64 {
	var t float64
	for len(s) > 0 {
		n := min(kernels.NormBlock, len(s))
		t += float64(kernels.SumRow(s[:n]))
		s = s[n:]
	}
	return t
}

// sumSqDev returns the sum of ((v - mu) - lo)^2.
func sumSqDev(s []float32, mu, lo float32) float64 {
	var t float64
	for len(s) > 0 {
		n := min(kernels.NormBlock, len(s))
		t += float64(kernels.SumSqDevRow(s[:n], mu, lo))
		s = s[n:]
	}
	return t
}

// sumDot returns the sums of g and of g*((x - mu) - lo).
func sumDot(g, x []float32, mu, lo float32) (sg, sgx float64) {
	x = x[:len(g)]
	for len(g) > 0 {
		n := min(kernels.NormBlock, len(g))
		a, b := kernels.SumDotDevRow(g[:n], x[:n], mu, lo)
		sg += float64(a)
		sgx += float64(b)
		g, x = g[n:], x[n:]
	}
	return sg, sgx
}

// splitMean returns the float64 batch mean as a float32 pair mu + lo, so
// that (x - mu) - lo keeps the mean's float64 precision in float32
// arithmetic: with a large offset and a small spread (mean 50, std 0.1)
// rounding the mean to float32 alone would shift every normalised value
// by up to 2e-5 in the same direction, a bias that the weight gradient
// sums up.
func splitMean(mean float64) (mu, lo float32) {
	mu = float32(mean)
	return mu, float32(mean - float64(mu))
}

func tensorOf(v *Value) *tensor.Tensor {
	if v == nil {
		return nil
	}
	return v.T
}

// LocalResponseNorm is torch.nn.functional.local_response_norm (AlexNet):
// b_c = a_c / (k + alpha/size * sum_{c' in window(c)} a_c'^2)^beta, where the
// window spans channels c-size/2 .. c+(size-1)/2, zero beyond the edges.
func LocalResponseNorm(x *Value, size int, alpha, beta, k float32) (*Value, error) {
	s := x.T.Shape
	if len(s) < 3 {
		return nil, fmt.Errorf("local_response_norm: input must be at least 3-D, got %v", s)
	}
	if size <= 0 {
		return nil, fmt.Errorf("local_response_norm: size must be positive, got %d", size)
	}
	if isMeta(x) {
		return record(OpLocalResponseNorm, LRNAttrs{Size: size, Alpha: alpha, Beta: beta, K: k}, tensor.Meta(s...), nil, x), nil
	}
	n, c, inner := s[0], s[1], tensor.Numel(s[2:])
	lo, hi := size/2, (size-1)/2
	xd := x.T.Data
	div := make([]float32, len(xd)) // k + alpha/size * window sum
	y := tensor.New(s...)
	kernels.Parallel(n, 1, func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			for ch := 0; ch < c; ch++ {
				off := (b*c + ch) * inner
				for i := 0; i < inner; i++ {
					var sq float32
					for cc := max(0, ch-lo); cc <= min(c-1, ch+hi); cc++ {
						v := xd[(b*c+cc)*inner+i]
						sq += v * v
					}
					d := k + alpha/float32(size)*sq
					div[off+i] = d
					y.Data[off+i] = xd[off+i] * float32(math.Pow(float64(d), -float64(beta)))
				}
			}
		}
	})
	return record(OpLocalResponseNorm, LRNAttrs{Size: size, Alpha: alpha, Beta: beta, K: k}, y, func(g *tensor.Tensor) {
		dx := tensor.New(s...)
		gd := g.Data
		kernels.Parallel(n, 1, func(b0, b1 int) {
			for b := b0; b < b1; b++ {
				for j := 0; j < c; j++ {
					off := (b*c + j) * inner
					for i := 0; i < inner; i++ {
						d := float64(div[off+i])
						acc := float64(gd[off+i]) * math.Pow(d, -float64(beta))
						// Channel j appears in the windows of c in
						// [j-hi, j+lo].
						var t float64
						for cc := max(0, j-hi); cc <= min(c-1, j+lo); cc++ {
							o := (b*c+cc)*inner + i
							t += float64(gd[o]) * float64(xd[o]) * math.Pow(float64(div[o]), -float64(beta)-1)
						}
						acc -= 2 * float64(alpha) * float64(beta) / float64(size) * float64(xd[off+i]) * t
						dx.Data[off+i] = float32(acc)
					}
				}
			}
		})
		accumulate(x, dx, true)
	}, x), nil
}

// Dropout zeroes each element with probability p and scales the rest by
// 1/(1-p) in training mode; in eval mode it is the identity. The mask comes
// from rng, so a seeded generator gives a reproducible run.
func Dropout(x *Value, p float32, training bool, rng *rand.Rand) (*Value, error) {
	if p < 0 || p > 1 {
		return nil, fmt.Errorf("dropout: probability must be in [0, 1], got %g", p)
	}
	if !training || p == 0 || isMeta(x) {
		return x, nil
	}
	if rng == nil {
		return nil, fmt.Errorf("dropout: training mode needs a random generator")
	}
	mask := make([]float32, x.T.Numel())
	if p < 1 {
		keep := 1 / (1 - p)
		for i := range mask {
			if rng.Float32() >= p {
				mask[i] = keep
			}
		}
	}
	y := tensor.New(x.T.Shape...)
	for i, v := range x.T.Data {
		y.Data[i] = v * mask[i]
	}
	return record(OpDropout, p, y, func(g *tensor.Tensor) {
		dx := tensor.New(x.T.Shape...)
		for i, v := range g.Data {
			dx.Data[i] = v * mask[i]
		}
		accumulate(x, dx, true)
	}, x), nil
}
