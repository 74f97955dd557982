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
