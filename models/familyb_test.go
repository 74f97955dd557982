package models

import (
	"errors"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// Tests of googlenet.go, inception.go, mobilenet.go and shufflenet.go
// beyond the shared key and zoo tests: the two nets torchvision lacks
// against their papers, the auxiliary classifiers, and errors. All run on
// meta tensors (shapes only), so they are cheap.

// metaInput is a shape-only input of its own forward pass.
func metaInput(t *testing.T, shape ...int) *autograd.Value {
	t.Helper()
	x := autograd.Input(tensor.Meta(shape...), nil, false)
	if err := x.SetCtx(&autograd.Context{NoGrad: true}); err != nil {
		t.Fatal(err)
	}
	return x
}

// macCounter counts the mult-adds of convolutions and linear layers, the
// papers' measure of computation.
type macCounter struct{ macs int64 }

func (c *macCounter) Layer(_ string, m nn.Module, in, out *autograd.Value) {
	switch l := m.(type) {
	case *nn.Conv2d:
		c.macs += int64(out.T.Numel()) * int64(l.InChannels/l.Opts.Groups*l.KernelSize[0]*l.KernelSize[1])
	case *nn.Linear:
		c.macs += int64(out.T.Numel()) * int64(l.InFeatures)
	}
}

func TestFamilyBPaperNets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params int64
		// mult-adds at 224 and the tolerance of the paper's rounded
		// figure.
		macs, tol int64
	}{
		// Howard et al. Table 1/3: 4.2M parameters, 569M mult-adds.
		// 4,231,976 is Keras' trainable count for the same network
		// (convolutions without bias, BatchNorm gamma and beta, fc
		// 1024x1000 with bias).
		{"mobilenet_v1", 4231976, 569e6, 1e6},
		// Zhang et al.: ShuffleNet 1x (g = 3), 137 MFLOPs in Table 1
		// (140 in Table 2), about 1.9M parameters. The count is checked
		// against shufflenetV1G3Params, a closed form of the unit.
		{"shufflenet_v1", shufflenetV1G3Params(), 137e6, 3e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.name, Meta())
			if err != nil {
				t.Fatal(err)
			}
			if got := nn.CountParams(m); got != tc.params {
				t.Errorf("parameters: got %d, want %d", got, tc.params)
			}
			var mc macCounter
			y, err := nn.Run(m, metaInput(t, 1, 3, 224, 224), &mc)
			if err != nil {
				t.Fatal(err)
			}
			if !tensor.SameShape(y.T.Shape, []int{1, 1000}) {
				t.Errorf("output shape %v, want [1 1000]", y.T.Shape)
			}
			if d := mc.macs - tc.macs; d < -tc.tol || d > tc.tol {
				t.Errorf("mult-adds: got %d, want %d ± %d", mc.macs, tc.macs, tc.tol)
			}
			t.Logf("%s: %d parameters, %d mult-adds", tc.name, nn.CountParams(m), mc.macs)
		})
	}
}

// shufflenetV1G3Params counts ShuffleNet 1x (g = 3) from the paper's
// description, independently of the builder: conv1 3x3 3->24 + BN, then
// per unit (bottleneck m = out/4, branch output o = out - in for stride 2,
// out otherwise) a 1x1 conv in->m with g groups (1 in the first unit), BN,
// a 3x3 depthwise conv on m, BN, a 1x1 conv m->o with g groups, BN; fc
// 960->1000 with bias. Convolutions have no bias; BN has weight and bias.
func shufflenetV1G3Params() int64 {
	const g = 3
	n := int64(3*24*9 + 2*24)
	in := 24
	for s, out := range []int{240, 480, 960} {
		for u := 0; u < []int{4, 8, 4}[s]; u++ {
			m, o, g1 := out/4, out, g
			if u == 0 {
				o = out - in
				if s == 0 {
					g1 = 1
				}
			}
			n += int64(in/g1*m + 2*m + 9*m + 2*m + m/g*o + 2*o)
			in = out
		}
	}
	return n + 960*1000 + 1000
}

