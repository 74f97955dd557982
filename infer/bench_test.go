package infer

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

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

// layerShape is one convolution of the zoo: conv (+ BatchNorm + ReLU).
type layerShape struct {
	name                   string
	cin, cout, k, s, p, hw int
	batch                  int
}

// benchLayers are the zoo's costliest convolution shapes (ResNet's stem,
// strided and 1x1 layers, VGG's and ResNet's 3x3 layers at each size).
var benchLayers = []layerShape{
	{"stem7x7s2", 3, 64, 7, 2, 3, 224, 1},
	{"stem3x3s2", 3, 32, 3, 2, 1, 224, 1},
	{"sq.stem3x3s2p0", 3, 64, 3, 2, 0, 224, 1},
	{"r18.l2.c1.3x3s2", 64, 128, 3, 2, 1, 56, 1},
	{"r50.l2.c2.3x3s2", 128, 128, 3, 2, 1, 56, 1},
	{"r50.l4.c2.3x3s2", 512, 512, 3, 2, 1, 14, 1},
	{"r50.ds2.1x1s2", 256, 512, 1, 2, 0, 56, 1},
	{"r50.l1.1x1.64-256", 64, 256, 1, 1, 0, 56, 1},
	{"r50.l3.1x1.1024-256", 1024, 256, 1, 1, 0, 14, 1},
	{"mb2.1x1.16-96", 16, 96, 1, 1, 0, 112, 1},
	{"mb2.1x1.32-16", 32, 16, 1, 1, 0, 112, 1},
	{"mb2.1x1.576-96", 576, 96, 1, 1, 0, 14, 1},
	{"mb2.1x1.960-320", 960, 320, 1, 1, 0, 7, 1},
	{"sq.1x1.128-16", 128, 16, 1, 1, 0, 55, 1},
	{"vgg.3x3.64@224", 64, 64, 3, 1, 1, 224, 1},
	{"3x3.64@56", 64, 64, 3, 1, 1, 56, 1},
	{"3x3.128@28", 128, 128, 3, 1, 1, 28, 1},
	{"3x3.256@14", 256, 256, 3, 1, 1, 14, 1},
	{"3x3.512@7", 512, 512, 3, 1, 1, 7, 1},
	{"vgg.3x3.512@28", 512, 512, 3, 1, 1, 28, 1},
	{"vgg.3x3.512@14", 512, 512, 3, 1, 1, 14, 1},
}

// BenchmarkLayer times single convolution layers (conv + BatchNorm + ReLU)
// through a compiled plan, with every algorithm that applies, e.g.
//
//	go test ./infer -run '^$' -bench Layer/3x3.512@7 -benchtime 20x
func BenchmarkLayer(b *testing.B) {
	for _, l := range benchLayers {
		algos := []struct {
			name string
			opts []Option
		}{{"auto", nil}}
		if l.k == 3 && l.s == 1 {
			algos = append(algos,
				struct {
					name string
					opts []Option
				}{"packed", []Option{NoWinograd()}},
				struct {
					name string
					opts []Option
				}{"wino4", []Option{WinogradTile(4)}},
				struct {
					name string
					opts []Option
				}{"wino2", []Option{WinogradTile(2)}})
		}
		for _, a := range algos {
			b.Run(l.name+"/"+a.name, func(b *testing.B) {
				conv := nn.NewConv2d(l.cin, l.cout, l.k, nn.Stride(l.s), nn.Padding(l.p), nn.NoBias())
				m := nn.NewSequential(conv, nn.NewBatchNorm2d(l.cout), nn.NewReLU())
				nn.Materialize(m, rand.New(rand.NewPCG(3, 4)))
				randomizeBN(m, 5)
				shape := []int{l.batch, l.cin, l.hw, l.hw}
				p, err := Compile(m, shape, a.opts...)
				if err != nil {
					b.Fatal(err)
				}
				x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), shape...)
				if _, err := p.Run(x); err != nil {
					b.Fatal(err)
				}
				oh := (l.hw+2*l.p-l.k)/l.s + 1
				flops := 2 * float64(l.batch*l.cin*l.cout*l.k*l.k*oh*oh)
				reportMin(b, flops, func() { p.Run(x) })
			})
		}
	}
}

// reportMin runs f b.N times and reports the fastest and the median run
// besides the mean: on a shared machine the minimum is the number least
// disturbed by other processes.
func reportMin(b *testing.B, flops float64, f func()) {
	b.Helper()
	ts := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		f()
		ts = append(ts, time.Since(t).Seconds())
	}
	sort.Float64s(ts)
	b.ReportMetric(ts[0]*1e3, "min-ms")
	b.ReportMetric(ts[len(ts)/2]*1e3, "med-ms")
	if flops > 0 {
		b.ReportMetric(flops/ts[0]/1e9, "GFLOP/s")
	}
}
