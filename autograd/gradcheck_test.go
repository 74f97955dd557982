package autograd

import (
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// Input generators for the finite-difference checks.

func gcRandn(rng *rand.Rand, shape []int) *tensor.Tensor { return tensor.Randn(rng, shape...) }

// gcDistinct returns a random permutation of well-separated values
// (spacing 0.05, centred on 0), so that no max-pooling window has a tie
// and a perturbation of 1e-3 never changes an argmax.
func gcDistinct(rng *rand.Rand, shape []int) *tensor.Tensor {
	t := tensor.New(shape...)
	n := len(t.Data)
	for i, j := range rng.Perm(n) {
		t.Data[i] = 0.05 * (float32(j) - float32(n)/2)
	}
	return t
}

// gcAwayFrom returns normal samples scaled by scale and shifted by shift,
// pushed at least margin away from every kink.
func gcAwayFrom(kinks []float32, scale, shift, margin float32) func(*rand.Rand, []int) *tensor.Tensor {
	return func(rng *rand.Rand, shape []int) *tensor.Tensor {
		t := tensor.New(shape...)
		for i := range t.Data {
			v := float32(rng.NormFloat64())*scale + shift
			for _, k := range kinks {
				if d := v - k; d > -margin && d < margin {
					if d >= 0 {
						v = k + margin + d
					} else {
						v = k - margin + d
					}
				}
			}
			t.Data[i] = v
		}
		return t
	}
}

// gcPositive returns values in [0.5, 1.5), for running variances.
func gcPositive(rng *rand.Rand, shape []int) *tensor.Tensor {
	return tensor.Uniform(rng, 0.5, 1.5, shape...)
}

type gcCase struct {
	name   string
	shapes [][]int
	// gen[i] makes input i (nil: standard normal).
	gen      []func(*rand.Rand, []int) *tensor.Tensor
	f        func(in []*Value) (*Value, error)
	eps, tol float64
}

func conv(o Conv2dOpts, bias bool) func(in []*Value) (*Value, error) {
	if o.Groups == 0 {
		o.Groups = 1
	}
	for i := range 2 {
		if o.Stride[i] == 0 {
			o.Stride[i] = 1
		}
		if o.Dilation[i] == 0 {
			o.Dilation[i] = 1
		}
	}
	return func(in []*Value) (*Value, error) {
		var b *Value
		if bias {
			b = in[2]
		}
		return Conv2d(in[0], in[1], b, o)
	}
}

func pool(isMax bool, k, s, p, d int, ceil, incl bool) func(in []*Value) (*Value, error) {
	o := PoolOpts{Kernel: [2]int{k, k}, Stride: [2]int{s, s}, Padding: [2]int{p, p}, Dilation: [2]int{d, d}, CeilMode: ceil, CountIncludePad: incl}
	return func(in []*Value) (*Value, error) {
		if isMax {
			return MaxPool2d(in[0], o)
		}
		return AvgPool2d(in[0], o)
	}
}

func unary(op func(*Value) *Value) func(in []*Value) (*Value, error) {
	return func(in []*Value) (*Value, error) { return op(in[0]), nil }
}

func gcCases() []gcCase {
	p2 := func(a int) [2]int { return [2]int{a, a} }
	relu := gcAwayFrom([]float32{0}, 1, 0, 0.05)
	relu6 := gcAwayFrom([]float32{0, 6}, 3, 3, 0.05)
	bn := func(training bool, affine bool) func(in []*Value) (*Value, error) {
		return func(in []*Value) (*Value, error) {
			var w, b *Value
			if affine {
				w, b = in[1], in[2]
			}
			o := BatchNormOpts{Training: training, Momentum: 0.1, Eps: 1e-5}
			if !training {
				// Random running statistics, constants to BatchNorm (they
				// get no gradient), so they are not inputs of the check.
				c := in[0].T.Shape[1]
				rng := rand.New(rand.NewPCG(5, 6))
				o.RunningMean, o.RunningVar = tensor.Randn(rng, c), gcPositive(rng, []int{c})
			}
			return BatchNorm2d(in[0], w, b, o)
		}
	}
	return []gcCase{
		{name: "conv/3x3", shapes: [][]int{{2, 3, 5, 6}, {4, 3, 3, 3}, {4}}, f: conv(Conv2dOpts{}, true)},
		{name: "conv/pad1_stride2_odd", shapes: [][]int{{2, 3, 7, 5}, {2, 3, 3, 3}, {2}}, f: conv(Conv2dOpts{Stride: p2(2), Padding: p2(1)}, true)},
		{name: "conv/stride4_pad2_nobias", shapes: [][]int{{1, 2, 11, 9}, {3, 2, 5, 5}}, f: conv(Conv2dOpts{Stride: p2(4), Padding: p2(2)}, false)},
		{name: "conv/dilation2_pad2", shapes: [][]int{{1, 2, 7, 8}, {3, 2, 3, 3}, {3}}, f: conv(Conv2dOpts{Padding: p2(2), Dilation: p2(2)}, true)},
		{name: "conv/groups2", shapes: [][]int{{2, 4, 5, 5}, {6, 2, 3, 3}, {6}}, f: conv(Conv2dOpts{Padding: p2(1), Groups: 2}, true)},
		{name: "conv/depthwise", shapes: [][]int{{2, 3, 6, 5}, {3, 1, 3, 3}, {3}}, f: conv(Conv2dOpts{Padding: p2(1), Groups: 3}, true)},
		{name: "conv/depthwise_mult2_stride2", shapes: [][]int{{1, 3, 7, 7}, {6, 1, 3, 3}, {6}}, f: conv(Conv2dOpts{Stride: p2(2), Padding: p2(1), Groups: 3}, true)},
		{name: "conv/depthwise_dil2_stride4", shapes: [][]int{{1, 2, 11, 10}, {2, 1, 3, 3}}, f: conv(Conv2dOpts{Stride: p2(4), Padding: p2(2), Dilation: p2(2), Groups: 2}, false)},
		{name: "conv/1x1", shapes: [][]int{{2, 5, 3, 4}, {3, 5, 1, 1}, {3}}, f: conv(Conv2dOpts{}, true)},
		{name: "conv/1x1_stride2", shapes: [][]int{{1, 3, 5, 5}, {2, 3, 1, 1}}, f: conv(Conv2dOpts{Stride: p2(2)}, false)},
		{name: "conv/1x7_pad0_3", shapes: [][]int{{1, 2, 4, 9}, {2, 2, 1, 7}, {2}}, f: conv(Conv2dOpts{Padding: [2]int{0, 3}}, true)},
		{name: "conv/7x1_pad3_0", shapes: [][]int{{1, 2, 9, 4}, {2, 2, 7, 1}}, f: conv(Conv2dOpts{Padding: [2]int{3, 0}}, false)},
		{name: "conv/11x11_stride4", shapes: [][]int{{1, 1, 19, 19}, {2, 1, 11, 11}, {2}}, f: conv(Conv2dOpts{Stride: p2(4), Padding: p2(2)}, true)},

		{name: "linear", shapes: [][]int{{3, 7}, {4, 7}, {4}}, f: func(in []*Value) (*Value, error) { return Linear(in[0], in[1], in[2]) }},
		{name: "linear/nobias", shapes: [][]int{{1, 5}, {3, 5}}, f: func(in []*Value) (*Value, error) { return Linear(in[0], in[1], nil) }},

		{name: "relu", shapes: [][]int{{2, 3, 4, 5}}, gen: []func(*rand.Rand, []int) *tensor.Tensor{relu}, f: unary(ReLU)},
		{name: "relu6", shapes: [][]int{{2, 3, 4, 5}}, gen: []func(*rand.Rand, []int) *tensor.Tensor{relu6}, f: unary(ReLU6)},

		{name: "maxpool/k2s2", shapes: [][]int{{2, 2, 6, 6}}, gen: distinct1, f: pool(true, 2, 2, 0, 1, false, false), eps: 1e-3},
		{name: "maxpool/k3s2_odd", shapes: [][]int{{1, 3, 7, 9}}, gen: distinct1, f: pool(true, 3, 2, 0, 1, false, false), eps: 1e-3},
		{name: "maxpool/k3s1_pad1", shapes: [][]int{{1, 2, 5, 6}}, gen: distinct1, f: pool(true, 3, 1, 1, 1, false, false), eps: 1e-3},
		{name: "maxpool/k3s2_ceil", shapes: [][]int{{1, 2, 8, 6}}, gen: distinct1, f: pool(true, 3, 2, 0, 1, true, false), eps: 1e-3},
		{name: "maxpool/k3s2_pad1_ceil", shapes: [][]int{{1, 2, 6, 7}}, gen: distinct1, f: pool(true, 3, 2, 1, 1, true, false), eps: 1e-3},
		{name: "maxpool/k3_dil2_pad1_stride2", shapes: [][]int{{1, 2, 9, 8}}, gen: distinct1, f: pool(true, 3, 2, 1, 2, false, false), eps: 1e-3},
		{name: "maxpool/k2s4_ceil", shapes: [][]int{{1, 2, 9, 10}}, gen: distinct1, f: pool(true, 2, 4, 0, 1, true, false), eps: 1e-3},

		{name: "avgpool/k2s2", shapes: [][]int{{2, 2, 6, 5}}, f: pool(false, 2, 2, 0, 1, false, true)},
		{name: "avgpool/k3s2_pad1_incl", shapes: [][]int{{1, 2, 7, 6}}, f: pool(false, 3, 2, 1, 1, false, true)},
		{name: "avgpool/k3s2_pad1_excl", shapes: [][]int{{1, 2, 7, 6}}, f: pool(false, 3, 2, 1, 1, false, false)},
		{name: "avgpool/k3s2_pad1_ceil_incl", shapes: [][]int{{1, 2, 6, 7}}, f: pool(false, 3, 2, 1, 1, true, true)},
		{name: "avgpool/k3s2_pad1_ceil_excl", shapes: [][]int{{1, 2, 6, 7}}, f: pool(false, 3, 2, 1, 1, true, false)},
		{name: "avgpool/k2s4_ceil", shapes: [][]int{{1, 1, 9, 10}}, f: pool(false, 2, 4, 0, 1, true, true)},

		{name: "adaptive/1x1", shapes: [][]int{{2, 3, 5, 4}}, f: func(in []*Value) (*Value, error) { return AdaptiveAvgPool2d(in[0], 1, 1) }},
		{name: "adaptive/3x3_from_7x5", shapes: [][]int{{1, 2, 7, 5}}, f: func(in []*Value) (*Value, error) { return AdaptiveAvgPool2d(in[0], 3, 3) }},
		{name: "adaptive/6x6_from_5x5", shapes: [][]int{{1, 2, 5, 5}}, f: func(in []*Value) (*Value, error) { return AdaptiveAvgPool2d(in[0], 6, 6) }},

		{name: "lrn/size5_alexnet", shapes: [][]int{{2, 7, 2, 3}}, f: func(in []*Value) (*Value, error) { return LocalResponseNorm(in[0], 5, 1e-4, 0.75, 2) }},
		{name: "lrn/size4_strong", shapes: [][]int{{1, 6, 3, 2}}, f: func(in []*Value) (*Value, error) { return LocalResponseNorm(in[0], 4, 0.5, 0.75, 1) }},
		{name: "lrn/size3_beta06", shapes: [][]int{{2, 5, 2, 2}}, f: func(in []*Value) (*Value, error) { return LocalResponseNorm(in[0], 3, 0.3, 0.6, 1.5) }},

		{name: "batchnorm/train_affine", shapes: [][]int{{3, 2, 3, 4}, {2}, {2}}, f: bn(true, true)},
		{name: "batchnorm/train_plain", shapes: [][]int{{2, 3, 2, 3}}, f: bn(true, false)},
		{name: "batchnorm/train_n1", shapes: [][]int{{1, 2, 3, 3}, {2}, {2}}, f: bn(true, true)},
		{name: "batchnorm/eval_affine", shapes: [][]int{{2, 3, 2, 3}, {3}, {3}}, f: bn(false, true)},
		{name: "batchnorm/eval_plain", shapes: [][]int{{2, 3, 2, 3}}, f: bn(false, false)},

		{name: "dropout/p0.5", shapes: [][]int{{2, 3, 4, 4}}, f: func(in []*Value) (*Value, error) {
			return Dropout(in[0], 0.5, true, rand.New(rand.NewPCG(3, 4)))
		}},

		{name: "flatten", shapes: [][]int{{2, 3, 2, 2}}, f: func(in []*Value) (*Value, error) { return Flatten(in[0], 1) }},
		{name: "reshape", shapes: [][]int{{2, 6}}, f: func(in []*Value) (*Value, error) { return Reshape(in[0], 3, -1) }},
		{name: "softmax/2d", shapes: [][]int{{3, 5}}, f: func(in []*Value) (*Value, error) { return Softmax(in[0], 1) }},
		{name: "softmax/4d_dim1", shapes: [][]int{{2, 4, 2, 3}}, f: func(in []*Value) (*Value, error) { return Softmax(in[0], 1) }},
		{name: "softmax/4d_dim-1", shapes: [][]int{{2, 2, 2, 5}}, f: func(in []*Value) (*Value, error) { return Softmax(in[0], -1) }},
		{name: "logsoftmax/2d", shapes: [][]int{{3, 5}}, f: func(in []*Value) (*Value, error) { return LogSoftmax(in[0], 1) }},
		{name: "logsoftmax/4d_dim1", shapes: [][]int{{2, 4, 2, 3}}, f: func(in []*Value) (*Value, error) { return LogSoftmax(in[0], 1) }},
		{name: "crossentropy", shapes: [][]int{{4, 5}}, f: func(in []*Value) (*Value, error) { return CrossEntropy(in[0], []int{0, 3, 4, 3}, 0) }},
		{name: "crossentropy/ls0.1", shapes: [][]int{{4, 5}}, f: func(in []*Value) (*Value, error) { return CrossEntropy(in[0], []int{1, 2, 0, 4}, 0.1) }},

		{name: "add", shapes: [][]int{{2, 3, 2, 2}, {2, 3, 2, 2}}, f: func(in []*Value) (*Value, error) { return Add(in[0], in[1]) }},
		{name: "add/same_value_twice", shapes: [][]int{{2, 3}}, f: func(in []*Value) (*Value, error) { return Add(in[0], in[0]) }},
		{name: "mul", shapes: [][]int{{2, 3, 2}, {2, 3, 2}}, f: func(in []*Value) (*Value, error) { return Mul(in[0], in[1]) }},
		{name: "mul/square", shapes: [][]int{{5}}, f: func(in []*Value) (*Value, error) { return Mul(in[0], in[0]) }},
		{name: "scale", shapes: [][]int{{2, 3}}, f: func(in []*Value) (*Value, error) { return Scale(in[0], -2.5), nil }},
		{name: "sum", shapes: [][]int{{2, 3, 2}}, f: func(in []*Value) (*Value, error) { return Sum(in[0]), nil }},
		{name: "mean", shapes: [][]int{{2, 3, 2}}, f: func(in []*Value) (*Value, error) { return Mean(in[0]), nil }},
		{name: "concat3", shapes: [][]int{{2, 1, 2, 3}, {2, 3, 2, 3}, {2, 2, 2, 3}}, f: func(in []*Value) (*Value, error) { return Concat(in...) }},
		{name: "concat/same_value_twice", shapes: [][]int{{1, 2, 2, 2}, {1, 1, 2, 2}}, f: func(in []*Value) (*Value, error) { return Concat(in[0], in[1], in[0]) }},
		{name: "channel_shuffle/g2", shapes: [][]int{{2, 6, 2, 2}}, f: func(in []*Value) (*Value, error) { return ChannelShuffle(in[0], 2) }},
		{name: "channel_shuffle/g3", shapes: [][]int{{1, 6, 1, 3}}, f: func(in []*Value) (*Value, error) { return ChannelShuffle(in[0], 3) }},
		{name: "narrow", shapes: [][]int{{2, 5, 2, 2}}, f: func(in []*Value) (*Value, error) { return Narrow(in[0], 1, 3) }},
		{name: "chunk2", shapes: [][]int{{2, 4, 2, 2}}, f: func(in []*Value) (*Value, error) {
			a, b, err := Chunk2(in[0])
			if err != nil {
				return nil, err
			}
			// Weight the halves differently so that swapped gradients show.
			return Add(a, Scale(b, 3))
		}},

		// Graphs with branches and merges: a residual block with a shared
		// input, ShuffleNet's split-transform-concat-shuffle, and a
		// DenseNet-style concatenation reused twice.
		{name: "graph/residual", shapes: [][]int{{2, 2, 4, 4}, {2, 2, 3, 3}, {2}, {2}},
			f: func(in []*Value) (*Value, error) {
				c, err := Conv2d(in[0], in[1], nil, Conv2dOpts{Stride: p2(1), Padding: p2(1), Dilation: p2(1), Groups: 1})
				if err != nil {
					return nil, err
				}
				n, err := BatchNorm2d(c, in[2], in[3], BatchNormOpts{Training: true, Eps: 1e-5})
				if err != nil {
					return nil, err
				}
				return Add(n, in[0])
			}},
		{name: "graph/shufflenet_unit", shapes: [][]int{{1, 4, 3, 3}, {2, 1, 3, 3}},
			f: func(in []*Value) (*Value, error) {
				a, b, err := Chunk2(in[0])
				if err != nil {
					return nil, err
				}
				b, err = Conv2d(b, in[1], nil, Conv2dOpts{Stride: p2(1), Padding: p2(1), Dilation: p2(1), Groups: 2})
				if err != nil {
					return nil, err
				}
				y, err := Concat(a, b)
				if err != nil {
					return nil, err
				}
				return ChannelShuffle(y, 2)
			}},
		{name: "graph/dense_concat", shapes: [][]int{{1, 2, 3, 3}, {1, 2, 1, 1}, {2, 3, 1, 1}},
			f: func(in []*Value) (*Value, error) {
				o := Conv2dOpts{Stride: p2(1), Dilation: p2(1), Groups: 1}
				y1, err := Conv2d(in[0], in[1], nil, o)
				if err != nil {
					return nil, err
				}
				c1, err := Concat(in[0], y1)
				if err != nil {
					return nil, err
				}
				y2, err := Conv2d(c1, in[2], nil, o)
				if err != nil {
					return nil, err
				}
				return Concat(in[0], y1, y2)
			}},
	}
}

var distinct1 = []func(*rand.Rand, []int) *tensor.Tensor{gcDistinct}

// TestGradCheck compares every op's backward with central differences.
func TestGradCheck(t *testing.T) {
	for _, c := range gcCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(len(c.name)), 0xc0ffee))
			inputs := make([]*tensor.Tensor, len(c.shapes))
			for i, s := range c.shapes {
				gen := gcRandn
				if i < len(c.gen) && c.gen[i] != nil {
					gen = c.gen[i]
				}
				inputs[i] = gen(rng, s)
			}
			eps, tol := c.eps, c.tol
			if eps == 0 {
				eps = 1e-2
			}
			if tol == 0 {
				tol = 2e-3
			}
			worst, err := gradCheck(c.f, inputs, eps, tol)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("worst relative error %.2e", worst)
		})
	}
}

// TestGradCheckCatchesWrongGradient makes sure the checker itself is not
// vacuous: an op whose backward is off by 1% in one element must fail.
func TestGradCheckCatchesWrongGradient(t *testing.T) {
	bad := func(in []*Value) (*Value, error) {
		x := in[0]
		y := x.T.Clone()
		for i := range y.Data {
			y.Data[i] *= y.Data[i]
		}
		return record("", nil, y, func(g *tensor.Tensor) {
			dx := tensor.New(x.T.Shape...)
			for i := range dx.Data {
				dx.Data[i] = 2 * x.T.Data[i] * g.Data[i]
			}
			dx.Data[3] *= 1.01
			accumulate(x, dx, true)
		}, x), nil
	}
	x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), 2, 3)
	x.Data[3] = 2
	if err := GradCheck(bad, []*tensor.Tensor{x}, 1e-2, 1e-3); err == nil {
		t.Fatal("GradCheck accepted a gradient that is 1% off")
	} else {
		t.Log(err)
	}
	if err := GradCheck(func(in []*Value) (*Value, error) { return Mul(in[0], in[0]) }, []*tensor.Tensor{x}, 1e-2, 1e-3); err != nil {
		t.Fatal(err)
	}
}
