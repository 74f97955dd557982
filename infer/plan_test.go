package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// tolerance is the largest accepted max|plan - ref| relative to max|ref|.
const tolerance = 1e-4

// randomizeBN gives every BatchNorm2d of m non-trivial running statistics
// and affine parameters, so that folding them into the convolutions is
// actually exercised (fresh layers have mean 0, var 1, weight 1, bias 0).
// The ranges keep deep nets' activations of order one.
func randomizeBN(m nn.Module, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xb4))
	u := func(lo, hi float64) float32 { return float32(lo + (hi-lo)*rng.Float64()) }
	nn.Walk(m, func(_ string, l nn.Module) {
		bn, ok := l.(*nn.BatchNorm2d)
		if !ok {
			return
		}
		for i := 0; i < bn.NumFeatures; i++ {
			bn.RunningMean.Data[i] = u(-0.2, 0.2)
			bn.RunningVar.Data[i] = u(0.5, 1.5)
			if bn.Weight != nil {
				bn.Weight.T.Data[i] = u(0.7, 1.3)
				bn.Bias.T.Data[i] = u(-0.2, 0.2)
			}
		}
	})
}

// fastFillAbove is the parameter count above which newModel fills the
// weights with a cheap generator instead of the family's initialisation
// (drawing VGG's 138M normal weights takes seconds).
const fastFillAbove = 50_000_000

// newModel builds a registered model with seeded weights and randomised
// BatchNorm statistics.
func newModel(t testing.TB, name string, seed uint64) nn.Module {
	t.Helper()
	m, err := models.New(name, models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	if nn.CountParams(m) <= fastFillAbove {
		if m, err = models.New(name, models.Seed(seed)); err != nil {
			t.Fatal(err)
		}
	} else {
		fastFill(m, seed)
	}
	randomizeBN(m, seed)
	return m
}

// fastFill gives every parameter and buffer of m values uniform in
// +-1/sqrt(fan_in) (BatchNorm's statistics: mean 0, var 1) from a
// splitmix64 stream.
func fastFill(m nn.Module, seed uint64) {
	s := seed
	next := func() float32 {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		return float32(z>>40)/float32(1<<24)*2 - 1
	}
	for _, e := range nn.StateDict(m) {
		t := e.Tensor
		t.Data = make([]float32, t.Numel())
		switch {
		case strings.HasSuffix(e.Key, "running_var"):
			for i := range t.Data {
				t.Data[i] = 1
			}
		case e.Buffer:
		default:
			fan := 1
			if len(t.Shape) > 1 {
				fan = t.Numel() / t.Shape[0]
			}
			a := float32(1 / math.Sqrt(float64(fan)))
			for i := range t.Data {
				t.Data[i] = a * next()
			}
		}
	}
}

// testSide is the input side for the zoo comparison: small, but large
// enough for every layer of the model.
func testSide(s models.Spec) int {
	switch {
	case s.Name == "inception_v3":
		return 96
	case s.Input <= 32:
		return s.Input
	}
	return 64
}

// bigModels run at batch 1 with -short.
var bigModels = map[string]bool{
	"vgg16": true, "vgg16_bn": true, "vgg19": true, "vgg19_bn": true, "resnet152": true,
	"densenet264": true, "densenet201": true, "densenet161": true, "inception_v3": true,
}

// compare runs m through nn.Infer and through a compiled plan on the same
// random input and returns max|plan - ref| / max|ref| and the plan.
func compare(t *testing.T, m nn.Module, shape []int, opts ...Option) (float64, *Plan) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(shape[2])))
	x := tensor.Randn(rng, shape...)
	nn.SetTraining(m, false)
	ref, err := nn.Infer(m, autograd.Input(x.Clone(), nil, false))
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	p, err := Compile(m, shape, opts...)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	got, err := p.Run(x)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return relErr(t, got, ref.T), p
}

func relErr(t *testing.T, got, ref *tensor.Tensor) float64 {
	t.Helper()
	d, err := tensor.MaxAbsDiff(got, ref)
	if err != nil {
		t.Fatal(err)
	}
	scale := ref.MaxAbs()
	if scale == 0 || math.IsNaN(float64(d)) || math.IsInf(float64(scale), 0) {
		t.Fatalf("degenerate comparison: max|ref| %v, max diff %v", scale, d)
	}
	return float64(d) / float64(scale)
}

// TestZoo compiles every registered model and compares the plan with
// nn.Infer.
func TestZoo(t *testing.T) {
	for _, name := range models.Names() {
		spec, _ := models.Lookup(name)
		t.Run(name, func(t *testing.T) {
			batch := 2
			if testing.Short() && bigModels[name] {
				batch = 1
			}
			side := testSide(spec)
			m := newModel(t, name, 11)
			rel, p := compare(t, m, []int{batch, 3, side, side})
			t.Logf("%s [%d, 3, %d, %d]: %d steps, arena %.1f MiB, max rel err %.2e", name, batch, side, side, len(p.pass().steps), float64(p.ArenaBytes())/(1<<20), rel)
			if rel > tolerance {
				t.Errorf("max |plan - ref| / max |ref| = %.3g > %g\n%s", rel, tolerance, p)
			}
		})
	}
}

