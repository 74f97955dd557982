package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// ResNet (He et al., "Deep Residual Learning for Image Recognition", 2015)
// as torchvision builds it: the stride of a downsampling Bottleneck sits on
// its 3x3 convolution (ResNet v1.5), and a block whose shape changes gets a
// 1x1 convolution + BatchNorm projection shortcut named "downsample".

// resnets is the paper's Table 1: blocks per stage (conv2_x .. conv5_x).
var resnets = []struct {
	name       string
	block      blockKind
	layers     [4]int
	top1, top5 float64
}{
	{"resnet18", basicBlock, [4]int{2, 2, 2, 2}, 30.24, 10.92},
	{"resnet34", basicBlock, [4]int{3, 4, 6, 3}, 26.70, 8.58},
	{"resnet50", bottleneckBlock, [4]int{3, 4, 6, 3}, 23.85, 7.13},
	{"resnet101", bottleneckBlock, [4]int{3, 4, 23, 3}, 22.63, 6.44},
	{"resnet152", bottleneckBlock, [4]int{3, 8, 36, 3}, 21.69, 5.94},
}

func init() {
	for _, r := range resnets {
		register(Spec{
			Name: r.name, Family: "resnet", Input: 224, Torchvision: true,
			Top1Err: r.top1, Top5Err: r.top5,
			Build: func(cfg Config) (nn.Module, error) { return newImageNetResNet(cfg, r.block, r.layers), nil },
			Init:  resnetInit,
		})
	}
}

// blockKind selects a residual stage's building block.
type blockKind int

const (
	basicBlock      blockKind = iota // two 3x3 convolutions (ResNet-18/34, CIFAR nets)
	bottleneckBlock                  // 1x1 reduce, 3x3, 1x1 expand by 4 (ResNet-50 and deeper)
	plainBlock                       // a BasicBlock without shortcut (the paper's plain baselines)
)

// expansion is how much wider a block's output is than its planes.
func (k blockKind) expansion() int {
	if k == bottleneckBlock {
		return 4
	}
	return 1
}

// BasicBlock is two 3x3 convolutions with a shortcut around them:
// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
type BasicBlock struct {
	Conv1 *nn.Conv2d
	BN1   *nn.BatchNorm2d
	ReLU  *nn.ReLU
	Conv2 *nn.Conv2d
	BN2   *nn.BatchNorm2d
	// Downsample projects the input when the shape changes; nil means
	// the identity shortcut.
	Downsample *nn.Sequential
	// Plain drops the shortcut altogether: the plain nets the ResNet paper
	// compares against.
	Plain bool
}

// NewBasicBlock returns a BasicBlock; downsample may be nil.
func NewBasicBlock(inplanes, planes, stride int, downsample *nn.Sequential) *BasicBlock {
	return &BasicBlock{
		Conv1:      resnetConv3x3(inplanes, planes, stride),
		BN1:        nn.NewBatchNorm2d(planes),
		ReLU:       &nn.ReLU{Inplace: true},
		Conv2:      resnetConv3x3(planes, planes, 1),
		BN2:        nn.NewBatchNorm2d(planes),
		Downsample: downsample,
	}
}

// Children lists the layers in torchvision's order.
func (b *BasicBlock) Children() []nn.Child {
	c := []nn.Child{{Name: "conv1", Module: b.Conv1}, {Name: "bn1", Module: b.BN1}, {Name: "relu", Module: b.ReLU},
		{Name: "conv2", Module: b.Conv2}, {Name: "bn2", Module: b.BN2}}
	if b.Downsample != nil {
		c = append(c, nn.Child{Name: "downsample", Module: b.Downsample})
	}
	return c
}

// Forward applies the block.
func (b *BasicBlock) Forward(x *autograd.Value) (*autograd.Value, error) {
	out, err := runInOrder(x, b.Conv1, b.BN1, b.ReLU, b.Conv2, b.BN2)
	if err != nil {
		return nil, err
	}
	if !b.Plain {
		if out, err = addShortcut(out, x, b.Downsample); err != nil {
			return nil, err
		}
	}
	return nn.Call(b.ReLU, out)
}

