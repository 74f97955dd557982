package train

import (
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/optim"
	"github.com/convnet/convnet/tensor"
)

// BenchmarkStep times one SGD step (forward, backward with storage
// recycling, Nesterov update) of ResNet-20 on a batch of 128 28x28
// grey images, the unit of the Fashion-MNIST training figures; img/s is
// reported. scripts/train_bench.sh measures whole runs beside PyTorch.
//
//	go test -run XXX -bench Step -benchtime 10x ./train/
func BenchmarkStep(b *testing.B) {
	const batch = 128
	m, err := models.New("resnet20", models.NumClasses(10), models.InChannels(1))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.Randn(rng, batch, 1, 28, 28)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = i % 10
	}
	opt, err := optim.NewSGD(nn.Parameters(m), 0.01, 0.9, 5e-4, true)
	if err != nil {
		b.Fatal(err)
	}
	step := func() {
		out, err := nn.Call(m, autograd.Const(x))
		if err != nil {
			b.Fatal(err)
		}
		loss, err := autograd.CrossEntropy(out, labels, 0)
		if err != nil {
			b.Fatal(err)
		}
		opt.ZeroGrad()
		if err := loss.BackwardRelease(); err != nil {
			b.Fatal(err)
		}
		opt.Step()
	}
	step() // builds the kernels' plans
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
}
