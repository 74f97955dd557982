package autograd

import (
	"fmt"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// PoolOutSize is PyTorch's pooling output size: floor or ceil of
// (in + 2p - d*(k-1) - 1)/s + 1, where with ceil_mode the last window must
// start inside the input or its left padding.
func PoolOutSize(in, k, s, p, d int, ceil bool) int {
	num := in + 2*p - d*(k-1) - 1
	if ceil {
		num += s - 1
	}
	out := floorDiv(num, s) + 1
	if ceil && (out-1)*s >= in+p {
		out--
	}
	return out
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// PoolOpts are the hyper-parameters of MaxPool2d and AvgPool2d.
type PoolOpts struct {
	Kernel, Stride, Padding, Dilation [2]int
	CeilMode                          bool
	CountIncludePad                   bool // AvgPool2d only
}

func poolParams(op string, xs []int, o PoolOpts) (kernels.PoolParams, error) {
	var p kernels.PoolParams
	if len(xs) != 4 {
		return p, fmt.Errorf("%s: input must be 4-D [N, C, H, W], got %v", op, xs)
	}
	if o.Dilation == [2]int{} {
		o.Dilation = [2]int{1, 1}
	}
	for i := 0; i < 2; i++ {
		if o.Kernel[i] <= 0 || o.Stride[i] <= 0 || o.Dilation[i] <= 0 {
			return p, fmt.Errorf("%s: kernel %v, stride %v and dilation %v must be positive", op, o.Kernel, o.Stride, o.Dilation)
		}
		if o.Padding[i] < 0 || o.Padding[i] > o.Kernel[i]/2 {
			return p, fmt.Errorf("%s: padding %v must be between 0 and half the kernel %v", op, o.Padding, o.Kernel)
		}
	}
	p = kernels.PoolParams{N: xs[0], C: xs[1], H: xs[2], W: xs[3], KH: o.Kernel[0], KW: o.Kernel[1],
		SH: o.Stride[0], SW: o.Stride[1], PH: o.Padding[0], PW: o.Padding[1], DH: o.Dilation[0], DW: o.Dilation[1]}
	p.OH = PoolOutSize(p.H, p.KH, p.SH, p.PH, p.DH, o.CeilMode)
	p.OW = PoolOutSize(p.W, p.KW, p.SW, p.PW, p.DW, o.CeilMode)
	if p.OH <= 0 || p.OW <= 0 {
		return p, fmt.Errorf("%s: kernel %v (padding %v) is larger than the input %dx%d: output would be %dx%d", op, o.Kernel, o.Padding, p.H, p.W, p.OH, p.OW)
	}
	return p, nil
}

// MaxPool2d is torch.nn.functional.max_pool2d.
func MaxPool2d(x *Value, o PoolOpts) (*Value, error) {
	p, err := poolParams("max_pool2d", x.T.Shape, o)
	if err != nil {
		return nil, err
	}
	if isMeta(x) {
		return record(OpMaxPool2d, p, tensor.Meta(p.N, p.C, p.OH, p.OW), nil, x), nil
	}
	y := tensor.New(p.N, p.C, p.OH, p.OW)
	var idx []int32
	if x.requiresGrad && (x.ctx == nil || !x.ctx.NoGrad) {
		idx = make([]int32, y.Numel())
	}
	kernels.MaxPool2dForward(&p, x.T.Data, y.Data, idx)
	return record(OpMaxPool2d, p, y, func(g *tensor.Tensor) {
		dx := tensor.New(x.T.Shape...)
		kernels.MaxPool2dBackward(&p, g.Data, idx, dx.Data)
		accumulate(x, dx, true)
	}, x), nil
}

// AvgPool2d is torch.nn.functional.avg_pool2d (no divisor_override).
func AvgPool2d(x *Value, o PoolOpts) (*Value, error) {
	o.Dilation = [2]int{1, 1}
	p, err := poolParams("avg_pool2d", x.T.Shape, o)
	if err != nil {
		return nil, err
	}
	if isMeta(x) {
		return record(OpAvgPool2d, AvgPoolAttrs{Params: p, CountIncludePad: o.CountIncludePad}, tensor.Meta(p.N, p.C, p.OH, p.OW), nil, x), nil
	}
	y := tensor.New(p.N, p.C, p.OH, p.OW)
	kernels.AvgPool2dForward(&p, x.T.Data, y.Data, o.CountIncludePad)
	return record(OpAvgPool2d, AvgPoolAttrs{Params: p, CountIncludePad: o.CountIncludePad}, y, func(g *tensor.Tensor) {
		dx := tensor.New(x.T.Shape...)
		kernels.AvgPool2dBackward(&p, g.Data, dx.Data, o.CountIncludePad)
		accumulate(x, dx, true)
	}, x), nil
}

// AdaptiveAvgPool2d is torch.nn.functional.adaptive_avg_pool2d.
func AdaptiveAvgPool2d(x *Value, oh, ow int) (*Value, error) {
	xs := x.T.Shape
	if len(xs) != 4 {
		return nil, fmt.Errorf("adaptive_avg_pool2d: input must be 4-D [N, C, H, W], got %v", xs)
	}
	if oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("adaptive_avg_pool2d: output size %dx%d must be positive", oh, ow)
	}
	if xs[2] <= 0 || xs[3] <= 0 {
		return nil, fmt.Errorf("adaptive_avg_pool2d: input %v has an empty spatial size", xs)
	}
	n, c, h, w := xs[0], xs[1], xs[2], xs[3]
	if isMeta(x) {
		return record(OpAdaptiveAvgPool2d, [2]int{oh, ow}, tensor.Meta(n, c, oh, ow), nil, x), nil
	}
	y := tensor.New(n, c, oh, ow)
	kernels.AdaptiveAvgPool2dForward(n, c, h, w, oh, ow, x.T.Data, y.Data)
	return record(OpAdaptiveAvgPool2d, [2]int{oh, ow}, y, func(g *tensor.Tensor) {
		dx := tensor.New(xs...)
		kernels.AdaptiveAvgPool2dBackward(n, c, h, w, oh, ow, g.Data, dx.Data)
		accumulate(x, dx, true)
	}, x), nil
}
