package models_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// zooSide is the side of the square input of the zoo's forward tests:
// small enough to keep them fast, large enough for every layer (64 for
// the ImageNet nets, 32 for the CIFAR nets and VGG, whose features then
// end at 1x1, torchvision's 75 minimum for Inception v3).
func zooSide(s models.Spec) int {
	if n, ok := zooSides[s.Name]; ok {
		return n
	}
	if s.Family == "vgg" {
		return 32
	}
	return min(s.Input, 64)
}

var zooSides = map[string]int{"inception_v3": 75}

// zooTrained says which models also run a training step: the small ones
// always, the biggest ones unless -short.
func zooTrained(s models.Spec) bool {
	if zooBig[s.Name] {
		return !testing.Short()
	}
	switch s.Family {
	case "cifar", "squeezenet", "mobilenet", "shufflenet":
		return true
	}
	return s.Name == "resnet18" || s.Name == "densenet121"
}

// hashFillAbove is the parameter count above which newZooModel skips the
// family's initialisation: drawing VGG's 138M normal weights takes seconds.
const hashFillAbove = 50_000_000

// newZooModel builds a model for the tests. Big models get hashFill's
// weights instead of their family's initialisation: the tests check
// shapes and plumbing, not values.
func newZooModel(t *testing.T, name string) nn.Module {
	t.Helper()
	m, err := models.New(name, models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	if nn.CountParams(m) <= hashFillAbove {
		if m, err = models.New(name, models.Seed(1)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	hashFill(m)
	return m
}

// TestZooForward runs every registered model in evaluation mode on one
// small image and checks the logits' shape.
func TestZooForward(t *testing.T) {
	for _, name := range models.Names() {
		spec, _ := models.Lookup(name)
		t.Run(name, func(t *testing.T) {
			m := newZooModel(t, name)
			side := zooSide(spec)
			rng := rand.New(rand.NewPCG(2, 3))
			x := autograd.Input(tensor.Randn(rng, 1, 3, side, side), nil, false)
			nn.SetTraining(m, false)
			y, err := nn.Infer(m, x)
			if err != nil {
				t.Fatalf("%dx%d input: %v", side, side, err)
			}
			checkLogits(t, y, 1, spec.DefaultClasses)
		})
	}
}

// zooBig are the deepest of their families: -short tests their forward
// pass only.
var zooBig = map[string]bool{"vgg19": true, "resnet152": true, "densenet264": true}

func checkLogits(t *testing.T, y *autograd.Value, n, classes int) {
	t.Helper()
	if want := []int{n, classes}; !tensor.SameShape(y.Shape(), want) {
		t.Fatalf("output shape %v, want %v", y.Shape(), want)
	}
	for i, v := range y.T.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("output %d is %v", i, v)
		}
	}
}

// TestZooTrainStep runs a training-mode forward pass, cross-entropy and
// backward on the small models and checks that every parameter got a
// finite gradient of its shape.
func TestZooTrainStep(t *testing.T) {
	for _, name := range models.Names() {
		spec, _ := models.Lookup(name)
		if !zooTrained(spec) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m := newZooModel(t, name)
			// Two images: BatchNorm needs more than one value per
			// channel in training mode, and some nets end at 1x1.
			side := zooSide(spec)
			rng := rand.New(rand.NewPCG(4, 5))
			x := autograd.Input(tensor.Randn(rng, 2, 3, side, side), nil, false)
			nn.SetTraining(m, true)
			y, err := nn.Run(m, x, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkLogits(t, y, 2, spec.DefaultClasses)
			loss, err := autograd.CrossEntropy(y, []int{0, spec.DefaultClasses - 1}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := loss.Backward(); err != nil {
				t.Fatal(err)
			}
			for _, p := range nn.Parameters(m) {
				g := p.Value.Grad
				if g == nil {
					t.Errorf("%s: no gradient", p.Key)
					continue
				}
				if !tensor.SameShape(g.Shape, p.Value.T.Shape) {
					t.Errorf("%s: gradient shape %v, parameter %v", p.Key, g.Shape, p.Value.T.Shape)
					continue
				}
				for _, v := range g.Data {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Errorf("%s: gradient has %v", p.Key, v)
						break
					}
				}
			}
		})
	}
}

