package models_test

import (
	"math"
	"sort"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// torchvisionMACs are the multiply-accumulates of the convolutions and
// linear layers of torchvision 0.14's models on one 3x224x224 image, in
// evaluation mode, printed by scripts/torchvision_macs.py.
var torchvisionMACs = map[string]int64{
	"alexnet":            714188480,
	"vgg11":              7609090048,
	"vgg13":              11308466176,
	"vgg16":              15470264320,
	"vgg19":              19632062464,
	"vgg11_bn":           7609090048,
	"vgg13_bn":           11308466176,
	"vgg16_bn":           15470264320,
	"vgg19_bn":           19632062464,
	"googlenet":          1498376192,
	"inception_v3":       2837921120,
	"resnet18":           1814073344,
	"resnet34":           3663761408,
	"resnet50":           4089184256,
	"resnet101":          7801405440,
	"resnet152":          11513626624,
	"densenet121":        2834161664,
	"densenet161":        7727907072,
	"densenet169":        3359843328,
	"densenet201":        4291365888,
	"squeezenet1_0":      818924576,
	"squeezenet1_1":      349151936,
	"mobilenet_v2":       300774272,
	"shufflenet_v2_x0_5": 40476448,
	"shufflenet_v2_x1_0": 144907992,
	"shufflenet_v2_x1_5": 295759392,
	"shufflenet_v2_x2_0": 583253464,
}

// lectureParams are the parameter counts (millions) of the lecture's
// comparison table.
var lectureParams = map[string]float64{
	"alexnet": 61.1,
	"vgg11":   132.86, "vgg13": 133.05, "vgg16": 138.36, "vgg19": 143.67,
	"vgg11_bn": 132.87, "vgg13_bn": 133.05, "vgg16_bn": 138.37, "vgg19_bn": 143.68,
	"resnet18": 11.69, "resnet34": 21.8, "resnet50": 25.56, "resnet101": 44.55, "resnet152": 60.19,
	"squeezenet1_0": 1.25, "squeezenet1_1": 1.24,
	"densenet121": 7.98, "densenet169": 14.15, "densenet201": 20.01, "densenet161": 28.68,
	"inception_v3": 27.16,
}

// macCounter adds up the multiply-accumulates of convolutions and linear
// layers.
type macCounter struct{ macs int64 }

func (c *macCounter) Layer(_ string, m nn.Module, in, out *autograd.Value) {
	switch l := m.(type) {
	case *nn.Conv2d:
		w := l.Weight.T.Shape
		c.macs += int64(out.T.Numel()) * int64(w[1]*w[2]*w[3])
	case *nn.Linear:
		c.macs += int64(out.T.Numel()) * int64(l.InFeatures)
	}
}

// TestTorchvisionMACs compares the convolution and linear MACs at 224x224
// with torchvision's: they catch a wrong stride, padding or ceil_mode,
// which state_dict keys cannot. Shapes are traced on meta tensors.
func TestTorchvisionMACs(t *testing.T) {
	var names []string
	for name := range torchvisionMACs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			m, err := models.New(name, models.Meta())
			if err != nil {
				t.Fatal(err)
			}
			nn.SetTraining(m, false)
			var c macCounter
			x := autograd.Input(tensor.Meta(1, 3, 224, 224), &autograd.Context{NoGrad: true}, false)
			if _, err := nn.Run(m, x, &c); err != nil {
				t.Fatal(err)
			}
			if want := torchvisionMACs[name]; c.macs != want {
				t.Errorf("%d MACs in convolutions and linear layers, torchvision has %d", c.macs, want)
			}
		})
	}
}

// TestLectureParams compares parameter counts with the lecture's table.
func TestLectureParams(t *testing.T) {
	for name, want := range lectureParams {
		m, err := models.New(name, models.Meta())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := float64(nn.CountParams(m)) / 1e6; math.Abs(got-want) > 0.006 {
			t.Errorf("%s: %.3fM parameters, the lecture's table has %.2fM", name, got, want)
		}
	}
}
