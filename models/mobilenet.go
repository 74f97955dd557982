package models

import (
	"math/rand/v2"
	"strconv"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// MobileNets: v1 (Howard et al. 2017, "MobileNets: Efficient
// Convolutional Neural Networks for Mobile Vision Applications"), which
// torchvision does not have, and v2 (Sandler et al. 2018, "MobileNetV2:
// Inverted Residuals and Linear Bottlenecks") exactly as torchvision 0.14
// builds it (width multiplier 1.0).

// mobilenetV2Setting is the paper's Table 2: expansion factor t, output
// channels c, repeats n, stride s of the first repeat.
var mobilenetV2Setting = []struct{ t, c, n, s int }{
	{1, 16, 1, 1},
	{6, 24, 2, 2},
	{6, 32, 3, 2},
	{6, 64, 4, 2},
	{6, 96, 3, 1},
	{6, 160, 3, 2},
	{6, 320, 1, 1},
}

// mobilenetV1Setting is the body of the paper's Table 1 after the first
// 3x3 convolution (32 channels, stride 2): one row per depthwise-separable
// block, the pointwise output channels and the depthwise stride. The
// paper's table gives the last depthwise layer stride 2, but its output
// stays 7x7: stride 1 is what the network (and every implementation)
// does.
var mobilenetV1Setting = []struct{ out, stride int }{
	{64, 1},
	{128, 2}, {128, 1},
	{256, 2}, {256, 1},
	{512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
	{1024, 2}, {1024, 1},
}

func init() {
	register(Spec{
		Name: "mobilenet_v2", Family: "mobilenet", Input: 224, Torchvision: true,
		Build: func(cfg Config) (nn.Module, error) { return NewMobileNetV2(cfg), nil },
		Init:  initMobileNet,
	})
	register(Spec{
		Name: "mobilenet_v1", Family: "mobilenet", Input: 224,
		Build: func(cfg Config) (nn.Module, error) { return NewMobileNetV1(cfg), nil },
		Init:  initMobileNet,
	})
}

// Conv2dNormActivation is torchvision.ops.Conv2dNormActivation: a
// Sequential of a bias-free convolution with "same" padding (0), a
// BatchNorm2d (1) and an activation (2).
type Conv2dNormActivation struct{ *nn.Sequential }

// NewConv2dNormActivation returns conv k x k (padding (k-1)/2), BN and act.
func NewConv2dNormActivation(in, out, kernel, stride, groups int, act nn.Module) *Conv2dNormActivation {
	return &Conv2dNormActivation{nn.NewSequential(
		nn.NewConv2d(in, out, kernel, nn.Stride(stride), nn.Padding((kernel-1)/2), nn.Groups(groups), nn.NoBias()),
		nn.NewBatchNorm2d(out),
		act,
	)}
}

// InvertedResidual is MobileNetV2's block: 1x1 expansion to t times the
// input channels (left out when t = 1), 3x3 depthwise, linear 1x1
// projection, and a residual connection when the shape is unchanged. Its
// layers sit in a Sequential named conv, as in torchvision.
type InvertedResidual struct {
	Conv *nn.Sequential
	// UseResConnect is stride 1 with as many outputs as inputs.
	UseResConnect bool
}

// NewInvertedResidual returns a block from in to out channels.
func NewInvertedResidual(in, out, stride, expandRatio int) *InvertedResidual {
	hidden := in * expandRatio
	conv := nn.NewSequential()
	if expandRatio != 1 {
		conv.Append("0", NewConv2dNormActivation(in, hidden, 1, 1, 1, &nn.ReLU6{Inplace: true}))
	}
	conv.Append(strconv.Itoa(conv.Len()), NewConv2dNormActivation(hidden, hidden, 3, stride, hidden, &nn.ReLU6{Inplace: true}))
	conv.Append(strconv.Itoa(conv.Len()), nn.NewConv2d(hidden, out, 1, nn.NoBias()))
	conv.Append(strconv.Itoa(conv.Len()), nn.NewBatchNorm2d(out))
	return &InvertedResidual{Conv: conv, UseResConnect: stride == 1 && in == out}
}

// Children lists conv.
func (b *InvertedResidual) Children() []nn.Child { return []nn.Child{{Name: "conv", Module: b.Conv}} }

// Forward applies the block.
func (b *InvertedResidual) Forward(x *autograd.Value) (*autograd.Value, error) {
	y, err := nn.Call(b.Conv, x)
	if err != nil || !b.UseResConnect {
		return y, err
	}
	return autograd.Add(x, y)
}

// MobileNetV2 is torchvision's MobileNetV2: features (features.0 the
// stride-2 stem, features.1-17 the inverted residuals of
// mobilenetV2Setting, features.18 the 1x1 convolution to 1280 channels),
// global average pool, classifier (0 dropout 0.2, 1 linear).
type MobileNetV2 struct {
	Features, Classifier *nn.Sequential
}

// NewMobileNetV2 builds MobileNetV2 for cfg.
func NewMobileNetV2(cfg Config) *MobileNetV2 {
	const stem, last = 32, 1280
	features := nn.NewSequential(NewConv2dNormActivation(cfg.InChannels, stem, 3, 2, 1, &nn.ReLU6{Inplace: true}))
	in := stem
	for _, r := range mobilenetV2Setting {
		for i := 0; i < r.n; i++ {
			stride := 1
			if i == 0 {
				stride = r.s
			}
			features.Append(strconv.Itoa(features.Len()), NewInvertedResidual(in, r.c, stride, r.t))
			in = r.c
		}
	}
	features.Append(strconv.Itoa(features.Len()), NewConv2dNormActivation(in, last, 1, 1, 1, &nn.ReLU6{Inplace: true}))
	return &MobileNetV2{
		Features:   features,
		Classifier: nn.NewSequential(nn.NewDropout(0.2), nn.NewLinear(last, cfg.NumClasses)),
	}
}

// Children lists features and classifier.
func (m *MobileNetV2) Children() []nn.Child {
	return []nn.Child{{Name: "features", Module: m.Features}, {Name: "classifier", Module: m.Classifier}}
}

// Forward returns the logits.
func (m *MobileNetV2) Forward(x *autograd.Value) (*autograd.Value, error) {
	return featuresPoolClassify(x, m.Features, m.Classifier)
}

// featuresPoolClassify is the head shared by the MobileNets: features,
// global average pool (functional, no module), flatten, classifier.
func featuresPoolClassify(x *autograd.Value, features, classifier nn.Module) (*autograd.Value, error) {
	x, err := nn.Call(features, x)
	if err != nil {
		return nil, err
	}
	if x, err = autograd.AdaptiveAvgPool2d(x, 1, 1); err != nil {
		return nil, err
	}
	if x, err = autograd.Flatten(x, 1); err != nil {
		return nil, err
	}
	return nn.Call(classifier, x)
}

// DepthwiseSeparable is MobileNet v1's block (the paper's Figure 3): a
// Sequential of a 3x3 depthwise Conv2dNormActivation (0) and a 1x1
// pointwise one (1), each with BN and ReLU.
type DepthwiseSeparable struct{ *nn.Sequential }

// NewDepthwiseSeparable returns a block from in to out channels; stride
// is the depthwise convolution's.
func NewDepthwiseSeparable(in, out, stride int) *DepthwiseSeparable {
	return &DepthwiseSeparable{nn.NewSequential(
		NewConv2dNormActivation(in, in, 3, stride, in, &nn.ReLU{Inplace: true}),
		NewConv2dNormActivation(in, out, 1, 1, 1, &nn.ReLU{Inplace: true}),
	)}
}

// MobileNetV1 is MobileNet v1 (width multiplier 1, resolution 224),
// laid out in torchvision's MobileNetV2 style:
//
//	features.0            Conv2dNormActivation 3x3/2, 3 -> 32 (0 conv, 1 bn, 2 relu)
//	features.1-13         DepthwiseSeparable (mobilenetV1Setting)
//	  features.N.0        3x3 depthwise: 0 conv (groups = channels), 1 bn, 2 relu
//	  features.N.1        1x1 pointwise: 0 conv, 1 bn, 2 relu
//	(global average pool, functional)
//	classifier            Linear 1024 -> classes
//
// so state_dict keys read features.3.1.0.weight for the third block's
// pointwise convolution. The paper uses ReLU (not ReLU6) and no dropout.
// With 1000 classes it has 4,231,976 parameters (BatchNorm's weight and
// bias included) and 569M mult-adds, as the paper's Table 3 reports.
type MobileNetV1 struct {
	Features   *nn.Sequential
	Classifier *nn.Linear
}

// NewMobileNetV1 builds MobileNet v1 for cfg.
func NewMobileNetV1(cfg Config) *MobileNetV1 {
	const stem = 32
	features := nn.NewSequential(NewConv2dNormActivation(cfg.InChannels, stem, 3, 2, 1, &nn.ReLU{Inplace: true}))
	in := stem
	for _, r := range mobilenetV1Setting {
		features.Append(strconv.Itoa(features.Len()), NewDepthwiseSeparable(in, r.out, r.stride))
		in = r.out
	}
	return &MobileNetV1{Features: features, Classifier: nn.NewLinear(in, cfg.NumClasses)}
}

// Children lists features and classifier.
func (m *MobileNetV1) Children() []nn.Child {
	return []nn.Child{{Name: "features", Module: m.Features}, {Name: "classifier", Module: m.Classifier}}
}

// Forward returns the logits.
func (m *MobileNetV1) Forward(x *autograd.Value) (*autograd.Value, error) {
	return featuresPoolClassify(x, m.Features, m.Classifier)
}

// initMobileNet is torchvision's MobileNetV2 initialisation, used for v1
// too: convolutions kaiming_normal(fan_out) with zero bias, BatchNorm
// weight 1 and bias 0, linear layers N(0, 0.01) with zero bias.
func initMobileNet(m nn.Module, rng *rand.Rand) {
	nn.Walk(m, func(_ string, l nn.Module) {
		switch l := l.(type) {
		case *nn.Conv2d:
			nn.KaimingNormal(l.Weight.T, true, rng)
			if l.Bias != nil {
				nn.Fill(l.Bias.T, 0)
			}
		case *nn.Linear:
			nn.Normal(l.Weight.T, 0, 0.01, rng)
			if l.Bias != nil {
				nn.Fill(l.Bias.T, 0)
			}
		}
	})
}