func TestFamilyBForwardAux(t *testing.T) {
	type auxNet interface {
		nn.Module
		ForwardAux(x *autograd.Value) (*autograd.Value, []*autograd.Value, error)
	}
	for _, tc := range []struct {
		name    string
		size    int
		aux     int
		auxKeys []string
	}{
		{"googlenet", 224, 2, []string{"aux1.", "aux2."}},
		{"inception_v3", 299, 1, []string{"AuxLogits."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const classes = 10
			m, err := New(tc.name, Meta(), NumClasses(classes))
			if err != nil {
				t.Fatal(err)
			}
			net, ok := m.(auxNet)
			if !ok {
				t.Fatalf("%T has no ForwardAux", m)
			}
			want := []int{2, classes}
			check := func(training bool, wantAux int) {
				t.Helper()
				nn.SetTraining(net, training)
				y, aux, err := net.ForwardAux(metaInput(t, 2, 3, tc.size, tc.size))
				if err != nil {
					t.Fatal(err)
				}
				if !tensor.SameShape(y.T.Shape, want) {
					t.Errorf("training=%v: logits %v, want %v", training, y.T.Shape, want)
				}
				if len(aux) != wantAux {
					t.Fatalf("training=%v: %d aux outputs, want %d", training, len(aux), wantAux)
				}
				for i, a := range aux {
					if !tensor.SameShape(a.T.Shape, want) {
						t.Errorf("aux %d: shape %v, want %v", i, a.T.Shape, want)
					}
				}
			}
			check(true, tc.aux)
			check(false, 0)

			hasAux := func(m nn.Module) bool {
				for _, e := range nn.StateDict(m) {
					for _, p := range tc.auxKeys {
						if strings.HasPrefix(e.Key, p) {
							return true
						}
					}
				}
				return false
			}
			if !hasAux(m) {
				t.Errorf("default build has no %v keys", tc.auxKeys)
			}
			m, err = New(tc.name, Meta(), NumClasses(classes), AuxLogits(false))
			if err != nil {
				t.Fatal(err)
			}
			if hasAux(m) {
				t.Errorf("AuxLogits(false) keeps %v keys", tc.auxKeys)
			}
			net = m.(auxNet)
			check(true, 0)
		})
	}
}

func TestInceptionV3TooSmallInput(t *testing.T) {
	m, err := New("inception_v3", Meta())
	if err != nil {
		t.Fatal(err)
	}
	nn.SetTraining(m, false)
	// 32 -> 15 -> 13 -> 13 -> 6 -> 6 -> 4 -> 1 (maxpool2); Mixed_6a's
	// unpadded 3x3/2 convolution would then give 0x0.
	const path, typ = "Mixed_6a.branch3x3.conv", "Conv2d"
	_, err1 := nn.Run(m, metaInput(t, 1, 3, 32, 32), nil)
	_, _, err2 := m.(*Inception3).ForwardAux(metaInput(t, 1, 3, 32, 32))
	for i, err := range []error{err1, err2} {
		var le *nn.LayerError
		if !errors.As(err, &le) {
			t.Fatalf("call %d: got %v, want a *nn.LayerError", i, err)
		}
		if le.Path != path || le.Type != typ {
			t.Errorf("call %d: error names %s (%s), want %s (%s): %v", i, le.Path, le.Type, path, typ, err)
		}
	}
}

// TestFamilyBConfig checks that every builder of these families honours
// NumClasses and InChannels.
func TestFamilyBConfig(t *testing.T) {
	for _, name := range []string{"googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v1",
		"shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "shufflenet_v1"} {
		spec, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(name, Meta(), NumClasses(7), InChannels(1))
		if err != nil {
			t.Fatal(err)
		}
		nn.SetTraining(m, false)
		y, err := nn.Run(m, metaInput(t, 1, 1, spec.Input, spec.Input), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !tensor.SameShape(y.T.Shape, []int{1, 7}) {
			t.Errorf("%s: output %v, want [1 7]", name, y.T.Shape)
		}
		if _, err := nn.Run(m, metaInput(t, 1, 3, spec.Input, spec.Input), nil); err == nil {
			t.Errorf("%s: built for 1 input channel, accepted 3", name)
		}
	}
}
