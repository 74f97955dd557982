package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// DenseNet-BC (Huang et al., "Densely Connected Convolutional Networks",
// 2017) as torchvision builds it: each dense layer sees the concatenation
// of the block's input and every earlier layer's k new feature maps (k is
// the growth rate), through a 1x1 bottleneck of bn_size*k channels and a
// 3x3 convolution; transitions halve channels and resolution.

// densenetBNSize is bn_size: the bottleneck is 4k channels wide.
const densenetBNSize = 4

// densenets is the paper's Table 1 (and torchvision's builders): growth
// rate, layers per dense block, channels of the stem.
var densenets = []struct {
	name         string
	growth       int
	blocks       [4]int
	initFeatures int
	torchvision  bool
	top1, top5   float64
}{
	{"densenet121", 32, [4]int{6, 12, 24, 16}, 64, true, 25.35, 7.83},
	{"densenet161", 48, [4]int{6, 12, 36, 24}, 96, true, 22.35, 6.20},
	{"densenet169", 32, [4]int{6, 12, 32, 32}, 64, true, 24.00, 7.00},
	{"densenet201", 32, [4]int{6, 12, 48, 32}, 64, true, 22.80, 6.43},
	// The paper's deepest ImageNet net; torchvision has no builder for it.
	{"densenet264", 32, [4]int{6, 12, 64, 48}, 64, false, 0, 0},
}

func init() {
	for _, d := range densenets {
		register(Spec{
			Name: d.name, Family: "densenet", Input: 224, Torchvision: d.torchvision,
			Top1Err: d.top1, Top5Err: d.top5,
			Build: func(cfg Config) (nn.Module, error) {
				return NewDenseNet(cfg, d.growth, d.blocks[:], d.initFeatures), nil
			},
			Init: densenetInit,
		})
	}
}

// DenseNet is a feature extractor (conv0, norm0, relu0, pool0, then dense
// blocks and transitions, norm5) and a linear classifier.
type DenseNet struct {
	Features   *nn.Sequential
	Classifier *nn.Linear
}

// NewDenseNet is torchvision's DenseNet(growth_rate, block_config,
// num_init_features) with bn_size 4 and no dropout.
func NewDenseNet(cfg Config, growth int, blocks []int, initFeatures int) *DenseNet {
	f := nn.NewSequential().
		Append("conv0", nn.NewConv2d(cfg.InChannels, initFeatures, 7, nn.Stride(2), nn.Padding(3), nn.NoBias())).
		Append("norm0", nn.NewBatchNorm2d(initFeatures)).
		Append("relu0", &nn.ReLU{Inplace: true}).
		Append("pool0", nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1)))
	c := initFeatures
	for i, n := range blocks {
		f.Append(fmt.Sprintf("denseblock%d", i+1), NewDenseBlock(n, c, densenetBNSize, growth))
		c += n * growth
		if i != len(blocks)-1 {
			f.Append(fmt.Sprintf("transition%d", i+1), NewTransition(c, c/2))
			c /= 2
		}
	}
	f.Append("norm5", nn.NewBatchNorm2d(c))
	return &DenseNet{Features: f, Classifier: nn.NewLinear(c, cfg.NumClasses)}
}

// Children lists features and classifier.
func (d *DenseNet) Children() []nn.Child {
	return []nn.Child{{Name: "features", Module: d.Features}, {Name: "classifier", Module: d.Classifier}}
}

// Forward returns the logits. The ReLU after norm5 and the global pooling
// are functional in torchvision, so they have no modules here either.
func (d *DenseNet) Forward(x *autograd.Value) (*autograd.Value, error) {
	x, err := nn.Call(d.Features, x)
	if err != nil {
		return nil, err
	}
	if x, err = autograd.AdaptiveAvgPool2d(autograd.ReLUInPlace(x), 1, 1); err != nil {
		return nil, err
	}
	if x, err = autograd.Flatten(x, 1); err != nil {
		return nil, err
	}
	return nn.Call(d.Classifier, x)
}

// DenseLayer is BN-ReLU-Conv1x1 (to bn_size*k channels) then
// BN-ReLU-Conv3x3 (to k channels). Its input is the concatenation of
// all earlier feature maps of its block.
type DenseLayer struct {
	Norm1 *nn.BatchNorm2d
	ReLU1 *nn.ReLU
	Conv1 *nn.Conv2d
	Norm2 *nn.BatchNorm2d
	ReLU2 *nn.ReLU
	Conv2 *nn.Conv2d
}

