package models

import (
	"fmt"

	"github.com/convnet/convnet/nn"
)

// The ResNet paper's CIFAR-10 networks (He et al. 2015, section 4.2): a 3x3
// convolution with 16 filters, then three stages of n blocks of two 3x3
// convolutions at 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps (the
// first block of stages 2 and 3 has stride 2), global average pooling and
// a 10-way fully connected layer: 6n+2 weighted layers. The plain nets are
// the same stacks without shortcuts, the paper's evidence that depth alone
// degrades training.
//
// Where a shortcut changes shape (entering stages 2 and 3) we use the
// paper's option B, a 1x1 convolution + BatchNorm projection, exactly as
// torchvision's ImageNet ResNet does, rather than the paper's CIFAR choice,
// option A (subsampling and zero padding, no parameters). Modules are named
// like torchvision's resnet (conv1, bn1, layer1.0.conv1, ...,
// layer2.0.downsample.0, fc) so checkpoints look familiar.

// cifarNets lists n, the number of blocks per stage, for each depth 6n+2.
var cifarNets = []struct {
	depth, n int
}{
	{20, 3},
	{32, 5},
	{44, 7},
	{56, 9},
	{110, 18},
}

// cifarWidths are the three stages' filter counts.
var cifarWidths = [3]int{16, 32, 64}

func init() {
	for _, c := range cifarNets {
		for _, v := range []struct {
			prefix string
			block  blockKind
		}{{"resnet", basicBlock}, {"plain", plainBlock}} {
			register(Spec{
				Name: fmt.Sprintf("%s%d", v.prefix, c.depth), Family: "cifar",
				Input: 32, DefaultClasses: 10, Torchvision: false,
				Build: func(cfg Config) (nn.Module, error) { return newCIFARResNet(cfg, v.block, c.n), nil },
				// He initialisation as for the ImageNet ResNets.
				Init: resnetInit,
			})
		}
	}
}

// newCIFARResNet builds a 6n+2-layer CIFAR net of basic (residual) or
// plain blocks.
func newCIFARResNet(cfg Config, block blockKind, n int) *ResNet {
	w := cifarWidths[0]
	r := &ResNet{
		Conv1:   resnetConv3x3(cfg.InChannels, w, 1),
		BN1:     nn.NewBatchNorm2d(w),
		ReLU:    &nn.ReLU{Inplace: true},
		AvgPool: nn.NewAdaptiveAvgPool2d(1, 1),
	}
	inplanes := w
	for i, planes := range cifarWidths {
		stride := 2
		if i == 0 {
			stride = 1
		}
		var stage *nn.Sequential
		stage, inplanes = resnetStage(block, inplanes, planes, n, stride)
		r.Layers = append(r.Layers, stage)
	}
	r.FC = nn.NewLinear(inplanes, cfg.NumClasses)
	return r
}
