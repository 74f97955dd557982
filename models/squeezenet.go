package models

import (
	"math"
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// SqueezeNet (Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x
// fewer parameters and <0.5MB model size", 2016) as torchvision builds
// it. Version 1.1 (from the authors' repository) moves pooling earlier and
// starts with a 3x3 convolution, for 2.4x less computation at the same
// accuracy.

func init() {
	for _, v := range []struct {
		name       string
		features   func(in int) *nn.Sequential
		top1, top5 float64
	}{
		{"squeezenet1_0", squeezeNet10Features, 41.90, 19.58},
		{"squeezenet1_1", squeezeNet11Features, 41.81, 19.38},
	} {
		register(Spec{
			Name: v.name, Family: "squeezenet", Input: 224, Torchvision: true,
			Top1Err: v.top1, Top5Err: v.top5,
			Build: func(cfg Config) (nn.Module, error) { return NewSqueezeNet(cfg, v.features(cfg.InChannels)), nil },
			Init:  squeezeNetInit,
		})
	}
}

// squeezeNet10Features is version 1.0: Fire(inplanes, squeeze, expand1x1,
// expand3x3).
func squeezeNet10Features(in int) *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(in, 96, 7, nn.Stride(2)),
		&nn.ReLU{Inplace: true},
		squeezeNetPool(),
		NewFire(96, 16, 64, 64),
		NewFire(128, 16, 64, 64),
		NewFire(128, 32, 128, 128),
		squeezeNetPool(),
		NewFire(256, 32, 128, 128),
		NewFire(256, 48, 192, 192),
		NewFire(384, 48, 192, 192),
		NewFire(384, 64, 256, 256),
		squeezeNetPool(),
		NewFire(512, 64, 256, 256),
	)
}

// squeezeNet11Features is version 1.1.
func squeezeNet11Features(in int) *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(in, 64, 3, nn.Stride(2)),
		&nn.ReLU{Inplace: true},
		squeezeNetPool(),
		NewFire(64, 16, 64, 64),
		NewFire(128, 16, 64, 64),
		squeezeNetPool(),
		NewFire(128, 32, 128, 128),
		NewFire(256, 32, 128, 128),
		squeezeNetPool(),
		NewFire(256, 48, 192, 192),
		NewFire(384, 48, 192, 192),
		NewFire(384, 64, 256, 256),
		NewFire(512, 64, 256, 256),
	)
}

// squeezeNetPool is the 3x3 stride-2 max pooling with ceil_mode: the
// original Caffe model rounds pooled sizes up.
func squeezeNetPool() *nn.MaxPool2d { return nn.NewMaxPool2d(3, nn.Stride(2), nn.CeilMode()) }

// Fire squeezes to a few channels with 1x1 convolutions, then expands with
// 1x1 and 3x3 convolutions side by side, concatenated.
type Fire struct {
	Squeeze             *nn.Conv2d
	SqueezeActivation   *nn.ReLU
	Expand1x1           *nn.Conv2d
	Expand1x1Activation *nn.ReLU
	Expand3x3           *nn.Conv2d
	Expand3x3Activation *nn.ReLU
}

// NewFire returns a Fire module with expand1x1+expand3x3 output channels.
func NewFire(inplanes, squeeze, expand1x1, expand3x3 int) *Fire {
	return &Fire{
		Squeeze:             nn.NewConv2d(inplanes, squeeze, 1),
		SqueezeActivation:   &nn.ReLU{Inplace: true},
		Expand1x1:           nn.NewConv2d(squeeze, expand1x1, 1),
		Expand1x1Activation: &nn.ReLU{Inplace: true},
		Expand3x3:           nn.NewConv2d(squeeze, expand3x3, 3, nn.Padding(1)),
		Expand3x3Activation: &nn.ReLU{Inplace: true},
	}
}

// Children lists the layers in torchvision's order.
func (f *Fire) Children() []nn.Child {
	return []nn.Child{
		{Name: "squeeze", Module: f.Squeeze}, {Name: "squeeze_activation", Module: f.SqueezeActivation},
		{Name: "expand1x1", Module: f.Expand1x1}, {Name: "expand1x1_activation", Module: f.Expand1x1Activation},
		{Name: "expand3x3", Module: f.Expand3x3}, {Name: "expand3x3_activation", Module: f.Expand3x3Activation},
	}
}

// Forward returns [expand1x1(s), expand3x3(s)] with s the squeezed input.
func (f *Fire) Forward(x *autograd.Value) (*autograd.Value, error) {
	s, err := runInOrder(x, f.Squeeze, f.SqueezeActivation)
	if err != nil {
		return nil, err
	}
	a, err := runInOrder(s, f.Expand1x1, f.Expand1x1Activation)
	if err != nil {
		return nil, err
	}
	b, err := runInOrder(s, f.Expand3x3, f.Expand3x3Activation)
	if err != nil {
		return nil, err
	}
	return autograd.Concat(a, b)
}

// SqueezeNet is features, then a classifier of dropout, a 1x1 convolution
// to the classes (no linear layer), ReLU and global average pooling.
type SqueezeNet struct {
	Features   *nn.Sequential
	Classifier *nn.Sequential
	// FinalConv is classifier.1, initialised apart from the others.
	FinalConv *nn.Conv2d
}

// NewSqueezeNet returns a SqueezeNet over features ending with 512
// channels.
func NewSqueezeNet(cfg Config, features *nn.Sequential) *SqueezeNet {
	final := nn.NewConv2d(512, cfg.NumClasses, 1)
	return &SqueezeNet{
		Features:   features,
		Classifier: nn.NewSequential(nn.NewDropout(0.5), final, &nn.ReLU{Inplace: true}, nn.NewAdaptiveAvgPool2d(1, 1)),
		FinalConv:  final,
	}
}

// Children lists features and classifier.
func (s *SqueezeNet) Children() []nn.Child {
	return []nn.Child{{Name: "features", Module: s.Features}, {Name: "classifier", Module: s.Classifier}}
}

// Forward returns the logits, [N, classes].
func (s *SqueezeNet) Forward(x *autograd.Value) (*autograd.Value, error) {
	x, err := runInOrder(x, s.Features, s.Classifier)
	if err != nil {
		return nil, err
	}
	return autograd.Flatten(x, 1)
}

// squeezeNetInit is torchvision's: the final convolution from N(0, 0.01),
// the others kaiming_uniform_ (fan_in, gain sqrt(2)), biases 0.
func squeezeNetInit(m nn.Module, rng *rand.Rand) {
	var final *nn.Conv2d
	if s, ok := m.(*SqueezeNet); ok {
		final = s.FinalConv
	}
	nn.Walk(m, func(_ string, l nn.Module) {
		c, ok := l.(*nn.Conv2d)
		if !ok {
			return
		}
		if c == final {
			nn.Normal(c.Weight.T, 0, 0.01, rng)
		} else {
			s := c.Weight.T.Shape
			bound := math.Sqrt(6 / float64(s[1]*s[2]*s[3]))
			nn.UniformInit(c.Weight.T, -bound, bound, rng)
		}
		if c.Bias != nil {
			nn.Fill(c.Bias.T, 0)
		}
	})
}