// NewDenseLayer returns a dense layer reading in channels and adding
// growth new ones.
func NewDenseLayer(in, growth, bnSize int) *DenseLayer {
	return &DenseLayer{
		Norm1: nn.NewBatchNorm2d(in),
		ReLU1: &nn.ReLU{Inplace: true},
		Conv1: nn.NewConv2d(in, bnSize*growth, 1, nn.NoBias()),
		Norm2: nn.NewBatchNorm2d(bnSize * growth),
		ReLU2: &nn.ReLU{Inplace: true},
		Conv2: nn.NewConv2d(bnSize*growth, growth, 3, nn.Padding(1), nn.NoBias()),
	}
}

// Children lists norm1, relu1, conv1, norm2, relu2, conv2.
func (l *DenseLayer) Children() []nn.Child {
	return []nn.Child{{Name: "norm1", Module: l.Norm1}, {Name: "relu1", Module: l.ReLU1}, {Name: "conv1", Module: l.Conv1},
		{Name: "norm2", Module: l.Norm2}, {Name: "relu2", Module: l.ReLU2}, {Name: "conv2", Module: l.Conv2}}
}

// Forward returns the layer's growth new feature maps.
func (l *DenseLayer) Forward(x *autograd.Value) (*autograd.Value, error) {
	return runInOrder(x, l.Norm1, l.ReLU1, l.Conv1, l.Norm2, l.ReLU2, l.Conv2)
}

// DenseBlock is denselayer1, denselayer2, ...; its output is its input
// concatenated with every layer's new maps.
type DenseBlock struct {
	Layers []*DenseLayer
}

// NewDenseBlock returns n dense layers reading in, in+growth, ...
// channels.
func NewDenseBlock(n, in, bnSize, growth int) *DenseBlock {
	b := &DenseBlock{}
	for i := 0; i < n; i++ {
		b.Layers = append(b.Layers, NewDenseLayer(in+i*growth, growth, bnSize))
	}
	return b
}

// Children lists denselayer1, denselayer2, ...
func (b *DenseBlock) Children() []nn.Child {
	c := make([]nn.Child, len(b.Layers))
	for i, l := range b.Layers {
		c[i] = nn.Child{Name: fmt.Sprintf("denselayer%d", i+1), Module: l}
	}
	return c
}

// Forward concatenates, as torchvision does, all features so far before
// each layer.
func (b *DenseBlock) Forward(x *autograd.Value) (*autograd.Value, error) {
	features := []*autograd.Value{x}
	for _, l := range b.Layers {
		in := x
		if len(features) > 1 {
			var err error
			if in, err = autograd.Concat(features...); err != nil {
				return nil, err
			}
		}
		y, err := nn.Call(l, in)
		if err != nil {
			return nil, err
		}
		features = append(features, y)
	}
	if len(features) == 1 {
		return x, nil
	}
	return autograd.Concat(features...)
}

// Transition is BN-ReLU-Conv1x1-AvgPool2x2 between dense blocks (norm,
// relu, conv, pool), torchvision's _Transition Sequential.
type Transition struct {
	*nn.Sequential
}

// NewTransition returns a transition from in to out channels.
func NewTransition(in, out int) *Transition {
	return &Transition{nn.NewSequential().
		Append("norm", nn.NewBatchNorm2d(in)).
		Append("relu", &nn.ReLU{Inplace: true}).
		Append("conv", nn.NewConv2d(in, out, 1, nn.NoBias())).
		Append("pool", nn.NewAvgPool2d(2, nn.Stride(2)))}
}

// densenetInit is torchvision's DenseNet init: kaiming_normal_ (fan_in)
// for convolutions, BatchNorm 1 and 0, linear bias 0 (the linear weight
// keeps PyTorch's default).
func densenetInit(m nn.Module, rng *rand.Rand) {
	nn.Walk(m, func(_ string, l nn.Module) {
		switch l := l.(type) {
		case *nn.Conv2d:
			nn.KaimingNormal(l.Weight.T, false, rng)
		case *nn.BatchNorm2d:
			initBatchNormUnit(l)
		case *nn.Linear:
			if l.Bias != nil {
				nn.Fill(l.Bias.T, 0)
			}
		}
	})
}
