package autograd

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// TestBackwardReleasedGraph: a second backward through a released graph
// must fail loudly instead of silently dropping gradients, both from the
// same output and from a second loss sharing the trunk.
func TestBackwardReleasedGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	w := Param(tensor.Randn(rng, 3, 4))
	x := Input(tensor.Randn(rng, 2, 4), nil, false)
	trunk, err := Linear(x, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := ReLU(trunk)
	loss1, loss2 := Sum(h), Mean(Scale(h, 2))
	if err := loss1.Backward(); err != nil {
		t.Fatal(err)
	}
	if err := loss1.Backward(); err == nil || !strings.Contains(err.Error(), "released") {
		t.Errorf("second backward from the same output: %v", err)
	}
	if err := loss2.Backward(); err == nil || !strings.Contains(err.Error(), "released") {
		t.Errorf("backward of a second loss through a released trunk: %v", err)
	}
}

// TestBackwardAccumulates: leaf gradients add up over backward passes
// until ZeroGrad, as in PyTorch; a value used twice gets both gradients.
func TestBackwardAccumulates(t *testing.T) {
	x := Param(tensor.Full(3, 2))
	for pass := 1; pass <= 2; pass++ {
		y, err := Mul(x, x) // d/dx sum(x*x) = 2x = 6
		if err != nil {
			t.Fatal(err)
		}
		if err := Sum(y).Backward(); err != nil {
			t.Fatal(err)
		}
		for _, g := range x.Grad.Data {
			if g != float32(6*pass) {
				t.Fatalf("pass %d: grad %v, want %d", pass, x.Grad.Data, 6*pass)
			}
		}
	}
	x.ZeroGrad()
	if x.Grad != nil {
		t.Fatal("ZeroGrad kept the gradient")
	}
}

// TestNoGradRecordsNothing: with NoGrad nothing requires grad and
// backward reports it.
func TestNoGradRecordsNothing(t *testing.T) {
	ctx := &Context{NoGrad: true}
	w := Param(tensor.Full(1, 2, 2))
	x := Input(tensor.Full(1, 1, 2), ctx, true)
	y, err := Linear(x, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if y.RequiresGrad() || y.Parents() != nil {
		t.Fatal("NoGrad output records a graph")
	}
	if err := Sum(y).Backward(); err == nil {
		t.Fatal("backward under NoGrad succeeded")
	}
}

// TestBackwardRelease: gradients are the same as Backward's over repeated
// steps that reuse recycled storage (a residual net with a value used
// twice, a reshape and BatchNorm), with in-place ReLUs as well, the kept
// value and the leaves stay readable, and the other intermediates are
// emptied.
func TestBackwardRelease(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w1 := Param(tensor.Randn(rng, 8, 8, 3, 3))
	w2 := Param(tensor.Randn(rng, 8, 8, 3, 3))
	gamma, beta := Param(tensor.Full(1, 8)), Param(tensor.New(8))
	fc := Param(tensor.Randn(rng, 5, 8*16*8))
	xs := []*tensor.Tensor{tensor.Randn(rng, 4, 8, 16, 8), tensor.Randn(rng, 4, 8, 16, 8), tensor.Randn(rng, 4, 8, 16, 8)}
	step := func(x *tensor.Tensor, release bool) (grads [][]float32, h1, out *Value) {
		relu := ReLU
		if release {
			relu = ReLUInPlace
		}
		for _, p := range []*Value{w1, w2, gamma, beta, fc} {
			p.ZeroGrad()
		}
		in := Input(x, nil, false)
		c1, err := Conv2d(in, w1, nil, Conv2dOpts{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}, Dilation: [2]int{1, 1}, Groups: 1})
		if err != nil {
			t.Fatal(err)
		}
		b1, err := BatchNorm2d(c1, gamma, beta, BatchNormOpts{Training: true, Eps: 1e-5, Momentum: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		h1 = relu(b1)
		c2, err := Conv2d(h1, w2, nil, Conv2dOpts{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}, Dilation: [2]int{1, 1}, Groups: 1})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Add(relu(c2), h1) // h1 used twice
		if err != nil {
			t.Fatal(err)
		}
		sum = relu(sum)
		if err != nil {
			t.Fatal(err)
		}
		flat, err := Reshape(sum, 4, 8*16*8)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = Linear(flat, fc, nil); err != nil {
			t.Fatal(err)
		}
		loss, err := CrossEntropy(out, []int{0, 1, 2, 3}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if release {
			err = loss.BackwardRelease(out)
		} else {
			err = loss.Backward()
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*Value{w1, w2, gamma, beta, fc} {
			grads = append(grads, append([]float32(nil), p.Grad.Data...))
		}
		return grads, h1, out
	}
	for i, x := range xs {
		want, _, wantOut := step(x, false)
		got, h1, out := step(x, true)
		for k := range want {
			for j := range want[k] {
				if got[k][j] != want[k][j] {
					t.Fatalf("step %d: parameter %d gradient %d: %v with release, %v without", i, k, j, got[k][j], want[k][j])
				}
			}
		}
		for j, v := range wantOut.T.Data {
			if out.T.Data[j] != v {
				t.Fatalf("step %d: kept output changed", i)
			}
		}
		if len(h1.T.Data) != 0 {
			t.Errorf("step %d: an intermediate kept its storage", i)
		}
		if len(x.Data) != 4*8*16*8 || len(w1.T.Data) != 8*8*9 {
			t.Errorf("step %d: an input or a parameter lost its storage", i)
		}
	}
}