// Bottleneck is 1x1 (reduce), 3x3 (stride), 1x1 (expand by 4) with a
// shortcut around them.
type Bottleneck struct {
	Conv1      *nn.Conv2d
	BN1        *nn.BatchNorm2d
	Conv2      *nn.Conv2d
	BN2        *nn.BatchNorm2d
	Conv3      *nn.Conv2d
	BN3        *nn.BatchNorm2d
	ReLU       *nn.ReLU
	Downsample *nn.Sequential // nil: identity shortcut
}

// NewBottleneck returns a Bottleneck whose output has 4*planes channels;
// downsample may be nil.
func NewBottleneck(inplanes, planes, stride int, downsample *nn.Sequential) *Bottleneck {
	out := planes * bottleneckBlock.expansion()
	return &Bottleneck{
		Conv1:      resnetConv1x1(inplanes, planes, 1),
		BN1:        nn.NewBatchNorm2d(planes),
		Conv2:      resnetConv3x3(planes, planes, stride),
		BN2:        nn.NewBatchNorm2d(planes),
		Conv3:      resnetConv1x1(planes, out, 1),
		BN3:        nn.NewBatchNorm2d(out),
		ReLU:       &nn.ReLU{Inplace: true},
		Downsample: downsample,
	}
}

// Children lists the layers in torchvision's order.
func (b *Bottleneck) Children() []nn.Child {
	c := []nn.Child{{Name: "conv1", Module: b.Conv1}, {Name: "bn1", Module: b.BN1},
		{Name: "conv2", Module: b.Conv2}, {Name: "bn2", Module: b.BN2},
		{Name: "conv3", Module: b.Conv3}, {Name: "bn3", Module: b.BN3}, {Name: "relu", Module: b.ReLU}}
	if b.Downsample != nil {
		c = append(c, nn.Child{Name: "downsample", Module: b.Downsample})
	}
	return c
}

// Forward applies the block.
func (b *Bottleneck) Forward(x *autograd.Value) (*autograd.Value, error) {
	out, err := runInOrder(x, b.Conv1, b.BN1, b.ReLU, b.Conv2, b.BN2, b.ReLU, b.Conv3, b.BN3)
	if err != nil {
		return nil, err
	}
	if out, err = addShortcut(out, x, b.Downsample); err != nil {
		return nil, err
	}
	return nn.Call(b.ReLU, out)
}

// addShortcut returns out + x, or out + downsample(x).
func addShortcut(out, x *autograd.Value, downsample *nn.Sequential) (*autograd.Value, error) {
	identity := x
	if downsample != nil {
		var err error
		if identity, err = nn.Call(downsample, x); err != nil {
			return nil, err
		}
	}
	y, err := autograd.Add(out, identity)
	if err != nil {
		return nil, fmt.Errorf("residual: %w", err)
	}
	return y, nil
}

// ResNet is a stem, residual stages layer1, layer2, ..., global average
// pooling and a linear classifier. The ImageNet nets have a 7x7 stride-2
// stem with max pooling and four stages; the CIFAR nets (cifar.go) a 3x3
// stem without pooling and three stages.
type ResNet struct {
	Conv1   *nn.Conv2d
	BN1     *nn.BatchNorm2d
	ReLU    *nn.ReLU
	MaxPool *nn.MaxPool2d // nil in the CIFAR nets
	Layers  []*nn.Sequential
	AvgPool *nn.AdaptiveAvgPool2d
	FC      *nn.Linear
}

// Children lists conv1, bn1, relu, maxpool, layer1.., avgpool, fc.
func (r *ResNet) Children() []nn.Child {
	c := []nn.Child{{Name: "conv1", Module: r.Conv1}, {Name: "bn1", Module: r.BN1}, {Name: "relu", Module: r.ReLU}}
	if r.MaxPool != nil {
		c = append(c, nn.Child{Name: "maxpool", Module: r.MaxPool})
	}
	for i, l := range r.Layers {
		c = append(c, nn.Child{Name: fmt.Sprintf("layer%d", i+1), Module: l})
	}
	return append(c, nn.Child{Name: "avgpool", Module: r.AvgPool}, nn.Child{Name: "fc", Module: r.FC})
}

