package autograd

import (
	"fmt"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// Elementwise work is memory bound; split it only when a chunk is large
// enough to cover the pool's hand-off.
const ewGrain = 1 << 15

func parallelRange(n int, fn func(lo, hi int)) { kernels.Parallel(n, ewGrain, fn) }

// clampOp is ReLU (hi < 0 means no upper bound) or ReLU6 / Hardtanh(0, 6).
// With inplace the output is written over x's storage, as PyTorch's
// inplace=True does, when that is safe (see ReLUInPlace).
func clampOp(x *Value, hi float32, inplace bool) *Value {
	if isMeta(x) {
		return record(OpClamp, ClampAttrs{Max: hi}, tensor.Meta(x.T.Shape...), nil, x)
	}
	inplace = inplace && x.requiresGrad && x.node != nil && !outputInBackward[x.op]
	var y *tensor.Tensor
	if inplace {
		y = &tensor.Tensor{Shape: append([]int(nil), x.T.Shape...), Data: x.T.Data}
	} else {
		y = tensor.Empty(x.T.Shape...) // written in full
	}
	xd, yd := x.T.Data, y.Data
	parallelRange(len(xd), func(lo, h int) {
		switch hi {
		case -1:
			kernels.AffineRow(yd[lo:h], xd[lo:h], 1, 0, kernels.ActReLU)
		case 6:
			kernels.AffineRow(yd[lo:h], xd[lo:h], 1, 0, kernels.ActReLU6)
		default:
			for i := lo; i < h; i++ {
				yd[i] = min(max(xd[i], 0), hi)
			}
		}
	})
	return record(OpClamp, ClampAttrs{Max: hi}, y, func(g *tensor.Tensor) {
		// PyTorch's threshold_backward passes the gradient where x > 0,
		// hardtanh_backward where 0 < x < hi: the same as 0 < y (< hi)
		// on the output, which is what an in-place ReLU still has. g is
		// this node's own gradient, dropped after this call: it is
		// masked in place and handed to x.
		gd := g.Data
		parallelRange(len(gd), func(lo, h int) {
			if hi < 0 {
				kernels.ReLUBackRow(gd[lo:h], gd[lo:h], yd[lo:h])
				return
			}
			for i := lo; i < h; i++ {
				if v := yd[i]; !(v > 0 && v < hi) {
					gd[i] = 0
				}
			}
		})
		accumulate(x, g, true)
	}, x)
}

// outputInBackward: operations whose backward reads their own output, so
// that an in-place ReLU after them would corrupt it.
var outputInBackward = map[Op]bool{OpSoftmax: true, OpCrossEntropy: true, OpLocalResponseNorm: true, OpMaxPool2d: true}

// ReLU is max(x, 0).
func ReLU(x *Value) *Value { return clampOp(x, -1, false) }

// ReLU6 is min(max(x, 0), 6), MobileNet's activation.
func ReLU6(x *Value) *Value { return clampOp(x, 6, false) }

// ReLUInPlace is ReLU writing its output over x's storage, PyTorch's
// ReLU(inplace=True): a training step then keeps one activation where it
// kept two. x must have no other reader after this call, as in PyTorch
// (torchvision's models use it right after a BatchNorm, a convolution or
// a residual sum). It falls back to ReLU where mutating x is never
// right: a leaf, a value without gradient (inference), or the output of
// an operation whose backward reads its own output.
func ReLUInPlace(x *Value) *Value { return clampOp(x, -1, true) }

// ReLU6InPlace is ReLU6's twin of ReLUInPlace.
func ReLU6InPlace(x *Value) *Value { return clampOp(x, 6, true) }

// Add is the residual addition a + b of equal shapes.
func Add(a, b *Value) (*Value, error) {
	if !tensor.SameShape(a.T.Shape, b.T.Shape) {
		return nil, fmt.Errorf("add: shapes %v and %v differ", a.T.Shape, b.T.Shape)
	}
	if isMeta(a, b) {
		return record(OpAdd, nil, tensor.Meta(a.T.Shape...), nil, a, b), nil
	}
	y := tensor.Empty(a.T.Shape...) // written in full
	ad, bd, yd := a.T.Data, b.T.Data, y.Data
	parallelRange(len(yd), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yd[i] = ad[i] + bd[i]
		}
	})
	return record(OpAdd, nil, y, func(g *tensor.Tensor) {
		// g is this node's own gradient, dropped after this call: a may
		// take it (when b is a as well, the second call adds g to itself).
		accumulate(a, g, true)
		accumulate(b, g, false)
	}, a, b), nil
}

// Scale multiplies by a constant.
func Scale(x *Value, s float32) *Value {
	if isMeta(x) {
		return record(OpScale, s, tensor.Meta(x.T.Shape...), nil, x)
	}
	y := x.T.Clone()
	y.Scale(s)
	return record(OpScale, s, y, func(g *tensor.Tensor) {
		dx := g.Clone()
		dx.Scale(s)
		accumulate(x, dx, true)
	}, x)
}

// Mul is the elementwise product of equal shapes.
func Mul(a, b *Value) (*Value, error) {
	if !tensor.SameShape(a.T.Shape, b.T.Shape) {
		return nil, fmt.Errorf("mul: shapes %v and %v differ", a.T.Shape, b.T.Shape)
	}
	if isMeta(a, b) {
		return record(OpMul, nil, tensor.Meta(a.T.Shape...), nil, a, b), nil
	}
	y := tensor.New(a.T.Shape...)
	for i := range y.Data {
		y.Data[i] = a.T.Data[i] * b.T.Data[i]
	}
	return record(OpMul, nil, y, func(g *tensor.Tensor) {
		if a.requiresGrad {
			da := tensor.New(a.T.Shape...)
			for i := range da.Data {
				da.Data[i] = g.Data[i] * b.T.Data[i]
			}
			accumulate(a, da, true)
		}
		if b.requiresGrad {
			db := tensor.New(b.T.Shape...)
			for i := range db.Data {
				db.Data[i] = g.Data[i] * a.T.Data[i]
			}
			accumulate(b, db, true)
		}
	}, a, b), nil
}

// Sum reduces all elements to a one-element tensor.
func Sum(x *Value) *Value {
	if isMeta(x) {
		return record(OpSum, nil, tensor.Meta(), nil, x)
	}
	y := tensor.New()
	y.Data = []float32{float32(x.T.Sum())}
	return record(OpSum, nil, y, func(g *tensor.Tensor) {
		accumulate(x, tensor.Full(g.Data[0], x.T.Shape...), true)
	}, x)
}

// Mean reduces all elements to their mean.
func Mean(x *Value) *Value {
	n := x.T.Numel()
	if n == 0 {
		n = 1
	}
	return Scale(Sum(x), 1/float32(n))
}
