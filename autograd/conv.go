package autograd

import (
	"fmt"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// ConvOutSize is the lecture's (W - F + 2P)/S + 1, with dilation D as
// PyTorch defines it: F is the dilated extent D*(K-1)+1.
func ConvOutSize(in, k, s, p, d int) int {
	return (in+2*p-d*(k-1)-1)/s + 1
}

// Conv2dOpts are torch.nn.Conv2d's hyper-parameters, as (height, width)
// pairs.
type Conv2dOpts struct {
	Stride, Padding, Dilation [2]int
	Groups                    int
}

// Conv2dParams checks shapes and hyper-parameters and returns the kernel
// description. x is [N, C, H, W], w is [Cout, C/groups, KH, KW].
func Conv2dParams(xs, ws []int, o Conv2dOpts) (kernels.ConvParams, error) {
	var p kernels.ConvParams
	if len(xs) != 4 {
		return p, fmt.Errorf("conv2d: input must be 4-D [N, C, H, W], got %v", xs)
	}
	if len(ws) != 4 {
		return p, fmt.Errorf("conv2d: weight must be 4-D [Cout, Cin/groups, KH, KW], got %v", ws)
	}
	g := o.Groups
	if g <= 0 {
		return p, fmt.Errorf("conv2d: groups must be positive, got %d", g)
	}
	for i := 0; i < 2; i++ {
		if o.Stride[i] <= 0 {
			return p, fmt.Errorf("conv2d: stride must be positive, got %v", o.Stride)
		}
		if o.Dilation[i] <= 0 {
			return p, fmt.Errorf("conv2d: dilation must be positive, got %v", o.Dilation)
		}
		if o.Padding[i] < 0 {
			return p, fmt.Errorf("conv2d: padding must be non-negative, got %v", o.Padding)
		}
	}
	if xs[1]%g != 0 || ws[0]%g != 0 {
		return p, fmt.Errorf("conv2d: input channels %d and output channels %d must be divisible by groups %d", xs[1], ws[0], g)
	}
	if ws[1]*g != xs[1] {
		return p, fmt.Errorf("conv2d: weight %v expects %d input channels (groups %d), input %v has %d", ws, ws[1]*g, g, xs, xs[1])
	}
	p = kernels.ConvParams{N: xs[0], C: xs[1], H: xs[2], W: xs[3], Cout: ws[0], KH: ws[2], KW: ws[3],
		SH: o.Stride[0], SW: o.Stride[1], PH: o.Padding[0], PW: o.Padding[1], DH: o.Dilation[0], DW: o.Dilation[1], Groups: g}
	if p.KH <= 0 || p.KW <= 0 {
		return p, fmt.Errorf("conv2d: kernel size must be positive, got %v", ws[2:])
	}
	ekh, ekw := p.DH*(p.KH-1)+1, p.DW*(p.KW-1)+1
	if ekh > p.H+2*p.PH || ekw > p.W+2*p.PW {
		return p, fmt.Errorf("conv2d: kernel %dx%d (dilated %dx%d) is larger than the padded input %dx%d (input %v, padding %v)",
			p.KH, p.KW, ekh, ekw, p.H+2*p.PH, p.W+2*p.PW, xs, o.Padding)
	}
	p.OH = ConvOutSize(p.H, p.KH, p.SH, p.PH, p.DH)
	p.OW = ConvOutSize(p.W, p.KW, p.SW, p.PW, p.DW)
	return p, nil
}

// Conv2d is torch.nn.functional.conv2d. b may be nil.
func Conv2d(x, w, b *Value, o Conv2dOpts) (*Value, error) {
	p, err := Conv2dParams(x.T.Shape, w.T.Shape, o)
	if err != nil {
		return nil, err
	}
	if b != nil && (len(b.T.Shape) != 1 || b.T.Shape[0] != p.Cout) {
		return nil, fmt.Errorf("conv2d: bias shape %v does not match %d output channels", b.T.Shape, p.Cout)
	}
	if err := needData("conv2d", x, w, b); err != nil {
		return nil, err
	}
	if isMeta(x, w, b) {
		return record(OpConv2d, p, tensor.Meta(p.N, p.Cout, p.OH, p.OW), nil, x, w, b), nil
	}
	y := tensor.Empty(p.N, p.Cout, p.OH, p.OW) // written in full
	var bias []float32
	if b != nil {
		bias = b.T.Data
	}
	kernels.Conv2dForward(&p, x.T.Data, w.T.Data, bias, y.Data)
	return record(OpConv2d, p, y, func(g *tensor.Tensor) {
		if x.requiresGrad {
			dx := tensor.Empty(x.T.Shape...) // written in full
			kernels.Conv2dBackwardData(&p, g.Data, w.T.Data, dx.Data)
			accumulate(x, dx, true)
		}
		if w.requiresGrad || (b != nil && b.requiresGrad) {
			dw := tensor.New(w.T.Shape...)
			var db *tensor.Tensor
			var dbData []float32
			if b != nil && b.requiresGrad {
				db = tensor.New(b.T.Shape...)
				dbData = db.Data
			}
			kernels.Conv2dBackwardWeight(&p, x.T.Data, g.Data, dw.Data, dbData)
			accumulate(w, dw, true)
			if db != nil {
				accumulate(b, db, true)
			}
		}
	}, x, w, b), nil
}

// Linear is torch.nn.functional.linear: y = x w^T + b with x [N, in] and
// w [out, in]. b may be nil.
func Linear(x, w, b *Value) (*Value, error) {
	xs, ws := x.T.Shape, w.T.Shape
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[1] {
		return nil, fmt.Errorf("linear: input %v does not match weight %v (want input [N, %d])", xs, ws, at(ws, 1))
	}
	n, in, out := xs[0], xs[1], ws[0]
	if b != nil && (len(b.T.Shape) != 1 || b.T.Shape[0] != out) {
		return nil, fmt.Errorf("linear: bias shape %v does not match %d outputs", b.T.Shape, out)
	}
	if err := needData("linear", x, w, b); err != nil {
		return nil, err
	}
	if isMeta(x, w, b) {
		return record(OpLinear, nil, tensor.Meta(n, out), nil, x, w, b), nil
	}
	y := tensor.New(n, out)
	if b != nil {
		for i := 0; i < n; i++ {
			copy(y.Data[i*out:(i+1)*out], b.T.Data)
		}
	}
	beta := float32(0)
	if b != nil {
		beta = 1
	}
	kernels.Sgemm(false, true, n, out, in, 1, x.T.Data, in, w.T.Data, in, beta, y.Data, out)
	return record(OpLinear, nil, y, func(g *tensor.Tensor) {
		if x.requiresGrad {
			dx := tensor.New(n, in)
			kernels.Sgemm(false, false, n, in, out, 1, g.Data, out, w.T.Data, in, 0, dx.Data, in)
			accumulate(x, dx, true)
		}
		if w.requiresGrad {
			dw := tensor.New(out, in)
			kernels.Sgemm(true, false, out, in, n, 1, g.Data, out, x.T.Data, in, 0, dw.Data, in)
			accumulate(w, dw, true)
		}
		if b != nil && b.requiresGrad {
			db := tensor.New(out)
			for i := 0; i < n; i++ {
				for j, v := range g.Data[i*out : (i+1)*out] {
					db.Data[j] += v
				}
			}
			accumulate(b, db, true)
		}
	}, x, w, b), nil
}

func at(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return -1
}

// needData refuses real input through parameters that have no storage (a
// layer never materialised or loaded): the output would silently be
// shape-only.
func needData(op string, x *Value, params ...*Value) error {
	if x.T.IsMeta() {
		return nil
	}
	for _, p := range params {
		if p != nil && p.T.IsMeta() {
			return fmt.Errorf("%s: parameter of shape %v has no data (layer not materialised or loaded) for input %v", op, p.T.Shape, x.T.Shape)
		}
	}
	return nil
}
