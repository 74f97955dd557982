package nn_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// Test-only composite layers for the merges that torch.nn has no module for.

// addBlock is a residual block: x + body(x).
type addBlock struct{ body nn.Module }

func (b *addBlock) Children() []nn.Child { return []nn.Child{{Name: "body", Module: b.body}} }
func (b *addBlock) Forward(x *autograd.Value) (*autograd.Value, error) {
	y, err := nn.Call(b.body, x)
	if err != nil {
		return nil, err
	}
	return autograd.Add(x, y)
}

// concatBlock concatenates its branches along channels.
type concatBlock struct{ branches []nn.Module }

func (b *concatBlock) Children() []nn.Child {
	cs := make([]nn.Child, len(b.branches))
	for i, m := range b.branches {
		cs[i] = nn.Child{Name: fmt.Sprint(i), Module: m}
	}
	return cs
}
func (b *concatBlock) Forward(x *autograd.Value) (*autograd.Value, error) {
	ys := make([]*autograd.Value, len(b.branches))
	for i, m := range b.branches {
		y, err := nn.Call(m, x)
		if err != nil {
			return nil, err
		}
		ys[i] = y
	}
	return autograd.Concat(ys...)
}

// lossLayer applies cross-entropy against fixed targets.
type lossLayer struct{ targets []int }

func (l *lossLayer) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.CrossEntropy(x, l.targets, 0)
}

// narrowLayer takes channels [start, start+n).
type narrowLayer struct{ start, n int }

func (l *narrowLayer) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.Narrow(x, l.start, l.n)
}

// chunkLayer is ShuffleNet's split, keeping the first half.
type chunkLayer struct{ _ byte }

func (*chunkLayer) Forward(x *autograd.Value) (*autograd.Value, error) {
	a, _, err := autograd.Chunk2(x)
	return a, err
}

type reshapeLayer struct{ shape []int }

func (l *reshapeLayer) Forward(x *autograd.Value) (*autograd.Value, error) {
	return autograd.Reshape(x, l.shape...)
}

func materialized(m nn.Module) nn.Module {
	nn.Materialize(m, rand.New(rand.NewPCG(1, 1)))
	return m
}

func withBias(c *nn.Conv2d, shape ...int) *nn.Conv2d {
	materialized(c)
	c.Bias = autograd.Param(tensor.New(shape...))
	return c
}

func withLinearBias(l *nn.Linear, shape ...int) *nn.Linear {
	materialized(l)
	l.Bias = autograd.Param(tensor.New(shape...))
	return l
}

