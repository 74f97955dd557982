package infer

import (
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/analysis"
	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// benchModels are the models of the speed table (ONNX Runtime's numbers
// for them are in STYLE.md).
var benchModels = []string{"resnet18", "resnet50", "vgg16", "mobilenet_v2", "squeezenet1_1", "densenet121", "shufflenet_v2_x1_0"}

// BenchmarkZoo times Plan.Run at 224x224, batch 1. Each model takes
// seconds to build and compile; run with a small -benchtime, e.g.
//
//	go test ./infer -run '^$' -bench Zoo -benchtime 5x
func BenchmarkZoo(b *testing.B) {
	if testing.Short() {
		b.Skip("224x224 models are slow; not with -short")
	}
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			m := newModel(b, name, 1)
			shape := []int{1, 3, 224, 224}
			prof, err := analysis.Profile(m, shape)
			if err != nil {
				b.Fatal(err)
			}
			p, err := Compile(m, shape)
			if err != nil {
				b.Fatal(err)
			}
			x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), shape...)
			if _, err := p.Run(x); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Run(x); err != nil {
					b.Fatal(err)
				}
			}
			s := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(s*1e3, "ms/op")
			b.ReportMetric(2*float64(prof.MACs)/s/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkZooInfer times the unplanned path, nn.Infer on the autograd
// ops, for the same models: the baseline of BenchmarkZoo.
func BenchmarkZooInfer(b *testing.B) {
	if testing.Short() {
		b.Skip("224x224 models are slow; not with -short")
	}
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			m := newModel(b, name, 1)
			nn.SetTraining(m, false)
			shape := []int{1, 3, 224, 224}
			x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), shape...)
			run := func() {
				if _, err := nn.Infer(m, autograd.Input(x, nil, false)); err != nil {
					b.Fatal(err)
				}
			}
			run()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1e3, "ms/op")
		})
	}
}
