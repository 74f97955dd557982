package models_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// TestCIFARParams checks parameter counts against the ResNet paper's
// Table 6. The paper's counts are for option-A shortcuts (no parameters),
// so they are the plain nets'; our option-B projections add a 1x1
// convolution and a BatchNorm entering stages 2 and 3.
func TestCIFARParams(t *testing.T) {
	const projections = 16*32 + 2*32 + 32*64 + 2*64
	for _, tc := range []struct {
		depth  int
		params float64 // millions, as printed in the paper
		digits int
	}{
		{20, 0.27, 2}, {32, 0.46, 2}, {44, 0.66, 2}, {56, 0.85, 2}, {110, 1.7, 1},
	} {
		plain := countParams(t, fmt.Sprintf("plain%d", tc.depth))
		if got := float64(plain) / 1e6; math.Abs(got-tc.params) > 0.5*math.Pow(10, -float64(tc.digits)) {
			t.Errorf("plain%d: %.3fM parameters, the paper has %gM", tc.depth, got, tc.params)
		}
		if res := countParams(t, fmt.Sprintf("resnet%d", tc.depth)); res != plain+projections {
			t.Errorf("resnet%d: %d parameters, want plain%d's %d + %d for the projections", tc.depth, res, tc.depth, plain, projections)
		}
	}
}

func countParams(t *testing.T, name string) int64 {
	t.Helper()
	m, err := models.New(name, models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	return nn.CountParams(m)
}

// TestPlainBlock checks that a plain block has no shortcut: with its
// second BatchNorm zeroed a residual block passes a non-negative input
// through, a plain one outputs zeros.
func TestPlainBlock(t *testing.T) {
	for _, plain := range []bool{false, true} {
		b := models.NewBasicBlock(4, 4, 1, nil)
		b.Plain = plain
		nn.Materialize(b, rand.New(rand.NewPCG(1, 2)))
		nn.Fill(b.BN2.Weight.T, 0)
		nn.Fill(b.BN2.Bias.T, 0)
		nn.SetTraining(b, false)
		x := tensor.Randn(rand.New(rand.NewPCG(3, 4)), 1, 4, 5, 5)
		for i, v := range x.Data {
			x.Data[i] = float32(math.Abs(float64(v)))
		}
		y, err := nn.Infer(b, autograd.Input(x, nil, false))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range y.T.Data {
			want := x.Data[i]
			if plain {
				want = 0
			}
			if v != want {
				t.Fatalf("plain %v: output %d is %g, want %g", plain, i, v, want)
			}
		}
	}
}

// TestCIFARKeys checks that the CIFAR nets are named like torchvision's
// ResNet.
func TestCIFARKeys(t *testing.T) {
	want := map[string][]int{
		"conv1.weight":                     {16, 3, 3, 3},
		"bn1.running_var":                  {16},
		"layer1.0.conv1.weight":            {16, 16, 3, 3},
		"layer1.2.bn2.bias":                {16},
		"layer2.0.conv1.weight":            {32, 16, 3, 3},
		"layer2.0.downsample.0.weight":     {32, 16, 1, 1},
		"layer2.0.downsample.1.weight":     {32},
		"layer3.0.downsample.0.weight":     {64, 32, 1, 1},
		"layer3.2.conv2.weight":            {64, 64, 3, 3},
		"fc.weight":                        {10, 64},
		"fc.bias":                          {10},
		"layer3.2.bn2.num_batches_tracked": {},
	}
	m, err := models.New("resnet20", models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	sd := nn.StateDict(m)
	if sd[0].Key != "conv1.weight" || sd[len(sd)-1].Key != "fc.bias" {
		t.Errorf("state_dict runs from %s to %s, want conv1.weight to fc.bias", sd[0].Key, sd[len(sd)-1].Key)
	}
	for _, e := range sd {
		if s, ok := want[e.Key]; ok {
			if !tensor.SameShape(s, e.Tensor.Shape) {
				t.Errorf("%s: shape %v, want %v", e.Key, e.Tensor.Shape, s)
			}
			delete(want, e.Key)
		}
	}
	for k := range want {
		t.Errorf("resnet20 has no %s", k)
	}
	m, err = models.New("plain20", models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range nn.StateDict(m) {
		if strings.Contains(e.Key, "downsample") {
			t.Errorf("plain20 has a shortcut: %s", e.Key)
		}
	}
}