// TestZooOptions builds every model for one input channel and seven
// classes and traces shapes at its default resolution (meta tensors: no
// weights are allocated, nothing is computed).
func TestZooOptions(t *testing.T) {
	for _, name := range models.Names() {
		spec, _ := models.Lookup(name)
		t.Run(name, func(t *testing.T) {
			m, err := models.New(name, models.Meta(), models.InChannels(1), models.NumClasses(7))
			if err != nil {
				t.Fatal(err)
			}
			nn.SetTraining(m, false)
			x := autograd.Input(tensor.Meta(1, 1, spec.Input, spec.Input), nil, false)
			y, err := nn.Infer(m, x)
			if err != nil {
				t.Fatalf("%dx%d input: %v", spec.Input, spec.Input, err)
			}
			if want := []int{1, 7}; !tensor.SameShape(y.Shape(), want) {
				t.Fatalf("output shape %v, want %v", y.Shape(), want)
			}
			// A three-channel image no longer fits the first layer.
			x = autograd.Input(tensor.Meta(1, 3, spec.Input, spec.Input), nil, false)
			if _, err := nn.Infer(m, x); err == nil {
				t.Errorf("3-channel input accepted by a 1-channel model")
			}
		})
	}
}

// TestResNet18Options runs resnet18 for grey-scale ten-class input with
// real weights.
func TestResNet18Options(t *testing.T) {
	m, err := models.New("resnet18", models.InChannels(1), models.NumClasses(10))
	if err != nil {
		t.Fatal(err)
	}
	first := nn.StateDict(m)[0]
	if first.Key != "conv1.weight" || !tensor.SameShape(first.Tensor.Shape, []int{64, 1, 7, 7}) {
		t.Errorf("first entry %s %v, want conv1.weight [64 1 7 7]", first.Key, first.Tensor.Shape)
	}
	nn.SetTraining(m, false)
	x := autograd.Input(tensor.Randn(rand.New(rand.NewPCG(6, 7)), 1, 1, 64, 64), nil, false)
	y, err := nn.Infer(m, x)
	if err != nil {
		t.Fatal(err)
	}
	checkLogits(t, y, 1, 10)
}

func TestUnknownModel(t *testing.T) {
	_, err := models.New("resnet19")
	if err == nil {
		t.Fatal("unknown model accepted")
	}
	for _, want := range []string{`"resnet19"`, "resnet18", "vgg16_bn", "densenet264", "plain110", "squeezenet1_1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, opt := range []models.Option{models.NumClasses(0), models.InChannels(-1)} {
		if _, err := models.New("resnet18", models.Meta(), opt); err == nil {
			t.Error("non-positive classes or channels accepted")
		}
	}
}

// TestInputTooSmall checks that an input too small for a net is an error
// naming the layer where it no longer fits, not a panic.
func TestInputTooSmall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		side      int
		path, typ string
	}{
		// 8 -> 4 -> 2 -> 1 through the first three poolings; the fourth,
		// features.23, has nothing left to pool.
		{"vgg16", 8, "features.23", "MaxPool2d"},
		// conv1 gives 7x7, pool 3x3, pool 1x1, and the last pooling fails.
		{"alexnet", 32, "features.12", "MaxPool2d"},
		{"squeezenet1_1", 2, "features.0", "Conv2d"},
		{"densenet121", 16, "features.transition3.pool", "AvgPool2d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, meta := range []bool{true, false} {
				if !meta && tc.name != "vgg16" && tc.name != "alexnet" {
					continue
				}
				var m nn.Module
				if meta {
					var err error
					if m, err = models.New(tc.name, models.Meta()); err != nil {
						t.Fatal(err)
					}
				} else {
					m = newZooModel(t, tc.name)
				}
				nn.SetTraining(m, false)
				xt := tensor.Meta(1, 3, tc.side, tc.side)
				if !meta {
					xt = tensor.New(1, 3, tc.side, tc.side)
				}
				_, err := nn.Infer(m, autograd.Input(xt, nil, false))
				var le *nn.LayerError
				if !errors.As(err, &le) {
					t.Fatalf("meta %v: got %v, want a *nn.LayerError", meta, err)
				}
				if le.Path != tc.path || le.Type != tc.typ {
					t.Errorf("meta %v: error names %s (%s), want %s (%s): %v", meta, le.Path, le.Type, tc.path, tc.typ, err)
				}
			}
		})
	}
}