// fn is a module made of named children and a forward function, for the
// pass tests.
type fn struct {
	children []nn.Child
	forward  func(x *autograd.Value) (*autograd.Value, error)
}

func (m *fn) Children() []nn.Child                               { return m.children }
func (m *fn) Forward(x *autograd.Value) (*autograd.Value, error) { return m.forward(x) }

func build(t *testing.T, m nn.Module) nn.Module {
	t.Helper()
	nn.Materialize(m, rand.New(rand.NewPCG(3, 4)))
	randomizeBN(m, 5)
	return m
}

// steps returns the descriptions of p's steps.
func steps(p *Plan) []string {
	var out []string
	for _, s := range p.pass().steps {
		out = append(out, s.describe())
	}
	return out
}

func count(ss []string, sub string) int {
	n := 0
	for _, s := range ss {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func TestFoldBatchNorm(t *testing.T) {
	conv := nn.NewConv2d(3, 8, 3, nn.Padding(1))
	m := build(t, nn.NewSequential(conv, nn.NewBatchNorm2d(8)))
	before := append([]float32(nil), conv.Weight.T.Data...)
	beforeBias := append([]float32(nil), conv.Bias.T.Data...)
	rel, p := compare(t, m, []int{2, 3, 9, 7})
	if rel > tolerance {
		t.Errorf("rel err %g", rel)
	}
	ss := steps(p)
	if len(ss) != 1 || count(ss, "conv") != 1 {
		t.Errorf("conv+bn should be one conv step:\n%s", p)
	}
	for i, v := range conv.Weight.T.Data {
		if v != before[i] {
			t.Fatal("folding changed the model's conv weights")
		}
	}
	for i, v := range conv.Bias.T.Data {
		if v != beforeBias[i] {
			t.Fatal("folding changed the model's conv bias")
		}
	}
	// The unfused plan runs BatchNorm on its own and agrees.
	rel, p = compare(t, m, []int{2, 3, 9, 7}, NoFusion())
	if rel > tolerance || count(steps(p), "batchnorm") != 1 {
		t.Errorf("NoFusion: rel err %g\n%s", rel, p)
	}
}

// residual is a ResNet basic block with a projection shortcut.
func residual(in, out, stride int) nn.Module {
	c1, b1 := nn.NewConv2d(in, out, 3, nn.Stride(stride), nn.Padding(1), nn.NoBias()), nn.NewBatchNorm2d(out)
	c2, b2 := nn.NewConv2d(out, out, 3, nn.Padding(1), nn.NoBias()), nn.NewBatchNorm2d(out)
	ds := nn.NewSequential(nn.NewConv2d(in, out, 1, nn.Stride(stride), nn.NoBias()), nn.NewBatchNorm2d(out))
	return &fn{
		children: []nn.Child{{Name: "conv1", Module: c1}, {Name: "bn1", Module: b1}, {Name: "conv2", Module: c2}, {Name: "bn2", Module: b2}, {Name: "downsample", Module: ds}},
		forward: func(x *autograd.Value) (*autograd.Value, error) {
			y, err := nn.Call(nn.NewSequential(c1, b1, nn.NewReLU(), c2, b2), x)
			if err != nil {
				return nil, err
			}
			idn, err := nn.Call(ds, x)
			if err != nil {
				return nil, err
			}
			s, err := autograd.Add(y, idn)
			if err != nil {
				return nil, err
			}
			return autograd.ReLU(s), nil
		},
	}
}

func TestFuseAddReLU(t *testing.T) {
	m := build(t, residual(4, 8, 2))
	rel, p := compare(t, m, []int{2, 4, 11, 10})
	if rel > tolerance {
		t.Errorf("rel err %g", rel)
	}
	ss := steps(p)
	if len(ss) != 3 || count(ss, "+add+relu") != 1 || count(ss, "add") != 1 {
		t.Errorf("want 3 conv steps, one with the add and relu fused:\n%s", p)
	}
	rel, p = compare(t, m, []int{2, 4, 11, 10}, NoFusion())
	if rel > tolerance || count(steps(p), " add") != 1 {
		t.Errorf("NoFusion: rel err %g\n%s", rel, p)
	}
}

// TestMaxPool runs the plan's max pooling against the eager kernel on the
// windows the zoo uses (3x3/2 with and without padding, ceil mode, 2x2/2,
// 3x3/1) and on the general path (dilation, stride 3), on odd and even
// sizes, including rows shorter than one vector.
func TestMaxPool(t *testing.T) {
	cases := []struct {
		k    int
		opts []nn.Option
	}{
		{3, []nn.Option{nn.Stride(2)}},
		{3, []nn.Option{nn.Stride(2), nn.CeilMode()}},
		{3, []nn.Option{nn.Stride(2), nn.Padding(1)}},
		{3, []nn.Option{nn.Stride(2), nn.Padding(1), nn.CeilMode()}},
		{2, []nn.Option{nn.Stride(2)}},
		{2, []nn.Option{nn.Stride(2), nn.CeilMode()}},
		{2, []nn.Option{nn.Stride2(1, 2), nn.Padding2(0, 1)}},
		{3, []nn.Option{nn.Stride(1), nn.Padding(1)}},
		{3, []nn.Option{nn.Stride(2), nn.Dilation(2), nn.Padding(1)}},
		{3, []nn.Option{nn.Stride(3), nn.CeilMode()}},
	}
	for i, c := range cases {
		for _, hw := range [][2]int{{111, 111}, {56, 57}, {13, 13}, {7, 9}, {4, 5}} {
			m := nn.NewMaxPool2d(c.k, c.opts...)
			rel, p := compare(t, m, []int{2, 3, hw[0], hw[1]})
			if rel != 0 {
				t.Errorf("case %d (%d, %v) %dx%d: rel err %g\n%s", i, c.k, m, hw[0], hw[1], rel, p)
			}
		}
	}
}

// inceptionish concatenates a 1x1 branch, a nested concatenation of two
// 3x3 branches, a max-pool branch and the same 1x1 branch again (which
// must be copied: a value has one place), then runs a 1x1 conv on the
// result.
func inceptionish() nn.Module {
	b1 := nn.NewConv2d(4, 3, 1)
	b2a := nn.NewSequential(nn.NewConv2d(4, 5, 3, nn.Padding(1)), nn.NewBatchNorm2d(5), nn.NewReLU())
	b2b := nn.NewConv2d(4, 2, 3, nn.Padding(1))
	pool := nn.NewMaxPool2d(3, nn.Stride(1), nn.Padding(1))
	head := nn.NewConv2d(3+5+2+4+3, 6, 1)
	return &fn{
		children: []nn.Child{{Name: "b1", Module: b1}, {Name: "b2a", Module: b2a}, {Name: "b2b", Module: b2b}, {Name: "pool", Module: pool}, {Name: "head", Module: head}},
		forward: func(x *autograd.Value) (*autograd.Value, error) {
			y1, _ := nn.Call(b1, x)
			y2a, _ := nn.Call(b2a, x)
			y2b, _ := nn.Call(b2b, x)
			y2, err := autograd.Concat(y2a, y2b)
			if err != nil {
				return nil, err
			}
			y3, _ := nn.Call(pool, x)
			cat, err := autograd.Concat(y1, y2, y3, y1)
			if err != nil {
				return nil, err
			}
			return nn.Call(head, cat)
		},
	}
}

func TestConcatInPlace(t *testing.T) {
	m := build(t, inceptionish())
	for _, batch := range []int{1, 3} {
		rel, p := compare(t, m, []int{batch, 4, 6, 5})
		if rel > tolerance {
			t.Errorf("batch %d: rel err %g", batch, rel)
		}
		// Only the repeated input is copied.
		if got := count(steps(p), "copy"); got != 1 {
			t.Errorf("batch %d: %d copies, want 1:\n%s", batch, got, p)
		}
		rel, p = compare(t, m, []int{batch, 4, 6, 5}, NoFusion())
		if rel > tolerance || count(steps(p), "copy") != 6 {
			t.Errorf("NoFusion batch %d: rel err %g\n%s", batch, rel, p)
		}
	}
}

// TestDenseBlockShares checks that DenseNet's growing concatenations live
// in one buffer: no copies at all.
func TestDenseBlockShares(t *testing.T) {
	m := build(t, nn.NewSequential(nn.NewConv2d(3, 8, 3, nn.Padding(1)), models.NewDenseBlock(3, 8, 2, 4)))
	for _, batch := range []int{1, 2} {
		rel, p := compare(t, m, []int{batch, 3, 8, 8})
		if rel > tolerance {
			t.Errorf("rel err %g", rel)
		}
		if got := count(steps(p), "copy"); got != 0 {
			t.Errorf("batch %d: %d copies, want 0:\n%s", batch, got, p)
		}
	}
}

// TestShuffleAbsorbed checks that ShuffleNet v2's concatenation and
// channel shuffle become strided writes: a stride-2 unit copies nothing,
// a stride-1 unit copies only the half it passes through.
func TestShuffleAbsorbed(t *testing.T) {
	m := build(t, nn.NewSequential(models.NewShuffleNetV2Block(8, 16, 2), models.NewShuffleNetV2Block(16, 16, 1)))
	rel, p := compare(t, m, []int{2, 8, 8, 8})
	if rel > tolerance {
		t.Errorf("rel err %g", rel)
	}
	ss := steps(p)
	if count(ss, "channel_shuffle") != 0 || count(ss, "copy") != 1 {
		t.Errorf("want no shuffle step and one copy:\n%s", p)
	}
}

// TestResidualInPlace checks that the last convolution of a bottleneck
// writes its sum over the block's input when nothing reads that later
// (and not when something does: the plan's input), with the numbers of
// the reference.
func TestResidualInPlace(t *testing.T) {
	down := nn.NewSequential(nn.NewConv2d(16, 32, 1, nn.NoBias()), nn.NewBatchNorm2d(32))
	m := build(t, nn.NewSequential(nn.NewConv2d(3, 16, 3, nn.Padding(1)),
		models.NewBottleneck(16, 8, 1, down), models.NewBottleneck(32, 8, 1, nil), models.NewBottleneck(32, 8, 1, nil)))
	for _, batch := range []int{1, 2} {
		rel, p := compare(t, m, []int{batch, 3, 9, 9})
		if rel > tolerance {
			t.Errorf("batch %d: rel err %g", batch, rel)
		}
		if got := count(steps(p), "over the residual"); got != 3 {
			t.Errorf("batch %d: %d convolutions over their residual, want 3:\n%s", batch, got, p)
		}
	}
	// The block's input is the plan's input: it is not overwritten.
	m = build(t, models.NewBottleneck(32, 8, 1, nil))
	rel, p := compare(t, m, []int{1, 32, 5, 5})
	if rel > tolerance || count(steps(p), "over the residual") != 0 {
		t.Errorf("input as residual: rel err %g\n%s", rel, p)
	}
}

// TestPrologue checks that a BatchNorm and ReLU in front of a packed
// convolution (DenseNet's order) run as its prologue, on a 1x1 layer (in
// the packing) and a padded stride-2 one (in the prepared planes, whose
// padding must stay zero), and not when another step reads the
// normalised value.
func TestPrologue(t *testing.T) {
	m := build(t, nn.NewSequential(
		nn.NewBatchNorm2d(3), nn.NewReLU(), nn.NewConv2d(3, 12, 1),
		nn.NewMaxPool2d(3, nn.Stride(1), nn.Padding(1)),
		nn.NewBatchNorm2d(12), nn.NewReLU(), nn.NewConv2d(12, 6, 3, nn.Stride(2), nn.Padding(1)),
	))
	for _, batch := range []int{1, 2} {
		rel, p := compare(t, m, []int{batch, 3, 9, 9})
		if rel > tolerance {
			t.Errorf("batch %d: rel err %g", batch, rel)
		}
		ss := steps(p)
		if count(ss, "(input affine+relu)") != 2 || count(ss, "affine ") != 0 {
			t.Errorf("batch %d: want both BatchNorms as prologues:\n%s", batch, p)
		}
	}
	// The normalised value also feeds the add: it stays a step.
	bn, relu, conv := nn.NewBatchNorm2d(4), nn.NewReLU(), nn.NewConv2d(4, 4, 1)
	m = build(t, &fn{
		children: []nn.Child{{Name: "bn", Module: bn}, {Name: "relu", Module: relu}, {Name: "conv", Module: conv}},
		forward: func(x *autograd.Value) (*autograd.Value, error) {
			h, err := bn.Forward(x)
			if err != nil {
				return nil, err
			}
			if h, err = relu.Forward(h); err != nil {
				return nil, err
			}
			y, err := conv.Forward(h)
			if err != nil {
				return nil, err
			}
			return autograd.Add(y, h)
		},
	})
	rel, p := compare(t, m, []int{1, 4, 5, 5})
	if rel > tolerance || count(steps(p), "(input") != 0 {
		t.Errorf("shared normalised value: rel err %g\n%s", rel, p)
	}
}

// TestPoolFirst checks that a 1x1 convolution followed by a 2x2 average
// pooling (DenseNet's transition) runs as the pooling, with the
// convolution's prologue, then the convolution on a quarter of the
// pixels (odd sizes drop the last row and column, as the pooling does),
// and that a ReLU between them keeps the order.
func TestPoolFirst(t *testing.T) {
	m := build(t, nn.NewSequential(
		nn.NewMaxPool2d(3, nn.Stride(1), nn.Padding(1)),
		nn.NewBatchNorm2d(6), nn.NewReLU(), nn.NewConv2d(6, 4, 1), nn.NewAvgPool2d(2),
	))
	for _, side := range []int{8, 9} {
		rel, p := compare(t, m, []int{2, 6, side, side})
		if rel > tolerance {
			t.Errorf("side %d: rel err %g", side, rel)
		}
		ss := steps(p)
		if count(ss, "avgpool 2x2/2 pad 0 (input affine+relu)") != 1 || count(ss, "conv 1x1/1 6->4 [packed gemm]") != 1 {
			t.Errorf("side %d: want the pooling first:\n%s", side, p)
		}
	}
	m = build(t, nn.NewSequential(nn.NewConv2d(6, 4, 1), nn.NewReLU(), nn.NewAvgPool2d(2)))
	rel, p := compare(t, m, []int{1, 6, 8, 8})
	if ss := steps(p); rel > tolerance || count(ss, "(input") != 0 || !strings.Contains(ss[len(ss)-1], "avgpool") {
		t.Errorf("conv, relu, pool: rel err %g\n%s", rel, p)
	}
}

// TestGeneric runs operations the plan does not specialise (local
// response norm, softmax) through the generic fallback.
func TestGeneric(t *testing.T) {
	m := build(t, nn.NewSequential(nn.NewConv2d(3, 6, 3), nn.NewReLU(), nn.NewLocalResponseNorm(3),
		nn.NewFlatten(), nn.NewLinear(6*5*5, 4), &nn.Softmax{Dim: 1}))
	rel, p := compare(t, m, []int{2, 3, 7, 7})
	if rel > tolerance || count(steps(p), "generic") != 2 {
		t.Errorf("rel err %g\n%s", rel, p)
	}
}

func TestBadInput(t *testing.T) {
	m := build(t, nn.NewSequential(nn.NewConv2d(3, 4, 3)))
	p, err := Compile(m, []int{1, 3, 8, 8})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(tensor.New(2, 3, 8, 8))
	if err == nil || !strings.Contains(err.Error(), "[2 3 8 8]") || !strings.Contains(err.Error(), "[1 3 8 8]") {
		t.Errorf("wrong batch: error %v should name the input [2 3 8 8] and the compiled [1 3 8 8]", err)
	}
	if _, err := p.Run(nil); err == nil {
		t.Error("nil input: no error")
	}
	if err := p.RunInto(tensor.New(1, 3, 8, 8), tensor.New(1, 4, 5, 5)); err == nil || !strings.Contains(err.Error(), "[1 4 6 6]") {
		t.Errorf("wrong output shape: %v", err)
	}
	if _, err := Compile(m, []int{1, 3, 8}); err == nil {
		t.Error("3-D input shape: no error")
	}
	if _, err := Compile(m, []int{1, 5, 8, 8}); err == nil || !strings.Contains(err.Error(), "input channels") {
		t.Errorf("wrong channels: %v", err)
	}
	meta, _ := models.New("resnet18", models.Meta())
	if _, err := Compile(meta, []int{1, 3, 32, 32}); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Errorf("meta model: %v", err)
	}
}

// TestRunIntoAndClone checks RunInto's copy and that clones run
// concurrently with the original, each with its own arena.
func TestRunIntoAndClone(t *testing.T) {
	m := newModel(t, "resnet20", 1)
	shape := []int{2, 3, 32, 32}
	p, err := Compile(m, shape)
	if err != nil {
		t.Fatal(err)
	}
	xs := make([]*tensor.Tensor, 4)
	want := make([]*tensor.Tensor, 4)
	for i := range xs {
		xs[i] = tensor.Randn(rand.New(rand.NewPCG(uint64(i), 1)), shape...)
		want[i] = tensor.New(p.OutputShape()...)
		if err := p.RunInto(xs[i], want[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(xs))
	for i := range xs {
		wg.Add(1)
		q := p.Clone()
		go func() {
			defer wg.Done()
			for r := 0; r < 3; r++ {
				y, err := q.Run(xs[i])
				if err != nil {
					errs[i] = err
					return
				}
				if d, _ := tensor.MaxAbsDiff(y, want[i]); d != 0 {
					t.Errorf("clone %d run %d differs by %g", i, r, d)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoAllocs checks that a steady-state Run allocates nothing: the
// plan's own code with a non-allocating reference GEMM in place of the
// kernels' (always), and the whole plan with the real kernels.
func TestNoAllocs(t *testing.T) {
	for _, c := range []struct {
		name  string
		batch int
		opts  []Option
	}{{"resnet18", 1, nil}, {"mobilenet_v2", 1, nil}, {"mobilenet_v2", 2, []Option{SubBatch(1)}}} {
		name := c.name
		t.Run(fmt.Sprintf("%s/batch%d", name, c.batch), func(t *testing.T) {
			m := newModel(t, name, 2)
			shape := []int{c.batch, 3, 32, 32}
			x := tensor.Randn(rand.New(rand.NewPCG(1, 2)), shape...)
			allocs := func() float64 {
				p, err := Compile(m, shape, c.opts...)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Run(x); err != nil {
					t.Fatal(err)
				}
				// The kernels keep scratch in sync.Pools, which a garbage
				// collection may empty mid-measurement; a steady-state
				// allocation shows in every attempt, so take the fewest.
				least := math.Inf(1)
				for try := 0; try < 3 && least > 0; try++ {
					least = math.Min(least, testing.AllocsPerRun(3, func() {
						if _, err := p.Run(x); err != nil {
							t.Fatal(err)
						}
					}))
				}
				return least
			}
			func() {
				defer func(a func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
					sgemm = a
				}(sgemm)
				sgemm = kernels.SgemmRef
				if a := allocs(); a != 0 {
					t.Errorf("%s: the plan allocates %v times per Run (reference GEMM), want 0", name, a)
				}
			}()
			a := allocs()
			if a == 0 {
				return
			}
			if k := gemmAllocs(); k > 0 {
				t.Skipf("%s: %v allocations per Run, all from the GEMM: kernels.Sgemm allocates %v times per call", name, a, k)
			}
			t.Errorf("%s: %v allocations per Run, want 0", name, a)
		})
	}
}

// gemmAllocs returns the allocations of one kernels.Sgemm call shaped
// like the plans' (a linear layer, y^T = W x^T).
func gemmAllocs() float64 {
	w, x, y := make([]float32, 256*64), make([]float32, 64), make([]float32, 256)
	return testing.AllocsPerRun(3, func() {
		kernels.Sgemm(false, true, 256, 1, 64, 1, w, 64, x, 64, 0, y, 1)
	})
}

// TestUnfusedZoo runs models whose plans use every placement trick with
// the passes off (NoFusion: every concatenation copies, every shuffle is a
// step) and with the package's own kernels instead of kernels' Winograd and
// depthwise 3x3 (which also makes depthwise outputs placeable with channel
// strides).
func TestUnfusedZoo(t *testing.T) {
	ownKernels := func(c *config) { c.fastDW = false; c.winograd = false }
	for _, name := range []string{"densenet121", "shufflenet_v2_x1_0", "googlenet", "mobilenet_v2", "shufflenet_v1"} {
		t.Run(name, func(t *testing.T) {
			m := newModel(t, name, 4)
			for _, o := range []struct {
				name string
				opts []Option
			}{{"nofusion", []Option{NoFusion()}}, {"ownkernels", []Option{ownKernels}}} {
				rel, p := compare(t, m, []int{2, 3, 64, 64}, o.opts...)
				if rel > tolerance {
					t.Errorf("%s: rel err %.3g\n%s", o.name, rel, p)
				}
			}
		})
	}
}

// TestViews covers reshapes of values that live inside other buffers: a
// flatten of a concatenation's input (a view with the concatenation's batch
// stride, read by a linear layer), a flatten of a value interleaved by an
// absorbed channel shuffle (which must be copied), and 2-D additions.
func TestViews(t *testing.T) {
	c1, c2 := nn.NewConv2d(3, 4, 3), nn.NewConv2d(3, 4, 3)
	l1, l2, l3 := nn.NewLinear(36, 5), nn.NewLinear(72, 5), nn.NewLinear(36, 5)
	m := build(t, &fn{
		children: []nn.Child{{Name: "c1", Module: c1}, {Name: "c2", Module: c2}, {Name: "l1", Module: l1}, {Name: "l2", Module: l2}, {Name: "l3", Module: l3}},
		forward: func(x *autograd.Value) (*autograd.Value, error) {
			a, _ := nn.Call(c1, x)
			b, _ := nn.Call(c2, x)
			cat, err := autograd.Concat(a, b)
			if err != nil {
				return nil, err
			}
			shuffled, err := autograd.ChannelShuffle(cat, 2)
			if err != nil {
				return nil, err
			}
			fa, _ := autograd.Flatten(a, 1)
			fs, _ := autograd.Flatten(shuffled, 1)
			y1, _ := nn.Call(l1, fa)
			y2, _ := nn.Call(l2, fs)
			fb, _ := autograd.Flatten(b, 1)
			y3, _ := nn.Call(l3, fb)
			s, err := autograd.Add(y1, y2)
			if err != nil {
				return nil, err
			}
			return autograd.Add(s, y3)
		},
	})
	for _, batch := range []int{1, 3} {
		rel, p := compare(t, m, []int{batch, 3, 5, 5})
		if rel > tolerance {
			t.Errorf("batch %d: rel err %g\n%s", batch, rel, p)
		}
		// a and b are interleaved into the shuffle's output; their flattens
		// are copies.
		if got := count(steps(p), "copy"); got != 2 || count(steps(p), "channel_shuffle") != 0 {
			t.Errorf("batch %d: want 2 copies and no shuffle step:\n%s", batch, p)
		}
	}
	// Without the shuffle, a's flatten is a view into the concatenation
	// with its batch stride.
	m = build(t, &fn{
		children: []nn.Child{{Name: "c1", Module: c1}, {Name: "c2", Module: c2}, {Name: "l1", Module: l1}, {Name: "l2", Module: l2}},
		forward: func(x *autograd.Value) (*autograd.Value, error) {
			a, _ := nn.Call(c1, x)
			b, _ := nn.Call(c2, x)
			cat, err := autograd.Concat(a, b)
			if err != nil {
				return nil, err
			}
			fa, _ := autograd.Flatten(a, 1)
			fc, _ := autograd.Flatten(cat, 1)
			y1, _ := nn.Call(l1, fa)
			y2, _ := nn.Call(l2, fc)
			return autograd.Add(y1, y2)
		},
	})
	for _, batch := range []int{1, 3} {
		rel, p := compare(t, m, []int{batch, 3, 5, 5})
		if rel > tolerance || count(steps(p), "copy") != 0 {
			t.Errorf("batch %d: rel err %g, want no copies\n%s", batch, rel, p)
		}
	}
}

// TestSubBatch runs a batch in passes (each pass size that divides it)
// and compares with nn.Infer, the plan in one pass, and a clone; and
// checks that a model mixing the images of its batch is refused.
func TestSubBatch(t *testing.T) {
	m := newModel(t, "mobilenet_v2", 3)
	shape := []int{4, 3, 48, 48}
	one, err := Compile(m, shape, SubBatch(4))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.Randn(rand.New(rand.NewPCG(4, 4)), shape...)
	whole, err := one.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	whole = whole.Clone()
	for _, b := range []int{1, 2} {
		rel, p := compare(t, m, shape, SubBatch(b))
		if rel > tolerance {
			t.Errorf("passes of %d: rel err %g", b, rel)
		}
		if !strings.Contains(p.String(), "passes of") {
			t.Errorf("passes of %d: the plan does not say so:\n%s", b, p)
		}
		for _, q := range []*Plan{p, p.Clone()} {
			y, err := q.Run(x)
			if err != nil {
				t.Fatal(err)
			}
			// The same kernels on the same images, whatever the pass:
			// only the GEMM's split over workers may round differently.
			if d, _ := tensor.MaxAbsDiff(y, whole); float64(d) > 1e-5*float64(whole.MaxAbs()) {
				t.Errorf("passes of %d differ from one pass by %g", b, d)
			}
		}
	}
	if _, err := Compile(m, shape, SubBatch(3)); err == nil {
		t.Error("SubBatch(3) of a batch of 4: no error")
	}
	mix := &fn{forward: func(x *autograd.Value) (*autograd.Value, error) {
		return autograd.Reshape(x, 1, -1)
	}}
	if _, err := Compile(mix, []int{2, 3, 4, 4}, SubBatch(1)); err == nil {
		t.Error("a model reshaping the batch away ran in passes")
	}
}

// TestWinogradTiles compiles ResNet-18's 3x3 layers with each tile forced
// and with the rule, and compares each with nn.Infer.
func TestWinogradTiles(t *testing.T) {
	m := newModel(t, "resnet18", 5)
	shape := []int{1, 3, 64, 64}
	for _, opts := range [][]Option{{WinogradTile(2)}, {WinogradTile(4)}, {NoMeasure()}} {
		rel, p := compare(t, m, shape, opts...)
		if rel > tolerance {
			t.Errorf("%v: rel err %g\n%s", opts, rel, p)
		}
	}
	if _, err := Compile(m, shape, WinogradTile(3)); err == nil {
		t.Error("WinogradTile(3): no error")
	}
}

// TestConvPool runs the stems that convPoolStep computes in bands (a
// strided convolution of 3 channels, its BatchNorm and ReLU, a stride-2
// max pooling) against the eager model: SqueezeNet's (3x3/2, pooling in
// ceil mode), ShuffleNetV2's (3x3/2 pad 1, pooling pad 1), a 2x2
// pooling, on odd and even sizes and a batch of 2, so that bands start
// above the image, end below it and share rows with the band before; and
// stems that stay two steps: ResNet's 7x7 and one of 5 input channels.
func TestConvPool(t *testing.T) {
	cases := []struct {
		name   string
		m      nn.Module
		fused  bool
		shapes [][]int
	}{
		{"squeezenet", nn.NewSequential(nn.NewConv2d(3, 8, 3, nn.Stride(2)), nn.NewReLU(), nn.NewMaxPool2d(3, nn.Stride(2), nn.CeilMode())),
			true, [][]int{{2, 3, 31, 31}, {1, 3, 32, 45}, {1, 3, 115, 115}}},
		{"shufflenet", nn.NewSequential(nn.NewConv2d(3, 8, 3, nn.Stride(2), nn.Padding(1)), nn.NewBatchNorm2d(8), nn.NewReLU(),
			nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1))),
			true, [][]int{{2, 3, 33, 37}, {1, 3, 64, 64}, {1, 3, 190, 180}}},
		{"resnet", nn.NewSequential(nn.NewConv2d(3, 8, 7, nn.Stride(2), nn.Padding(3)), nn.NewBatchNorm2d(8), nn.NewReLU(),
			nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1))),
			false, [][]int{{1, 3, 33, 37}}},
		{"pool2x2", nn.NewSequential(nn.NewConv2d(3, 6, 3, nn.Stride(2), nn.Padding(1)), nn.NewMaxPool2d(2, nn.Stride(2), nn.CeilMode())),
			true, [][]int{{2, 3, 29, 30}}},
		{"5 channels", nn.NewSequential(nn.NewConv2d(5, 8, 3, nn.Stride(2)), nn.NewReLU(), nn.NewMaxPool2d(3, nn.Stride(2))),
			false, [][]int{{1, 5, 31, 31}}},
	}
	for _, c := range cases {
		m := build(t, c.m)
		for _, shape := range c.shapes {
			rel, p := compare(t, m, shape)
			if rel > tolerance {
				t.Errorf("%s %v: rel err %g\n%s", c.name, shape, rel, p)
			}
			if got := count(steps(p), "in bands of") == 1; got != c.fused {
				t.Errorf("%s %v: fused %v, want %v:\n%s", c.name, shape, got, c.fused, p)
			}
		}
	}
}

// TestBlockStep binds plans whose inverted residual blocks run band by
// band (blockStep) to the model: MobileNetV2 at its size (the two blocks
// at 112x112 fused) and, with every block's size admitted, at odd sizes
// and batch 2 (residual blocks, stride 2, bands that end early), and a
// MobileNetV1-style depthwise and pointwise pair without an expansion. A
// fused plan allocates nothing per Run.
func TestBlockStep(t *testing.T) {
	defer func(v int) { blockMinPixels = v }(blockMinPixels)
	dwPW := nn.NewSequential(
		nn.NewConv2d(4, 4, 3, nn.Stride(2), nn.Padding(1), nn.Groups(4), nn.NoBias()), nn.NewBatchNorm2d(4), nn.NewReLU6(),
		nn.NewConv2d(4, 8, 1, nn.NoBias()), nn.NewBatchNorm2d(8), nn.NewReLU6(),
		nn.NewConv2d(8, 8, 3, nn.Padding(1), nn.Groups(8), nn.NoBias()), nn.NewBatchNorm2d(8), nn.NewReLU6(),
		nn.NewConv2d(8, 6, 1))
	stem := func(c int) nn.Module {
		return nn.NewSequential(
			nn.NewConv2d(c, 8, 3, nn.Stride(2), nn.Padding(1), nn.NoBias()), nn.NewBatchNorm2d(8), nn.NewReLU6(),
			nn.NewConv2d(8, 8, 3, nn.Padding(1), nn.Groups(8), nn.NoBias()), nn.NewBatchNorm2d(8), nn.NewReLU6(),
			nn.NewConv2d(8, 5, 1, nn.NoBias()), nn.NewBatchNorm2d(5))
	}
	for _, c := range []struct {
		name   string
		m      nn.Module
		min    int // blockMinPixels
		shape  []int
		blocks int    // steps in bands
		first  string // how the first step in bands starts
	}{
		{"mobilenet_v2", nil, 112 * 112, []int{1, 3, 224, 224}, 2, "features.0.0 conv 3x3/2 3->32"},
		{"mobilenet_v2", nil, 1, []int{2, 3, 57, 61}, 17, "features.0.0 conv 3x3/2 3->32"},
		{"mobilenet_v2", nil, 1, []int{1, 3, 33, 32}, 17, "features.0.0 conv 3x3/2 3->32"},
		{"dw+pw", dwPW, 1, []int{2, 4, 23, 19}, 2, "0 conv 3x3/2 4->4 groups 4"},
		// The second pair's input, 12x10, is below the size.
		{"dw+pw", dwPW, 12 * 12, []int{1, 4, 23, 19}, 1, "0 conv 3x3/2 4->4 groups 4"},
		{"stem+dw+pw", stem(3), 1, []int{2, 3, 45, 38}, 1, "0 conv 3x3/2 3->8"},
		{"stem+dw+pw", stem(3), 1, []int{1, 3, 7, 9}, 1, "0 conv 3x3/2 3->8"},
		// A stem of 5 channels runs on its own, the pair after it in bands.
		{"stem+dw+pw", stem(5), 1, []int{1, 5, 21, 22}, 1, "3 conv 3x3/1 8->8 groups 8"},
	} {
		t.Run(fmt.Sprintf("%s/%v", c.name, c.shape), func(t *testing.T) {
			blockMinPixels = c.min
			m := c.m
			if m == nil {
				m = newModel(t, c.name, 3)
			} else {
				m = build(t, m)
			}
			rel, p := compare(t, m, c.shape)
			if rel > tolerance {
				t.Errorf("rel err %g\n%s", rel, p)
			}
			if got := count(steps(p), "in bands of"); got != c.blocks {
				t.Errorf("%d steps in bands, want %d:\n%s", got, c.blocks, p)
			}
			for _, d := range steps(p) {
				if strings.Contains(d, "in bands of") {
					if !strings.HasPrefix(d, c.first) {
						t.Errorf("first step in bands %q, want %q in it:\n%s", d, c.first, p)
					}
					break
				}
			}
			x := tensor.Randn(rand.New(rand.NewPCG(1, 2)), c.shape...)
			if a := testing.AllocsPerRun(3, func() {
				if _, err := p.Run(x); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%v allocations per Run, want 0", a)
			}
		})
	}
}
