package train

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// The loop's tests train a tiny net (two convolutions with BatchNorm, a
// dropout, a linear layer) so that they take seconds on two cores; the
// registry's models are trained by cmd/convnet's test and the benchmark
// script.
func TestMain(m *testing.M) {
	newModel = func(cfg Config, classes, channels int) (nn.Module, error) {
		n := newTinyNet(cfg.Seed, classes, channels, cfg.Model == "tiny-aux")
		if n.aux != nil {
			return &tinyAuxNet{n}, nil
		}
		return n, nil
	}
	os.Exit(m.Run())
}

type tinyNet struct {
	trunk *nn.Sequential
	head  *nn.Sequential
	aux   *nn.Linear // nil without an auxiliary classifier
	train bool
}

func newTinyNet(seed uint64, classes, channels int, aux bool) *tinyNet {
	n := &tinyNet{
		trunk: nn.NewSequential(
			nn.NewConv2d(channels, 8, 3, nn.Stride(2), nn.Padding(1), nn.NoBias()), nn.NewBatchNorm2d(8), nn.NewReLU(),
			nn.NewConv2d(8, 16, 3, nn.Stride(2), nn.Padding(1)), nn.NewBatchNorm2d(16), nn.NewReLU(),
			nn.NewAdaptiveAvgPool2d(1, 1), nn.NewFlatten()),
		head:  nn.NewSequential(nn.NewDropout(0.5), nn.NewLinear(16, classes)),
		train: true,
	}
	if aux {
		n.aux = nn.NewLinear(16, classes)
	}
	nn.Materialize(n, rand.New(rand.NewPCG(seed, 7)))
	n.head.At(0).(*nn.Dropout).Seed(seed, 99)
	return n
}

func (n *tinyNet) Children() []nn.Child {
	c := []nn.Child{{Name: "trunk", Module: n.trunk}, {Name: "head", Module: n.head}}
	if n.aux != nil {
		c = append(c, nn.Child{Name: "aux", Module: n.aux})
	}
	return c
}

func (n *tinyNet) SetTraining(t bool) { n.train = t }

func (n *tinyNet) Forward(x *autograd.Value) (*autograd.Value, error) {
	f, err := nn.Call(n.trunk, x)
	if err != nil {
		return nil, err
	}
	return nn.Call(n.head, f)
}

// tinyAuxNet has an auxiliary classifier on the pooled features.
type tinyAuxNet struct{ *tinyNet }

func (n *tinyAuxNet) ForwardAux(x *autograd.Value) (*autograd.Value, []*autograd.Value, error) {
	var out *autograd.Value
	var aux []*autograd.Value
	_, err := nn.Run(&runFunc{func(x *autograd.Value) (*autograd.Value, error) {
		f, err := nn.Call(n.trunk, x)
		if err != nil {
			return nil, err
		}
		if out, err = nn.Call(n.head, f); err != nil {
			return nil, err
		}
		if n.train && n.aux != nil {
			a, err := nn.Call(n.aux, f)
			if err != nil {
				return nil, err
			}
			aux = append(aux, a)
		}
		return out, nil
	}}, x, nil)
	return out, aux, err
}

type runFunc struct {
	fn func(x *autograd.Value) (*autograd.Value, error)
}

func (f *runFunc) Forward(x *autograd.Value) (*autograd.Value, error) { return f.fn(x) }

// tinyConfig is a quick run on the embedded Fashion-MNIST subset.
func tinyConfig() Config {
	c := Defaults()
	c.Model = "tiny"
	c.LimitTrain, c.LimitTest = 192, 96
	c.BatchSize = 32
	c.Epochs = 3
	c.Seed = 7
	return c
}

// runTo trains cfg in dir to the end.
func runTo(t *testing.T, cfg Config, dir string) *Result {
	t.Helper()
	tr, err := New(cfg, Options{RunDir: dir, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
