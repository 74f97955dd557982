package models

import (
	"strconv"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// ShuffleNets: v2 (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines
// for Efficient CNN Architecture Design") exactly as torchvision 0.14
// builds it, and v1 (Zhang et al. 2017, "ShuffleNet: An Extremely
// Efficient Convolutional Neural Network for Mobile Devices"), which
// torchvision does not have, with 3 groups at width 1x.

// shufflenetV2Variants is the paper's Table 5: output channels of conv1,
// stage2, stage3, stage4 and conv5 per width; every variant repeats its
// stages 4, 8 and 4 times.
var shufflenetV2Variants = []struct {
	name     string
	channels [5]int
}{
	{"shufflenet_v2_x0_5", [5]int{24, 48, 96, 192, 1024}},
	{"shufflenet_v2_x1_0", [5]int{24, 116, 232, 464, 1024}},
	{"shufflenet_v2_x1_5", [5]int{24, 176, 352, 704, 1024}},
	{"shufflenet_v2_x2_0", [5]int{24, 244, 488, 976, 2048}},
}

var shufflenetV2Repeats = [3]int{4, 8, 4}

// shufflenetV1G3 is the g = 3 column of ShuffleNet v1's Table 1 (width
// 1x): conv1 has 24 channels, and the stages repeat 4, 8 and 4 units
// (the first of each with stride 2) with 240, 480 and 960 output
// channels.
var shufflenetV1G3 = struct {
	groups, conv1 int
	repeats, out  [3]int
}{groups: 3, conv1: 24, repeats: [3]int{4, 8, 4}, out: [3]int{240, 480, 960}}

func init() {
	for _, v := range shufflenetV2Variants {
		register(Spec{
			Name: v.name, Family: "shufflenet", Input: 224, Torchvision: true,
			Build: func(cfg Config) (nn.Module, error) { return NewShuffleNetV2(cfg, shufflenetV2Repeats, v.channels), nil },
			// torchvision leaves PyTorch's default initialisation.
		})
	}
	register(Spec{
		Name: "shufflenet_v1", Family: "shufflenet", Input: 224,
		Build: func(cfg Config) (nn.Module, error) {
			c := shufflenetV1G3
			return NewShuffleNetV1(cfg, c.groups, c.conv1, c.repeats, c.out), nil
		},
	})
}

// convBNReLU is torchvision's ShuffleNetV2 conv1/conv5: a Sequential of a
// bias-free convolution (padding (k-1)/2), BatchNorm and ReLU.
func convBNReLU(in, out, kernel, stride int) *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(in, out, kernel, nn.Stride(stride), nn.Padding((kernel-1)/2), nn.NoBias()),
		nn.NewBatchNorm2d(out), &nn.ReLU{Inplace: true})
}

// depthwise3x3 is a bias-free 3x3 depthwise convolution with padding 1.
func depthwise3x3(c, stride int) *nn.Conv2d {
	return nn.NewConv2d(c, c, 3, nn.Stride(stride), nn.Padding(1), nn.Groups(c), nn.NoBias())
}

// ShuffleNetV2Block is ShuffleNet v2's unit (torchvision's
// InvertedResidual, the paper's Figure 3 (c) and (d)). With stride 1 the
// input is split in two halves: the first passes through, the second goes
// through branch2 (1x1, 3x3 depthwise, 1x1). With stride 2 both branches
// see the whole input and halve the resolution; branch1 is 3x3 depthwise
// and 1x1. The halves are concatenated and shuffled with 2 groups.
type ShuffleNetV2Block struct {
	Branch1 *nn.Sequential // nil with stride 1 (torchvision's empty Sequential)
	Branch2 *nn.Sequential
	Stride  int
}

// NewShuffleNetV2Block returns a unit from in to out channels; with
// stride 1 in must equal out.
func NewShuffleNetV2Block(in, out, stride int) *ShuffleNetV2Block {
	half := out / 2
	b := &ShuffleNetV2Block{Stride: stride}
	branch2In := half
	if stride > 1 {
		b.Branch1 = nn.NewSequential(
			depthwise3x3(in, stride), nn.NewBatchNorm2d(in),
			nn.NewConv2d(in, half, 1, nn.NoBias()), nn.NewBatchNorm2d(half), &nn.ReLU{Inplace: true})
		branch2In = in
	}
	b.Branch2 = nn.NewSequential(
		nn.NewConv2d(branch2In, half, 1, nn.NoBias()), nn.NewBatchNorm2d(half), &nn.ReLU{Inplace: true},
		depthwise3x3(half, stride), nn.NewBatchNorm2d(half),
		nn.NewConv2d(half, half, 1, nn.NoBias()), nn.NewBatchNorm2d(half), &nn.ReLU{Inplace: true})
	return b
}