// TestBadInputs: wrong shapes and invalid hyper-parameters must come back
// from nn.Run as an *nn.LayerError naming the layer's path and type
// ("layer 1 (Conv2d): ...") and the offending shapes or values, never as a
// panic. Each bad layer sits at index 1 of a Sequential behind a ReLU.
func TestBadInputs(t *testing.T) {
	cases := []struct {
		name  string
		layer nn.Module
		in    []int
		path  string // default "1"
		want  []string
	}{
		{"conv/wrong_in_channels", nn.NewConv2d(4, 8, 3), []int{2, 3, 5, 5}, "", []string{"Conv2d", "[2 3 5 5]", "[8 4 3 3]"}},
		{"conv/3d_input", nn.NewConv2d(3, 8, 3), []int{3, 5, 5}, "", []string{"Conv2d", "4-D", "[3 5 5]"}},
		{"conv/zero_stride", nn.NewConv2d(3, 4, 3, nn.Stride(0)), []int{1, 3, 5, 5}, "", []string{"Conv2d", "stride", "[0 0]"}},
		{"conv/zero_dilation", nn.NewConv2d(3, 4, 3, nn.Dilation(0)), []int{1, 3, 5, 5}, "", []string{"Conv2d", "dilation"}},
		{"conv/negative_padding", nn.NewConv2d(3, 4, 3, nn.Padding(-1)), []int{1, 3, 5, 5}, "", []string{"Conv2d", "padding", "[-1 -1]"}},
		{"conv/kernel_larger_than_padded_input", nn.NewConv2d(3, 4, 7, nn.Padding(0)), []int{1, 3, 5, 6}, "", []string{"Conv2d", "7x7", "5x6", "[1 3 5 6]"}},
		{"conv/dilated_kernel_too_large", nn.NewConv2d(3, 4, 3, nn.Dilation(3)), []int{1, 3, 6, 6}, "", []string{"Conv2d", "dilated 7x7", "6x6"}},
		{"conv/channels_not_divisible_by_groups", nn.NewConv2d(3, 4, 3, nn.Groups(2)), []int{1, 3, 5, 5}, "", []string{"Conv2d", "in_channels 3", "groups 2"}},
		{"conv/out_channels_not_divisible_by_groups", nn.NewConv2d(4, 3, 3, nn.Groups(2)), []int{1, 4, 5, 5}, "", []string{"Conv2d", "out_channels 3", "groups 2"}},
		{"conv/zero_groups", nn.NewConv2d(4, 4, 3, nn.Groups(0)), []int{1, 4, 5, 5}, "", []string{"Conv2d", "groups 0"}},
		{"conv/wrong_bias_shape", withBias(nn.NewConv2d(3, 4, 3), 5), []int{1, 3, 5, 5}, "", []string{"Conv2d", "bias", "[5]", "4 output channels"}},
		{"conv/2d_bias", withBias(nn.NewConv2d(3, 4, 3), 4, 1), []int{1, 3, 5, 5}, "", []string{"Conv2d", "bias", "[4 1]"}},
		{"linear/wrong_in_features", nn.NewLinear(10, 3), []int{2, 12}, "", []string{"Linear", "[2 12]", "[3 10]"}},
		{"linear/4d_input", nn.NewLinear(10, 3), []int{2, 10, 1, 1}, "", []string{"Linear", "[2 10 1 1]"}},
		{"linear/wrong_bias_shape", withLinearBias(nn.NewLinear(4, 3), 4), []int{2, 4}, "", []string{"Linear", "bias", "[4]", "3 outputs"}},
		{"maxpool/zero_stride", nn.NewMaxPool2d(2, nn.Stride(0)), []int{1, 3, 4, 4}, "", []string{"MaxPool2d", "stride [0 0]"}},
		{"maxpool/kernel_larger_than_input", nn.NewMaxPool2d(7), []int{1, 3, 5, 5}, "", []string{"MaxPool2d", "[7 7]", "5x5"}},
		{"maxpool/padding_over_half_kernel", nn.NewMaxPool2d(3, nn.Padding(2)), []int{1, 3, 8, 8}, "", []string{"MaxPool2d", "padding [2 2]", "[3 3]"}},
		{"maxpool/3d_input", nn.NewMaxPool2d(2), []int{3, 4, 4}, "", []string{"MaxPool2d", "4-D", "[3 4 4]"}},
		{"avgpool/kernel_larger_than_input", nn.NewAvgPool2d(4), []int{1, 2, 3, 9}, "", []string{"AvgPool2d", "[4 4]", "3x9"}},
		{"avgpool/zero_kernel", nn.NewAvgPool2d(0, nn.Stride(1)), []int{1, 2, 3, 3}, "", []string{"AvgPool2d", "kernel [0 0]"}},
		{"adaptive/zero_output", nn.NewAdaptiveAvgPool2d(0, 1), []int{1, 2, 3, 3}, "", []string{"AdaptiveAvgPool2d", "0x1"}},
		{"adaptive/2d_input", nn.NewAdaptiveAvgPool2d(1, 1), []int{2, 3}, "", []string{"AdaptiveAvgPool2d", "[2 3]"}},
		{"batchnorm/wrong_channels", nn.NewBatchNorm2d(4), []int{2, 3, 2, 2}, "", []string{"BatchNorm2d", "[4]", "[2 3 2 2]"}},
		{"batchnorm/one_value_per_channel_training", nn.NewBatchNorm2d(3), []int{1, 3, 1, 1}, "", []string{"BatchNorm2d", "more than 1 value per channel", "[1 3 1 1]"}},
		{"batchnorm/2d_input", nn.NewBatchNorm2d(3), []int{4, 3}, "", []string{"BatchNorm2d", "4-D", "[4 3]"}},
		{"lrn/zero_size", nn.NewLocalResponseNorm(0), []int{1, 3, 2, 2}, "", []string{"LocalResponseNorm", "size"}},
		{"lrn/2d_input", nn.NewLocalResponseNorm(5), []int{2, 3}, "", []string{"LocalResponseNorm", "[2 3]"}},
		{"dropout/p_above_one", nn.NewDropout(1.5), []int{2, 3}, "", []string{"Dropout", "1.5"}},
		{"flatten/1d_input", nn.NewFlatten(), []int{5}, "", []string{"Flatten", "[5]"}},
		{"softmax/dim_out_of_range", &nn.Softmax{Dim: 2}, []int{2, 3}, "", []string{"Softmax", "dimension 2", "[2 3]"}},
		{"shuffle/groups_not_dividing", &nn.ChannelShuffle{Groups: 4}, []int{1, 6, 2, 2}, "", []string{"ChannelShuffle", "6 channels", "4 groups"}},
		{"shuffle/zero_groups", &nn.ChannelShuffle{Groups: 0}, []int{1, 6, 2, 2}, "", []string{"ChannelShuffle", "0 groups"}},
		{"reshape/bad_size", &reshapeLayer{[]int{5, -1}}, []int{2, 3}, "", []string{"reshapeLayer", "[2 3]", "[5 -1]"}},
		{"narrow/out_of_range", &narrowLayer{2, 3}, []int{1, 4, 2, 2}, "", []string{"narrowLayer", "[2, 5)", "[1 4 2 2]"}},
		{"chunk/odd_channels", &chunkLayer{}, []int{1, 5, 2, 2}, "", []string{"chunkLayer", "[1 5 2 2]"}},
		{"add/mismatched_shapes", &addBlock{nn.NewConv2d(3, 3, 3)}, []int{1, 3, 5, 5}, "", []string{"addBlock", "[1 3 5 5]", "[1 3 3 3]"}},
		{"concat/mismatched_spatial", &concatBlock{[]nn.Module{nn.NewConv2d(3, 2, 1), nn.NewConv2d(3, 2, 3)}}, []int{1, 3, 5, 5}, "", []string{"concatBlock", "[1 2 3 3]", "[1 2 5 5]"}},
		{"concat/error_inside_branch", &concatBlock{[]nn.Module{nn.NewConv2d(3, 2, 1), nn.NewConv2d(4, 2, 3)}}, []int{1, 3, 5, 5}, "1.1", []string{"layer 1.1 (Conv2d)", "[1 3 5 5]"}},
		{"crossentropy/target_out_of_range", &lossLayer{[]int{0, 5}}, []int{2, 5}, "", []string{"lossLayer", "target 5", "[0, 5)"}},
		{"crossentropy/negative_target", &lossLayer{[]int{-1, 0}}, []int{2, 5}, "", []string{"lossLayer", "target -1"}},
		{"crossentropy/target_count", &lossLayer{[]int{0, 1, 2}}, []int{2, 5}, "", []string{"lossLayer", "3 targets", "batch of 2"}},
		{"crossentropy/4d_logits", &lossLayer{[]int{0}}, []int{1, 5, 1, 1}, "", []string{"lossLayer", "[1 5 1 1]"}},
		{"nested/sequential", nn.NewSequential(nn.NewReLU(), nn.NewReLU(), nn.NewConv2d(2, 2, 3)), []int{1, 3, 5, 5}, "1.2", []string{"layer 1.2 (Conv2d)", "[1 3 5 5]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if nn.IsMeta(c.layer) {
				nn.Materialize(c.layer, rand.New(rand.NewPCG(2, 2)))
			}
			net := nn.NewSequential(nn.NewReLU(), c.layer)
			x := autograd.Input(tensor.Randn(rand.New(rand.NewPCG(3, 3)), c.in...), nil, true)
			err := runNoPanic(t, net, x)
			if err == nil {
				t.Fatal("no error")
			}
			var le *nn.LayerError
			if !errors.As(err, &le) {
				t.Fatalf("error is a %T, not an *nn.LayerError: %v", err, err)
			}
			path := c.path
			if path == "" {
				path = "1"
			}
			msg := err.Error()
			if le.Path != path || !strings.HasPrefix(msg, "layer "+path+" (") {
				t.Errorf("error path %q, want %q: %v", le.Path, path, err)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			t.Log(msg)
		})
	}
}

