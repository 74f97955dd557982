package models

import (
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// VGG (Simonyan and Zisserman, "Very Deep Convolutional Networks for
// Large-Scale Image Recognition", 2014) as torchvision builds it, with the
// optional BatchNorm after every convolution (the _bn variants).

// maxPool marks a 2x2 stride-2 max pooling in a VGG configuration; the
// other entries are the output channels of 3x3 convolutions (padding 1).
const maxPool = 0

// vggCfgs are the paper's Table 1 columns A (11 layers), B (13), D (16)
// and E (19).
var vggCfgs = map[string][]int{
	"A": {64, maxPool, 128, maxPool, 256, 256, maxPool, 512, 512, maxPool, 512, 512, maxPool},
	"B": {64, 64, maxPool, 128, 128, maxPool, 256, 256, maxPool, 512, 512, maxPool, 512, 512, maxPool},
	"D": {64, 64, maxPool, 128, 128, maxPool, 256, 256, 256, maxPool, 512, 512, 512, maxPool, 512, 512, 512, maxPool},
	"E": {64, 64, maxPool, 128, 128, maxPool, 256, 256, 256, 256, maxPool, 512, 512, 512, 512, maxPool, 512, 512, 512, 512, maxPool},
}

var vggs = []struct {
	name       string
	cfg        string
	batchNorm  bool
	top1, top5 float64
}{
	{"vgg11", "A", false, 30.98, 11.37},
	{"vgg13", "B", false, 30.07, 10.75},
	{"vgg16", "D", false, 28.41, 9.62},
	{"vgg19", "E", false, 27.62, 9.12},
	{"vgg11_bn", "A", true, 29.62, 10.19},
	{"vgg13_bn", "B", true, 28.45, 9.63},
	{"vgg16_bn", "D", true, 26.63, 8.50},
	{"vgg19_bn", "E", true, 25.76, 8.15},
}

func init() {
	for _, v := range vggs {
		register(Spec{
			Name: v.name, Family: "vgg", Input: 224, Torchvision: true,
			Top1Err: v.top1, Top5Err: v.top5,
			Build: func(cfg Config) (nn.Module, error) {
				return NewVGG(cfg, vggFeatures(vggCfgs[v.cfg], v.batchNorm, cfg.InChannels)), nil
			},
			Init: vggInit,
		})
	}
}

// VGG is a stack of 3x3 convolutions and max poolings, pooled to 7x7 and
// classified by three fully connected layers.
type VGG struct {
	Features   *nn.Sequential
	AvgPool    *nn.AdaptiveAvgPool2d
	Classifier *nn.Sequential
}

// NewVGG returns a VGG over the given features (which must end with 512
// channels, as vggFeatures' do).
func NewVGG(cfg Config, features *nn.Sequential) *VGG {
	return &VGG{
		Features: features,
		AvgPool:  nn.NewAdaptiveAvgPool2d(7, 7),
		Classifier: nn.NewSequential(
			nn.NewLinear(512*7*7, 4096),
			&nn.ReLU{Inplace: true},
			nn.NewDropout(0.5),
			nn.NewLinear(4096, 4096),
			&nn.ReLU{Inplace: true},
			nn.NewDropout(0.5),
			nn.NewLinear(4096, cfg.NumClasses),
		),
	}
}

// vggFeatures is torchvision's make_layers: a flat Sequential of
// conv, [bn,] relu per channel count and a pooling per maxPool.
func vggFeatures(cfg []int, batchNorm bool, in int) *nn.Sequential {
	var layers []nn.Module
	for _, v := range cfg {
		if v == maxPool {
			layers = append(layers, nn.NewMaxPool2d(2, nn.Stride(2)))
			continue
		}
		layers = append(layers, nn.NewConv2d(in, v, 3, nn.Padding(1)))
		if batchNorm {
			layers = append(layers, nn.NewBatchNorm2d(v))
		}
		layers = append(layers, &nn.ReLU{Inplace: true})
		in = v
	}
	return nn.NewSequential(layers...)
}

// Children lists features, avgpool, classifier.
func (v *VGG) Children() []nn.Child { return featuresChildren(v.Features, v.AvgPool, v.Classifier) }

// Forward returns the logits.
func (v *VGG) Forward(x *autograd.Value) (*autograd.Value, error) {
	return forwardFeatures(x, v.Features, v.AvgPool, v.Classifier)
}

// vggInit is torchvision's VGG init: kaiming_normal_(fan_out, relu) and
// bias 0 for convolutions, BatchNorm 1 and 0, N(0, 0.01) and bias 0 for
// the linear layers.
func vggInit(m nn.Module, rng *rand.Rand) {
	nn.Walk(m, func(_ string, l nn.Module) {
		switch l := l.(type) {
		case *nn.Conv2d:
			nn.KaimingNormal(l.Weight.T, true, rng)
			if l.Bias != nil {
				nn.Fill(l.Bias.T, 0)
			}
		case *nn.BatchNorm2d:
			initBatchNormUnit(l)
		case *nn.Linear:
			nn.Normal(l.Weight.T, 0, 0.01, rng)
			if l.Bias != nil {
				nn.Fill(l.Bias.T, 0)
			}
		}
	})
}