// Children lists branch1 (stride 2 only) and branch2.
func (b *ShuffleNetV2Block) Children() []nn.Child {
	if b.Branch1 == nil {
		return []nn.Child{{Name: "branch2", Module: b.Branch2}}
	}
	return []nn.Child{{Name: "branch1", Module: b.Branch1}, {Name: "branch2", Module: b.Branch2}}
}

// Forward applies the unit.
func (b *ShuffleNetV2Block) Forward(x *autograd.Value) (*autograd.Value, error) {
	var left, right *autograd.Value
	var err error
	if b.Branch1 == nil {
		var x2 *autograd.Value
		if left, x2, err = autograd.Chunk2(x); err != nil {
			return nil, err
		}
		if right, err = nn.Call(b.Branch2, x2); err != nil {
			return nil, err
		}
	} else {
		if left, err = nn.Call(b.Branch1, x); err != nil {
			return nil, err
		}
		if right, err = nn.Call(b.Branch2, x); err != nil {
			return nil, err
		}
	}
	y, err := autograd.Concat(left, right)
	if err != nil {
		return nil, err
	}
	return autograd.ChannelShuffle(y, 2)
}

// ShuffleNetV2 is torchvision's ShuffleNetV2: conv1 (3x3/2), maxpool
// (3x3/2), stage2-4 (Sequentials of ShuffleNetV2Block, the first of each
// with stride 2), conv5 (1x1), global average pool (functional), fc.
type ShuffleNetV2 struct {
	children []nn.Child
}

// NewShuffleNetV2 builds a ShuffleNet v2 with the given stage repeats and
// the output channels of conv1, stage2, stage3, stage4 and conv5.
func NewShuffleNetV2(cfg Config, repeats [3]int, channels [5]int) *ShuffleNetV2 {
	m := &ShuffleNetV2{}
	add := func(name string, l nn.Module) { m.children = append(m.children, nn.Child{Name: name, Module: l}) }
	add("conv1", convBNReLU(cfg.InChannels, channels[0], 3, 2))
	add("maxpool", nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1)))
	in := channels[0]
	for i, n := range repeats {
		out := channels[i+1]
		stage := nn.NewSequential(NewShuffleNetV2Block(in, out, 2))
		for j := 1; j < n; j++ {
			stage.Append(strconv.Itoa(j), NewShuffleNetV2Block(out, out, 1))
		}
		add(shufflenetStage(i), stage)
		in = out
	}
	add("conv5", convBNReLU(in, channels[4], 1, 1))
	add("fc", nn.NewLinear(channels[4], cfg.NumClasses))
	return m
}

// Children lists conv1, maxpool, stage2, stage3, stage4, conv5 and fc.
func (m *ShuffleNetV2) Children() []nn.Child { return m.children }

// Forward returns the logits.
func (m *ShuffleNetV2) Forward(x *autograd.Value) (*autograd.Value, error) {
	return shufflenetForward(x, m.children)
}

