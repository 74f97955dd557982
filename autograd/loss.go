package autograd

import (
	"fmt"
	"math"

	"github.com/convnet/convnet/tensor"
)

// dims splits a shape around dim into outer x size x inner.
func dims(s []int, dim int) (outer, size, inner int, err error) {
	if dim < 0 {
		dim += len(s)
	}
	if dim < 0 || dim >= len(s) {
		return 0, 0, 0, fmt.Errorf("dimension %d out of range for shape %v", dim, s)
	}
	return tensor.Numel(s[:dim]), s[dim], tensor.Numel(s[dim+1:]), nil
}

func softmaxOp(x *Value, dim int, log bool) (*Value, error) {
	outer, size, inner, err := dims(x.T.Shape, dim)
	name := "softmax"
	if log {
		name = "log_softmax"
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if isMeta(x) {
		return record(OpSoftmax, SoftmaxAttrs{Dim: dim, Log: log}, tensor.Meta(x.T.Shape...), nil, x), nil
	}
	y := tensor.New(x.T.Shape...)
	xd, yd := x.T.Data, y.Data
	for o := 0; o < outer; o++ {
		for in := 0; in < inner; in++ {
			base := o*size*inner + in
			mx := float32(math.Inf(-1))
			for i := 0; i < size; i++ {
				mx = max(mx, xd[base+i*inner])
			}
			var sum float64
			for i := 0; i < size; i++ {
				sum += math.Exp(float64(xd[base+i*inner] - mx))
			}
			lse := float32(math.Log(sum))
			for i := 0; i < size; i++ {
				v := xd[base+i*inner] - mx - lse
				if !log {
					v = float32(math.Exp(float64(v)))
				}
				yd[base+i*inner] = v
			}
		}
	}
	return record(OpSoftmax, SoftmaxAttrs{Dim: dim, Log: log}, y, func(g *tensor.Tensor) {
		dx := tensor.New(x.T.Shape...)
		gd := g.Data
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				base := o*size*inner + in
				var s float64
				for i := 0; i < size; i++ {
					if log {
						s += float64(gd[base+i*inner])
					} else {
						s += float64(gd[base+i*inner]) * float64(yd[base+i*inner])
					}
				}
				for i := 0; i < size; i++ {
					j := base + i*inner
					if log {
						dx.Data[j] = gd[j] - float32(math.Exp(float64(yd[j])))*float32(s)
					} else {
						dx.Data[j] = yd[j] * (gd[j] - float32(s))
					}
				}
			}
		}
		accumulate(x, dx, true)
	}, x), nil
}

// Softmax is torch.softmax(x, dim).
func Softmax(x *Value, dim int) (*Value, error) { return softmaxOp(x, dim, false) }

// LogSoftmax is torch.log_softmax(x, dim).
func LogSoftmax(x *Value, dim int) (*Value, error) { return softmaxOp(x, dim, true) }

// CrossEntropy is torch.nn.functional.cross_entropy(logits, target,
// label_smoothing=ls) with mean reduction: logits [N, C], targets class
// indices. With label smoothing the target distribution is (1-ls) on the
// class plus ls/C everywhere.
func CrossEntropy(logits *Value, targets []int, labelSmoothing float32) (*Value, error) {
	s := logits.T.Shape
	if len(s) != 2 {
		return nil, fmt.Errorf("cross_entropy: logits must be [N, C], got %v", s)
	}
	n, c := s[0], s[1]
	if len(targets) != n {
		return nil, fmt.Errorf("cross_entropy: %d targets for a batch of %d", len(targets), n)
	}
	if labelSmoothing < 0 || labelSmoothing > 1 {
		return nil, fmt.Errorf("cross_entropy: label smoothing must be in [0, 1], got %g", labelSmoothing)
	}
	for i, t := range targets {
		if t < 0 || t >= c {
			return nil, fmt.Errorf("cross_entropy: target %d of sample %d is outside [0, %d)", t, i, c)
		}
	}
	if isMeta(logits) {
		return record(OpCrossEntropy, nil, tensor.Meta(), nil, logits), nil
	}
	if n == 0 {
		return nil, fmt.Errorf("cross_entropy: empty batch")
	}
	logp, _ := LogSoftmax(logits.Detach(), 1)
	lp := logp.T.Data
	var loss float64
	ls := float64(labelSmoothing)
	for i := 0; i < n; i++ {
		row := lp[i*c : (i+1)*c]
		loss -= (1 - ls) * float64(row[targets[i]])
		if ls > 0 {
			var all float64
			for _, v := range row {
				all += float64(v)
			}
			loss -= ls / float64(c) * all
		}
	}
	y := tensor.New()
	y.Data = []float32{float32(loss / float64(n))}
	tg := append([]int(nil), targets...)
	return record(OpCrossEntropy, nil, y, func(g *tensor.Tensor) {
		scale := g.Data[0] / float32(n)
		dx := tensor.New(s...)
		for i := 0; i < n; i++ {
			for j := 0; j < c; j++ {
				q := float32(ls) / float32(c)
				if j == tg[i] {
					q += 1 - float32(ls)
				}
				dx.Data[i*c+j] = (float32(math.Exp(float64(lp[i*c+j]))) - q) * scale
			}
		}
		accumulate(logits, dx, true)
	}, logits), nil
}
