package analysis

import (
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// layerMACs is the one counting rule of convnet: the multiply-accumulates
// of one call of a leaf layer with input shape in and output shape out,
// counted as ptflops counts them (sovrasov/flops-counter.pytorch,
// ptflops/pytorch_ops.py), since the lecture's comparison table is
// ptflops' benchmark table:
//
//   - Conv2d: KH*KW*(Cin/groups)*Cout per output position, plus one per
//     output element when the layer has a bias.
//   - Linear: in*out per row, plus one per output element with a bias.
//     (ptflops 0.6.x added the bias once per output feature and the 2019
//     version that made the table added none; with batch 1 the first two
//     agree, and the 1000 to 9192 bias terms never show at 2 decimals.)
//   - BatchNorm2d: 2 per input element when affine (1 without).
//   - ReLU, ReLU6: 1 per output element.
//   - MaxPool2d, AvgPool2d, AdaptiveAvgPool2d: 1 per input element.
//   - everything else (Dropout, Flatten, Identity, LocalResponseNorm,
//     ChannelShuffle, Softmax): 0, as ptflops has no hook for them.
//
// Only layer calls are counted, never functional operations (torch.cat,
// the residual +, F.relu, F.max_pool2d, F.adaptive_avg_pool2d): ptflops
// before 0.7 counted module forward hooks only, and the table was made
// with it (April 2019; ptflops >= 0.7 also patches torch.nn.functional,
// which is why its newer README says densenet121 2.90 and vgg16 15.52).
// convnet's models call a module exactly where torchvision does and the
// functional op where torchvision does, so "what the tracer sees" is
// "what ptflops' hooks saw". A model that wrapped, say, Inception's F.relu
// in a module would count 1 MAC per element more than the table.
func layerMACs(m nn.Module, in, out []int) int64 {
	switch l := m.(type) {
	case *nn.Conv2d:
		if len(out) != 4 {
			return 0
		}
		g := l.Opts.Groups
		if g <= 0 {
			g = 1
		}
		positions := int64(out[0]) * int64(out[2]) * int64(out[3])
		perPosition := int64(l.KernelSize[0]) * int64(l.KernelSize[1]) * int64(l.InChannels) * int64(l.OutChannels/g)
		macs := perPosition * positions
		if l.Bias != nil {
			macs += numel(out)
		}
		return macs
	case *nn.Linear:
		rows := numel(in) / int64(max(l.InFeatures, 1))
		macs := rows * int64(l.InFeatures) * int64(l.OutFeatures)
		if l.Bias != nil {
			macs += rows * int64(l.OutFeatures)
		}
		return macs
	case *nn.BatchNorm2d:
		if l.Weight != nil {
			return 2 * numel(in)
		}
		return numel(in)
	case *nn.ReLU, *nn.ReLU6:
		return numel(out)
	case *nn.MaxPool2d, *nn.AvgPool2d, *nn.AdaptiveAvgPool2d:
		return numel(in)
	}
	return 0
}

// inPlace reports layers whose output, in torchvision, shares its input's
// storage (ReLU(inplace=True), eval-mode Dropout, views): they add no
// activation memory of their own to the forward pass.
func inPlace(m nn.Module) bool {
	switch m.(type) {
	case *nn.ReLU, *nn.ReLU6, *nn.Dropout, *nn.Identity, *nn.Flatten:
		return true
	}
	return false
}

func numel(shape []int) int64 { return int64(tensor.Numel(shape)) }
