package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/tensor"
)

// ReLU is torch.nn.ReLU.
type ReLU struct {
	// Inplace mirrors PyTorch's flag; it also gives each ReLU its own
	// address (zero-size values may share one), which layer names rely on.
	Inplace bool
}

// NewReLU returns a ReLU.
func NewReLU() *ReLU { return &ReLU{} }

// Forward applies max(x, 0), over x's storage when Inplace is set and
// x is an intermediate value of a training pass (autograd.ReLUInPlace).
func (r *ReLU) Forward(x *autograd.Value) (*autograd.Value, error) {
	if r.Inplace {
		return autograd.ReLUInPlace(x), nil
	}
	return autograd.ReLU(x), nil
}

// ReLU6 is torch.nn.ReLU6.
type ReLU6 struct{ Inplace bool }

// NewReLU6 returns a ReLU6.
func NewReLU6() *ReLU6 { return &ReLU6{} }

// Forward applies min(max(x, 0), 6), in place like ReLU's.
func (r *ReLU6) Forward(x *autograd.Value) (*autograd.Value, error) {
	if r.Inplace {
		return autograd.ReLU6InPlace(x), nil
	}
	return autograd.ReLU6(x), nil
}

// MaxPool2d is torch.nn.MaxPool2d (stride defaults to the kernel size).
type MaxPool2d struct{ Opts autograd.PoolOpts }

// NewMaxPool2d returns a MaxPool2d with a square kernel.
func NewMaxPool2d(kernel int, opts ...Option) *MaxPool2d {
	c := newConfig(opts)
	if !c.strideSet {
		c.stride = [2]int{kernel, kernel}
	}
	return &MaxPool2d{autograd.PoolOpts{Kernel: [2]int{kernel, kernel}, Stride: c.stride, Padding: c.padding, Dilation: c.dilation, CeilMode: c.ceilMode}}
}

// Forward pools.
func (l *MaxPool2d) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.MaxPool2d(x, l.Opts)
}

// AvgPool2d is torch.nn.AvgPool2d (stride defaults to the kernel size,
// count_include_pad to true).
type AvgPool2d struct{ Opts autograd.PoolOpts }

// NewAvgPool2d returns an AvgPool2d with a square kernel.
func NewAvgPool2d(kernel int, opts ...Option) *AvgPool2d {
	c := newConfig(opts)
	if !c.strideSet {
		c.stride = [2]int{kernel, kernel}
	}
	return &AvgPool2d{autograd.PoolOpts{Kernel: [2]int{kernel, kernel}, Stride: c.stride, Padding: c.padding, CeilMode: c.ceilMode, CountIncludePad: c.countIncludePad}}
}

// Forward pools.
func (l *AvgPool2d) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.AvgPool2d(x, l.Opts)
}

// AdaptiveAvgPool2d is torch.nn.AdaptiveAvgPool2d.
type AdaptiveAvgPool2d struct{ OutH, OutW int }

// NewAdaptiveAvgPool2d returns a pool to oh x ow.
func NewAdaptiveAvgPool2d(oh, ow int) *AdaptiveAvgPool2d { return &AdaptiveAvgPool2d{oh, ow} }

// Forward pools.
func (l *AdaptiveAvgPool2d) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.AdaptiveAvgPool2d(x, l.OutH, l.OutW)
}

// LocalResponseNorm is torch.nn.LocalResponseNorm (AlexNet's "Norm").
type LocalResponseNorm struct {
	Size           int
	Alpha, Beta, K float32
}

// NewLocalResponseNorm uses PyTorch's defaults alpha=1e-4, beta=0.75, k=1.
func NewLocalResponseNorm(size int) *LocalResponseNorm {
	return &LocalResponseNorm{Size: size, Alpha: 1e-4, Beta: 0.75, K: 1}
}

// Forward normalises across channels.
func (l *LocalResponseNorm) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.LocalResponseNorm(x, l.Size, l.Alpha, l.Beta, l.K)
}

// BatchNorm2d is torch.nn.BatchNorm2d with track_running_stats.
type BatchNorm2d struct {
	NumFeatures       int
	Eps, Momentum     float32
	Weight, Bias      *autograd.Value
	RunningMean       *tensor.Tensor
	RunningVar        *tensor.Tensor
	NumBatchesTracked *tensor.Tensor
	Training          bool
}

// NewBatchNorm2d returns a BatchNorm2d (training mode, as PyTorch builds
// it).
func NewBatchNorm2d(c int, opts ...Option) *BatchNorm2d {
	cfg := newConfig(opts)
	l := &BatchNorm2d{NumFeatures: c, Eps: cfg.eps, Momentum: cfg.momentum, Training: true,
		RunningMean: tensor.Meta(c), RunningVar: tensor.Meta(c), NumBatchesTracked: tensor.Meta()}
	if cfg.affine {
		l.Weight = autograd.Param(tensor.Meta(c))
		l.Bias = autograd.Param(tensor.Meta(c))
	}
	return l
}