// shufflenetForward runs a ShuffleNet's children in order, with the
// global average pool (x.mean([2, 3]) in torchvision) before fc.
func shufflenetForward(x *autograd.Value, children []nn.Child) (*autograd.Value, error) {
	var err error
	for _, c := range children {
		if c.Name == "fc" {
			if x, err = autograd.AdaptiveAvgPool2d(x, 1, 1); err != nil {
				return nil, err
			}
			if x, err = autograd.Flatten(x, 1); err != nil {
				return nil, err
			}
		}
		if x, err = nn.Call(c.Module, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// ShuffleNetV1Unit is ShuffleNet v1's unit (the paper's Figure 2 (b) and
// (c)), laid out like torchvision's ShuffleNet v2 unit. branch2 is
//
//	0 1x1 group conv (not grouped in the first unit of stage 2, whose 24
//	  input channels are too few), 1 bn, 2 relu, 3 channel shuffle,
//	4 3x3 depthwise (stride 1 or 2), 5 bn (no ReLU after depthwise),
//	6 1x1 group conv, 7 bn,
//
// with a bottleneck of a quarter of the unit's output channels. With
// stride 1 the output is relu(x + branch2(x)). With stride 2, branch1 is a
// 3x3/2 average pool of x, concatenated before branch2's output, which
// therefore has out - in channels; the ReLU applies to the concatenation,
// where it only changes branch2's half.
type ShuffleNetV1Unit struct {
	Branch1 *nn.AvgPool2d // nil with stride 1
	Branch2 *nn.Sequential
}

// NewShuffleNetV1Unit returns a unit from in to out channels with groups
// groups; firstGroups is the number of groups of the first 1x1 conv.
func NewShuffleNetV1Unit(in, out, stride, groups, firstGroups int) *ShuffleNetV1Unit {
	mid := out / 4
	u := &ShuffleNetV1Unit{}
	if stride > 1 {
		u.Branch1 = nn.NewAvgPool2d(3, nn.Stride(stride), nn.Padding(1))
		out -= in
	}
	u.Branch2 = nn.NewSequential(
		nn.NewConv2d(in, mid, 1, nn.Groups(firstGroups), nn.NoBias()), nn.NewBatchNorm2d(mid), &nn.ReLU{Inplace: true},
		&nn.ChannelShuffle{Groups: groups},
		depthwise3x3(mid, stride), nn.NewBatchNorm2d(mid),
		nn.NewConv2d(mid, out, 1, nn.Groups(groups), nn.NoBias()), nn.NewBatchNorm2d(out))
	return u
}

// Children lists branch1 (stride 2 only) and branch2.
func (u *ShuffleNetV1Unit) Children() []nn.Child {
	if u.Branch1 == nil {
		return []nn.Child{{Name: "branch2", Module: u.Branch2}}
	}
	return []nn.Child{{Name: "branch1", Module: u.Branch1}, {Name: "branch2", Module: u.Branch2}}
}

// Forward applies the unit.
func (u *ShuffleNetV1Unit) Forward(x *autograd.Value) (*autograd.Value, error) {
	y, err := nn.Call(u.Branch2, x)
	if err != nil {
		return nil, err
	}
	if u.Branch1 == nil {
		y, err = autograd.Add(x, y)
	} else {
		var short *autograd.Value
		if short, err = nn.Call(u.Branch1, x); err != nil {
			return nil, err
		}
		y, err = autograd.Concat(short, y)
	}
	if err != nil {
		return nil, err
	}
	return autograd.ReLUInPlace(y), nil
}

// ShuffleNetV1 is ShuffleNet v1, laid out like torchvision's
// ShuffleNetV2: conv1 (Sequential: 0 conv 3x3/2, 1 bn, 2 relu), maxpool
// (3x3/2), stage2-4 (Sequentials of ShuffleNetV1Unit), global average pool
// (functional), fc. The paper's network has no conv5. Weights keep
// PyTorch's default initialisation.
type ShuffleNetV1 struct {
	children []nn.Child
}

// NewShuffleNetV1 builds a ShuffleNet v1 with the given groups, conv1
// width, stage repeats and stage output channels.
func NewShuffleNetV1(cfg Config, groups, conv1 int, repeats, out [3]int) *ShuffleNetV1 {
	m := &ShuffleNetV1{}
	add := func(name string, l nn.Module) { m.children = append(m.children, nn.Child{Name: name, Module: l}) }
	add("conv1", convBNReLU(cfg.InChannels, conv1, 3, 2))
	add("maxpool", nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1)))
	in := conv1
	for i, n := range repeats {
		first := groups
		if i == 0 {
			first = 1
		}
		stage := nn.NewSequential(NewShuffleNetV1Unit(in, out[i], 2, groups, first))
		for j := 1; j < n; j++ {
			stage.Append(strconv.Itoa(j), NewShuffleNetV1Unit(out[i], out[i], 1, groups, groups))
		}
		add(shufflenetStage(i), stage)
		in = out[i]
	}
	add("fc", nn.NewLinear(in, cfg.NumClasses))
	return m
}

// Children lists conv1, maxpool, stage2, stage3, stage4 and fc.
func (m *ShuffleNetV1) Children() []nn.Child { return m.children }

// Forward returns the logits.
func (m *ShuffleNetV1) Forward(x *autograd.Value) (*autograd.Value, error) {
	return shufflenetForward(x, m.children)
}

// shufflenetStage is "stage2", "stage3", "stage4" for i = 0, 1, 2.
func shufflenetStage(i int) string { return "stage" + strconv.Itoa(i+2) }
