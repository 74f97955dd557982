package models_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// meanStd returns the mean and standard deviation of t's elements.
func meanStd(t *tensor.Tensor) (mean, std float64) {
	for _, v := range t.Data {
		mean += float64(v)
	}
	mean /= float64(len(t.Data))
	for _, v := range t.Data {
		std += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, math.Sqrt(std / float64(len(t.Data)))
}

// TestFamilyInit applies each family's Init to a small stack of layers and
// checks the distributions torchvision's init code asks for (torch.nn.init
// semantics: kaiming_normal_ std sqrt(2/fan), fan_in of a conv weight
// in*kh*kw, fan_out out*kh*kw).
func TestFamilyInit(t *testing.T) {
	const in, out, k, feat, classes = 16, 64, 3, 256, 128
	fanIn, fanOut := float64(in*k*k), float64(out*k*k)
	linearDefault := 1 / math.Sqrt(feat*3) // std of PyTorch's U(-1/sqrt(in), 1/sqrt(in))
	for _, tc := range []struct {
		model                string
		convStd, linearStd   float64
		convBias, linearBias bool // zeroed
	}{
		{"resnet18", math.Sqrt(2 / fanOut), linearDefault, false, false},
		{"resnet20", math.Sqrt(2 / fanOut), linearDefault, false, false},
		{"vgg16", math.Sqrt(2 / fanOut), 0.01, true, true},
		{"densenet121", math.Sqrt(2 / fanIn), linearDefault, false, true},
	} {
		spec, err := models.Lookup(tc.model)
		if err != nil {
			t.Fatal(err)
		}
		conv, bn, lin := nn.NewConv2d(in, out, k), nn.NewBatchNorm2d(out), nn.NewLinear(feat, classes)
		m := nn.NewSequential(conv, bn, nn.NewReLU(), nn.NewDropout(0.5), lin)
		rng := rand.New(rand.NewPCG(1, 2))
		nn.Materialize(m, rng)
		nn.Fill(bn.Weight.T, 3) // Init must reset it
		spec.Init(m, rng)
		check := func(what string, t2 *tensor.Tensor, wantMean, wantStd float64) {
			t.Helper()
			mean, std := meanStd(t2)
			if math.Abs(mean-wantMean) > 0.1*wantStd+1e-7 || math.Abs(std-wantStd) > 0.05*wantStd+1e-7 {
				t.Errorf("%s init: %s has mean %.4g std %.4g, want %.4g and %.4g", tc.model, what, mean, std, wantMean, wantStd)
			}
		}
		check("conv weight", conv.Weight.T, 0, tc.convStd)
		check("linear weight", lin.Weight.T, 0, tc.linearStd)
		check("bn weight", bn.Weight.T, 1, 0)
		check("bn bias", bn.Bias.T, 0, 0)
		if tc.convBias {
			check("conv bias", conv.Bias.T, 0, 0)
		}
		if tc.linearBias {
			check("linear bias", lin.Bias.T, 0, 0)
		}
	}
}

// TestSqueezeNetInit checks torchvision's SqueezeNet init: the final
// convolution N(0, 0.01), the others kaiming_uniform_ (bound
// sqrt(6/fan_in)), all biases zero.
func TestSqueezeNetInit(t *testing.T) {
	m, err := models.New("squeezenet1_1", models.Seed(3))
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*models.SqueezeNet)
	_, std := meanStd(s.FinalConv.Weight.T)
	if math.Abs(std-0.01) > 0.0005 {
		t.Errorf("final conv weight std %.4g, want 0.01", std)
	}
	nn.Walk(m, func(path string, l nn.Module) {
		c, ok := l.(*nn.Conv2d)
		if !ok {
			return
		}
		if _, std := meanStd(c.Bias.T); c.Bias.T.MaxAbs() != 0 {
			t.Errorf("%s.bias not zero (std %g)", path, std)
		}
		if c == s.FinalConv {
			return
		}
		w := c.Weight.T.Shape
		bound := math.Sqrt(6 / float64(w[1]*w[2]*w[3]))
		if got := float64(c.Weight.T.MaxAbs()); got > bound || got < 0.9*bound {
			t.Errorf("%s.weight reaches %.4g, want a uniform bound of %.4g", path, got, bound)
		}
	})
}
