package nn_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/internal/testref"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/optim"
	"github.com/convnet/convnet/tensor"
)

// smallCNN mirrors SmallCNN of scripts/torch_refs/small_cnn.py module for
// module, so that the state_dict keys match.
type smallCNN struct {
	conv1    *nn.Conv2d
	bn1      *nn.BatchNorm2d
	relu     *nn.ReLU
	pool     *nn.MaxPool2d
	layer1   *residual
	branches *branches
	avgpool  *nn.AdaptiveAvgPool2d
	flatten  *nn.Flatten
	fc       *nn.Linear
}

func newSmallCNN(classes int) *smallCNN {
	return &smallCNN{
		conv1: nn.NewConv2d(3, 8, 3, nn.Padding(1), nn.NoBias()), bn1: nn.NewBatchNorm2d(8), relu: nn.NewReLU(),
		pool: nn.NewMaxPool2d(2, nn.Stride(2)), layer1: newResidual(8), branches: newBranches(8),
		avgpool: nn.NewAdaptiveAvgPool2d(1, 1), flatten: nn.NewFlatten(), fc: nn.NewLinear(8, classes),
	}
}

func (m *smallCNN) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.conv1}, {Name: "bn1", Module: m.bn1}, {Name: "relu", Module: m.relu},
		{Name: "pool", Module: m.pool}, {Name: "layer1", Module: m.layer1}, {Name: "branches", Module: m.branches},
		{Name: "avgpool", Module: m.avgpool}, {Name: "flatten", Module: m.flatten}, {Name: "fc", Module: m.fc}}
}

func (m *smallCNN) Forward(x *autograd.Value) (*autograd.Value, error) {
	return chain(x, m.conv1, m.bn1, m.relu, m.pool, m.layer1, m.branches, m.avgpool, m.flatten, m.fc)
}

func chain(x *autograd.Value, ms ...nn.Module) (*autograd.Value, error) {
	var err error
	for _, l := range ms {
		if x, err = nn.Call(l, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// residual is ResNet's BasicBlock without downsampling.
type residual struct {
	conv1, conv2 *nn.Conv2d
	bn1, bn2     *nn.BatchNorm2d
	relu         *nn.ReLU
}

func newResidual(c int) *residual {
	return &residual{conv1: nn.NewConv2d(c, c, 3, nn.Padding(1), nn.NoBias()), bn1: nn.NewBatchNorm2d(c),
		conv2: nn.NewConv2d(c, c, 3, nn.Padding(1), nn.NoBias()), bn2: nn.NewBatchNorm2d(c), relu: nn.NewReLU()}
}

func (r *residual) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: r.conv1}, {Name: "bn1", Module: r.bn1},
		{Name: "conv2", Module: r.conv2}, {Name: "bn2", Module: r.bn2}, {Name: "relu", Module: r.relu}}
}

func (r *residual) Forward(x *autograd.Value) (*autograd.Value, error) {
	y, err := chain(x, r.conv1, r.bn1, r.relu, r.conv2, r.bn2)
	if err != nil {
		return nil, err
	}
	if y, err = autograd.Add(y, x); err != nil {
		return nil, err
	}
	return nn.Call(r.relu, y)
}

// branches concatenates a 1x1 and a 3x3 convolution of the same input.
type branches struct {
	a, b *nn.Conv2d
	relu *nn.ReLU
}

func newBranches(c int) *branches {
	return &branches{a: nn.NewConv2d(c, c/2, 1), b: nn.NewConv2d(c, c/2, 3, nn.Padding(1)), relu: nn.NewReLU()}
}

func (b *branches) Children() []nn.Child {
	return []nn.Child{{Name: "a", Module: b.a}, {Name: "b", Module: b.b}, {Name: "relu", Module: b.relu}}
}

func (b *branches) Forward(x *autograd.Value) (*autograd.Value, error) {
	ya, err := nn.Call(b.a, x)
	if err != nil {
		return nil, err
	}
	yb, err := nn.Call(b.b, x)
	if err != nil {
		return nil, err
	}
	y, err := autograd.Concat(ya, yb)
	if err != nil {
		return nil, err
	}
	return nn.Call(b.relu, y)
}

