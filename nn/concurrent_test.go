package nn_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/optim"
	"github.com/convnet/convnet/tensor"
)

// trainSmall trains a fresh SmallCNN (fixed seed) for a few steps and
// returns its final state.
func trainSmall(t *testing.T, x *tensor.Tensor, targets []int) []nn.Entry {
	m := newSmallCNN(5)
	nn.Materialize(m, rand.New(rand.NewPCG(21, 22)))
	opt, err := optim.NewSGD(nn.Parameters(m), 0.05, 0.9, 5e-4, false)
	if err != nil {
		t.Error(err)
		return nil
	}
	for step := 0; step < 3; step++ {
		opt.ZeroGrad()
		y, err := nn.Run(m, autograd.Input(x, nil, false), nil)
		if err != nil {
			t.Error(err)
			return nil
		}
		loss, err := autograd.CrossEntropy(y, targets, 0.1)
		if err != nil {
			t.Error(err)
			return nil
		}
		if err := loss.Backward(); err != nil {
			t.Error(err)
			return nil
		}
		opt.Step()
	}
	return nn.StateDict(m)
}

// TestConcurrentTraining: models trained at the same time from several
// goroutines share the kernels' worker pool and buffer pools; each must end
// bit for bit where a lone run ends (run it with -race to check the
// kernels for data races between callers).
func TestConcurrentTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := tensor.Randn(rng, 4, 3, 12, 12)
	targets := []int{0, 3, 1, 4}
	want := trainSmall(t, x, targets)
	const n = 4
	got := make([][]nn.Entry, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = trainSmall(t, x, targets)
		}()
	}
	wg.Wait()
	for i, sd := range got {
		if len(sd) != len(want) {
			t.Fatalf("run %d: %d entries, want %d", i, len(sd), len(want))
		}
		for j, e := range sd {
			for k, v := range e.Tensor.Data {
				if v != want[j].Tensor.Data[k] {
					t.Fatalf("run %d: %s[%d] = %g, lone run %g", i, e.Key, k, v, want[j].Tensor.Data[k])
				}
			}
		}
	}
}
