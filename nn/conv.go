package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/tensor"
)

// Conv2d is torch.nn.Conv2d: weight [out, in/groups, kh, kw], optional bias.
type Conv2d struct {
	InChannels, OutChannels int
	KernelSize              [2]int
	Opts                    autograd.Conv2dOpts
	Weight, Bias            *autograd.Value
}

// NewConv2d returns a square-kernel Conv2d (structure only; see
// Materialize).
func NewConv2d(in, out, kernel int, opts ...Option) *Conv2d {
	return NewConv2dHW(in, out, kernel, kernel, opts...)
}

// NewConv2dHW returns a Conv2d with a kh x kw kernel (Inception's 1x7).
func NewConv2dHW(in, out, kh, kw int, opts ...Option) *Conv2d {
	c := newConfig(opts)
	l := &Conv2d{InChannels: in, OutChannels: out, KernelSize: [2]int{kh, kw},
		Opts: autograd.Conv2dOpts{Stride: c.stride, Padding: c.padding, Dilation: c.dilation, Groups: c.groups}}
	g := c.groups
	if g <= 0 {
		g = 1 // reported by Forward; keep shapes sane here
	}
	l.Weight = autograd.Param(tensor.Meta(out, in/g, kh, kw))
	if c.bias {
		l.Bias = autograd.Param(tensor.Meta(out))
	}
	return l
}

// Forward applies the convolution.
func (l *Conv2d) Forward(x *autograd.Value) (*autograd.Value, error) {
	if l.Opts.Groups <= 0 || l.InChannels%l.Opts.Groups != 0 || l.OutChannels%l.Opts.Groups != 0 {
		return nil, fmt.Errorf("in_channels %d and out_channels %d must be divisible by groups %d", l.InChannels, l.OutChannels, l.Opts.Groups)
	}
	return autograd.Conv2d(x, l.Weight, l.Bias, l.Opts)
}

// Params lists weight and bias.
func (l *Conv2d) Params() []Param { return []Param{{"weight", l.Weight}, {"bias", l.Bias}} }

// ResetParameters is PyTorch's default: kaiming_uniform(a=sqrt(5)), which
// is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for weight and bias alike.
func (l *Conv2d) ResetParameters(rng *rand.Rand) {
	s := l.Weight.T.Shape
	fanIn := s[1] * s[2] * s[3]
	bound := float32(1 / math.Sqrt(float64(fanIn)))
	l.Weight.T = tensor.Uniform(rng, -bound, bound, s...)
	if l.Bias != nil {
		l.Bias.T = tensor.Uniform(rng, -bound, bound, l.Bias.T.Shape...)
	}
}

// Linear is torch.nn.Linear: y = x W^T + b, W [out, in].
type Linear struct {
	InFeatures, OutFeatures int
	Weight, Bias            *autograd.Value
}

// NewLinear returns a Linear layer (structure only).
func NewLinear(in, out int, opts ...Option) *Linear {
	c := newConfig(opts)
	l := &Linear{InFeatures: in, OutFeatures: out, Weight: autograd.Param(tensor.Meta(out, in))}
	if c.bias {
		l.Bias = autograd.Param(tensor.Meta(out))
	}
	return l
}

// Forward applies the affine map.
func (l *Linear) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.Linear(x, l.Weight, l.Bias)
}

// Params lists weight and bias.
func (l *Linear) Params() []Param { return []Param{{"weight", l.Weight}, {"bias", l.Bias}} }

// ResetParameters is PyTorch's default, as for Conv2d.
func (l *Linear) ResetParameters(rng *rand.Rand) {
	bound := float32(1 / math.Sqrt(float64(l.InFeatures)))
	l.Weight.T = tensor.Uniform(rng, -bound, bound, l.OutFeatures, l.InFeatures)
	if l.Bias != nil {
		l.Bias.T = tensor.Uniform(rng, -bound, bound, l.OutFeatures)
	}
}