type trainRun struct {
	Steps       int               `json:"steps"`
	LR          float32           `json:"lr"`
	Momentum    float32           `json:"momentum"`
	WeightDecay float32           `json:"weight_decay"`
	Nesterov    bool              `json:"nesterov"`
	Targets     []int             `json:"targets"`
	Input       string            `json:"input"`
	Init        map[string]string `json:"init"`
	Losses      []float64         `json:"losses"`
	Final       map[string]string `json:"final"`
	EvalLogits  string            `json:"eval_logits"`
}

// Tolerances of the training replay. Both sides run the same float32
// arithmetic in different orders (GEMM blocking, reductions), so they
// differ by rounding from the first step, and ten momentum steps (lr 0.05,
// momentum 0.9) carry those differences forward without amplifying them
// much on this well-conditioned problem. Measured: losses and final
// weights agree to about 2e-7 relative; the bounds leave 50-500x headroom
// for other GEMM blockings.
const (
	lossTol   = 1e-5 // |loss_go - loss_torch| / max(1, |loss_torch|) per step
	weightTol = 1e-4 // max abs error / max(1, max|torch|) per state_dict tensor
)

// TestTrainParity trains SmallCNN for ten SGD steps from PyTorch's
// initial weights on one fixed batch, with classical and Nesterov momentum
// and weight decay, and compares the loss at every step, the final
// state_dict (weights, BatchNorm running statistics and batch counters)
// and the eval-mode logits after training with PyTorch's.
func TestTrainParity(t *testing.T) {
	root := testref.Dir(t, "small_cnn")
	for _, run := range []string{"momentum", "nesterov"} {
		t.Run(run, func(t *testing.T) {
			dir := refDir(filepath.Join(root, run))
			raw, err := os.ReadFile(filepath.Join(string(dir), "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref trainRun
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			m := newSmallCNN(5)
			nn.Materialize(m, rand.New(rand.NewPCG(9, 9)))
			sd := map[string]*tensor.Tensor{}
			for k, f := range ref.Init {
				sd[k] = dir.load(t, f)
			}
			if err := nn.LoadStateDict(m, sd, true); err != nil {
				t.Fatal(err)
			}
			nn.SetTraining(m, true)
			opt, err := optim.NewSGD(nn.Parameters(m), ref.LR, ref.Momentum, ref.WeightDecay, ref.Nesterov)
			if err != nil {
				t.Fatal(err)
			}
			x := dir.load(t, ref.Input)
			var worstLoss float64
			for step := 0; step < ref.Steps; step++ {
				opt.ZeroGrad()
				logits, err := nn.Run(m, autograd.Input(x, nil, false), nil)
				if err != nil {
					t.Fatal(err)
				}
				loss, err := autograd.CrossEntropy(logits, ref.Targets, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := loss.Backward(); err != nil {
					t.Fatal(err)
				}
				opt.Step()
				got, want := float64(loss.T.Data[0]), ref.Losses[step]
				e := math.Abs(got-want) / math.Max(1, math.Abs(want))
				worstLoss = math.Max(worstLoss, e)
				if e > lossTol {
					t.Errorf("step %d: loss %.8f, torch %.8f", step, got, want)
				}
			}
			if ref.Losses[ref.Steps-1] >= ref.Losses[0] {
				t.Errorf("torch's loss did not fall (%g -> %g): the reference trains nothing", ref.Losses[0], ref.Losses[ref.Steps-1])
			}
			final := map[string]*tensor.Tensor{}
			for _, e := range nn.StateDict(m) {
				final[e.Key] = e.Tensor
			}
			if len(final) != len(ref.Final) {
				t.Errorf("state_dict has %d entries, torch %d", len(final), len(ref.Final))
			}
			var worstW float64
			var worstKey string
			for k, f := range ref.Final {
				d := testref.Compare(final[k], dir.load(t, f), weightTol)
				if !d.OK() {
					t.Errorf("%s: %v", k, d)
				}
				if r := d.MaxAbsErr / math.Max(1, d.MaxRef); r > worstW {
					worstW, worstKey = r, k
				}
			}
			nn.SetTraining(m, false)
			y, err := nn.Infer(m, autograd.Input(x, nil, false))
			if err != nil {
				t.Fatal(err)
			}
			d := testref.Compare(y.T, dir.load(t, ref.EvalLogits), weightTol)
			if !d.OK() {
				t.Errorf("eval logits: %v", d)
			}
			t.Logf("worst loss error %.2e; worst state error %.2e (%s); eval logits %v", worstLoss, worstW, strings.TrimSpace(worstKey), d)
		})
	}
}