// Forward returns the logits.
func (r *ResNet) Forward(x *autograd.Value) (*autograd.Value, error) {
	x, err := runInOrder(x, r.Conv1, r.BN1, r.ReLU)
	if err != nil {
		return nil, err
	}
	if r.MaxPool != nil {
		if x, err = nn.Call(r.MaxPool, x); err != nil {
			return nil, err
		}
	}
	for _, l := range r.Layers {
		if x, err = nn.Call(l, x); err != nil {
			return nil, err
		}
	}
	if x, err = nn.Call(r.AvgPool, x); err != nil {
		return nil, err
	}
	if x, err = autograd.Flatten(x, 1); err != nil {
		return nil, err
	}
	return nn.Call(r.FC, x)
}

// newImageNetResNet is torchvision's ResNet(block, layers).
func newImageNetResNet(cfg Config, block blockKind, layers [4]int) *ResNet {
	r := &ResNet{
		Conv1:   nn.NewConv2d(cfg.InChannels, 64, 7, nn.Stride(2), nn.Padding(3), nn.NoBias()),
		BN1:     nn.NewBatchNorm2d(64),
		ReLU:    &nn.ReLU{Inplace: true},
		MaxPool: nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1)),
		AvgPool: nn.NewAdaptiveAvgPool2d(1, 1),
	}
	inplanes := 64
	for i, planes := range [4]int{64, 128, 256, 512} {
		stride := 2
		if i == 0 {
			stride = 1
		}
		var stage *nn.Sequential
		stage, inplanes = resnetStage(block, inplanes, planes, layers[i], stride)
		r.Layers = append(r.Layers, stage)
	}
	r.FC = nn.NewLinear(inplanes, cfg.NumClasses)
	return r
}

// resnetStage is torchvision's _make_layer: blocks blocks of planes, the
// first with the stride and, where the shape changes, a projection
// shortcut. It returns the stage and its output channels.
func resnetStage(block blockKind, inplanes, planes, blocks, stride int) (*nn.Sequential, int) {
	out := planes * block.expansion()
	var downsample *nn.Sequential
	if block != plainBlock && (stride != 1 || inplanes != out) {
		downsample = nn.NewSequential(resnetConv1x1(inplanes, out, stride), nn.NewBatchNorm2d(out))
	}
	stage := nn.NewSequential()
	for i := 0; i < blocks; i++ {
		switch block {
		case bottleneckBlock:
			stage.Append(fmt.Sprint(i), NewBottleneck(inplanes, planes, stride, downsample))
		default:
			b := NewBasicBlock(inplanes, planes, stride, downsample)
			b.Plain = block == plainBlock
			stage.Append(fmt.Sprint(i), b)
		}
		inplanes, stride, downsample = out, 1, nil
	}
	return stage, out
}

func resnetConv3x3(in, out, stride int) *nn.Conv2d {
	return nn.NewConv2d(in, out, 3, nn.Stride(stride), nn.Padding(1), nn.NoBias())
}

func resnetConv1x1(in, out, stride int) *nn.Conv2d {
	return nn.NewConv2d(in, out, 1, nn.Stride(stride), nn.NoBias())
}

// resnetInit is torchvision's ResNet init: kaiming_normal_(fan_out, relu)
// for convolutions, BatchNorm weight 1 and bias 0; Linear keeps PyTorch's
// default.
func resnetInit(m nn.Module, rng *rand.Rand) {
	nn.Walk(m, func(_ string, l nn.Module) {
		switch l := l.(type) {
		case *nn.Conv2d:
			nn.KaimingNormal(l.Weight.T, true, rng)
		case *nn.BatchNorm2d:
			initBatchNormUnit(l)
		}
	})
}

// initBatchNormUnit sets a BatchNorm's affine transform to the identity
// (nn.init.constant_(weight, 1), constant_(bias, 0)).
func initBatchNormUnit(l *nn.BatchNorm2d) {
	if l.Weight != nil {
		nn.Fill(l.Weight.T, 1)
		nn.Fill(l.Bias.T, 0)
	}
}

// runInOrder calls ms one after the other on x, as an unnamed Sequential.
func runInOrder(x *autograd.Value, ms ...nn.Module) (*autograd.Value, error) {
	var err error
	for _, m := range ms {
		if x, err = nn.Call(m, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}