func runNoPanic(t *testing.T, m nn.Module, x *autograd.Value) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	_, err = nn.Run(m, x, nil)
	return err
}

// TestBatchNormEvalOneValuePerChannel: in eval mode a single value per
// channel is fine (running statistics are used), as in PyTorch.
func TestBatchNormEvalOneValuePerChannel(t *testing.T) {
	bn := materialized(nn.NewBatchNorm2d(3)).(*nn.BatchNorm2d)
	bn.SetTraining(false)
	x := autograd.Input(tensor.Full(2, 1, 3, 1, 1), nil, false)
	y, err := nn.Run(nn.NewSequential(bn), x, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range y.T.Data {
		if d := v - 2/float32(1.000005); d > 1e-6 || d < -1e-6 {
			t.Fatalf("eval output %v, want (2-0)/sqrt(1+1e-5)", y.T.Data)
		}
	}
}

// TestUnmaterializedOnRealInput: a layer whose buffers were never
// materialised must report it on real input instead of indexing nil data.
func TestUnmaterializedOnRealInput(t *testing.T) {
	for _, training := range []bool{true, false} {
		bn := nn.NewBatchNorm2d(3, nn.Affine(false))
		bn.SetTraining(training)
		x := autograd.Input(tensor.Randn(rand.New(rand.NewPCG(4, 4)), 2, 3, 2, 2), nil, false)
		err := runNoPanic(t, nn.NewSequential(bn), x)
		if err == nil {
			t.Fatalf("training=%v: no error", training)
		}
		if !strings.Contains(err.Error(), "layer 0 (BatchNorm2d)") || !strings.Contains(err.Error(), "running_mean") {
			t.Errorf("training=%v: %v", training, err)
		}
	}
}