// Forward normalises with batch statistics in training mode and running
// statistics in eval mode.
func (l *BatchNorm2d) Forward(x *autograd.Value) (*autograd.Value, error) {
	y, err := autograd.BatchNorm2d(x, l.Weight, l.Bias, autograd.BatchNormOpts{
		RunningMean: l.RunningMean, RunningVar: l.RunningVar, Training: l.Training, Momentum: l.Momentum, Eps: l.Eps})
	if err == nil && l.Training && !x.T.IsMeta() && l.NumBatchesTracked.Data != nil {
		l.NumBatchesTracked.Data[0]++
	}
	return y, err
}

// Params lists weight and bias (gamma and beta).
func (l *BatchNorm2d) Params() []Param { return []Param{{"weight", l.Weight}, {"bias", l.Bias}} }

// Buffers lists the running statistics.
func (l *BatchNorm2d) Buffers() []Buffer {
	return []Buffer{{Name: "running_mean", Tensor: l.RunningMean}, {Name: "running_var", Tensor: l.RunningVar},
		{Name: "num_batches_tracked", Tensor: l.NumBatchesTracked, Int64: true}}
}

// SetTraining switches between batch and running statistics.
func (l *BatchNorm2d) SetTraining(t bool) { l.Training = t }

// ResetParameters sets weight 1, bias 0, running mean 0, running var 1.
func (l *BatchNorm2d) ResetParameters(*rand.Rand) {
	if l.Weight != nil {
		l.Weight.T = tensor.Full(1, l.NumFeatures)
		l.Bias.T = tensor.New(l.NumFeatures)
	}
	l.RunningMean.Data = make([]float32, l.NumFeatures)
	l.RunningVar.Data = tensor.Full(1, l.NumFeatures).Data
	l.NumBatchesTracked.Data = []float32{0}
}

// Dropout is torch.nn.Dropout. Its mask comes from its own generator, so
// a run is reproducible from the seed and its state can be checkpointed.
type Dropout struct {
	P        float32
	Training bool
	Source   *rand.PCG
	rng      *rand.Rand
}

// NewDropout returns a Dropout with probability p (PyTorch's default 0.5).
func NewDropout(p float32) *Dropout {
	src := rand.NewPCG(0x5eed, uint64(p*1e6))
	return &Dropout{P: p, Training: true, Source: src, rng: rand.New(src)}
}

// Forward drops in training mode.
func (l *Dropout) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.Dropout(x, l.P, l.Training, l.rng)
}

// SetTraining switches dropout on or off.
func (l *Dropout) SetTraining(t bool) { l.Training = t }

// Seed reseeds the mask generator.
func (l *Dropout) Seed(a, b uint64) { l.Source.Seed(a, b) }

// Flatten is torch.nn.Flatten(start_dim=1).
type Flatten struct{ StartDim int }

// NewFlatten flattens all but the batch dimension.
func NewFlatten() *Flatten { return &Flatten{StartDim: 1} }

// Forward flattens.
func (l *Flatten) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.Flatten(x, l.StartDim)
}

// Softmax is torch.nn.Softmax(dim).
type Softmax struct{ Dim int }

// Forward applies softmax along Dim.
func (l *Softmax) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.Softmax(x, l.Dim)
}

// LogSoftmax is torch.nn.LogSoftmax(dim).
type LogSoftmax struct{ Dim int }

// Forward applies log-softmax along Dim.
func (l *LogSoftmax) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.LogSoftmax(x, l.Dim)
}

// ChannelShuffle is torch.nn.ChannelShuffle (ShuffleNet).
type ChannelShuffle struct{ Groups int }

// Forward shuffles channels across groups.
func (l *ChannelShuffle) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.ChannelShuffle(x, l.Groups)
}

// Identity passes its input through (torch.nn.Identity).
type Identity struct{ _ byte }

// Forward returns x.
func (*Identity) Forward(x *autograd.Value) (*autograd.Value, error) { return x, nil }

// Sequential is torch.nn.Sequential: children named "0", "1", ... or by
// the names given to Append (an OrderedDict in PyTorch).
type Sequential struct {
	names  []string
	layers []Module
}

// NewSequential returns a Sequential of ms, named by index.
func NewSequential(ms ...Module) *Sequential {
	s := &Sequential{}
	for _, m := range ms {
		s.Append(fmt.Sprint(len(s.layers)), m)
	}
	return s
}

// Append adds a named layer.
func (s *Sequential) Append(name string, m Module) *Sequential {
	s.names = append(s.names, name)
	s.layers = append(s.layers, m)
	return s
}

// Len returns the number of layers.
func (s *Sequential) Len() int { return len(s.layers) }

// At returns layer i.
func (s *Sequential) At(i int) Module { return s.layers[i] }

// Children lists the layers in order.
func (s *Sequential) Children() []Child {
	out := make([]Child, len(s.layers))
	for i := range s.layers {
		out[i] = Child{s.names[i], s.layers[i]}
	}
	return out
}

// Forward runs the layers in order.
func (s *Sequential) Forward(x *autograd.Value) (*autograd.Value, error) {
	var err error
	for _, l := range s.layers {
		if x, err = Call(l, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}
