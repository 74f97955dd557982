package models

import (
	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// AlexNet as torchvision builds it: the one-GPU variant of "One weird
// trick for parallelizing convolutional neural networks" (Krizhevsky
// 2014), 64-192-384-256-256 filters and no local response normalisation,
// not the two-tower network of the 2012 paper.
type AlexNet struct {
	Features   *nn.Sequential
	AvgPool    *nn.AdaptiveAvgPool2d
	Classifier *nn.Sequential
}

func init() {
	register(Spec{
		Name: "alexnet", Family: "alexnet", Input: 224, Torchvision: true,
		Top1Err: 43.45, Top5Err: 20.91,
		// torchvision keeps PyTorch's default init for AlexNet: no Init.
		Build: func(cfg Config) (nn.Module, error) { return NewAlexNet(cfg), nil },
	})
}

// NewAlexNet builds torchvision's AlexNet.
func NewAlexNet(cfg Config) *AlexNet {
	return &AlexNet{
		Features: nn.NewSequential(
			nn.NewConv2d(cfg.InChannels, 64, 11, nn.Stride(4), nn.Padding(2)),
			&nn.ReLU{Inplace: true},
			nn.NewMaxPool2d(3, nn.Stride(2)),
			nn.NewConv2d(64, 192, 5, nn.Padding(2)),
			&nn.ReLU{Inplace: true},
			nn.NewMaxPool2d(3, nn.Stride(2)),
			nn.NewConv2d(192, 384, 3, nn.Padding(1)),
			&nn.ReLU{Inplace: true},
			nn.NewConv2d(384, 256, 3, nn.Padding(1)),
			&nn.ReLU{Inplace: true},
			nn.NewConv2d(256, 256, 3, nn.Padding(1)),
			&nn.ReLU{Inplace: true},
			nn.NewMaxPool2d(3, nn.Stride(2)),
		),
		AvgPool: nn.NewAdaptiveAvgPool2d(6, 6),
		Classifier: nn.NewSequential(
			nn.NewDropout(0.5),
			nn.NewLinear(256*6*6, 4096),
			&nn.ReLU{Inplace: true},
			nn.NewDropout(0.5),
			nn.NewLinear(4096, 4096),
			&nn.ReLU{Inplace: true},
			nn.NewLinear(4096, cfg.NumClasses),
		),
	}
}

// Children lists features, avgpool, classifier.
func (a *AlexNet) Children() []nn.Child { return featuresChildren(a.Features, a.AvgPool, a.Classifier) }

// Forward returns the logits.
func (a *AlexNet) Forward(x *autograd.Value) (*autograd.Value, error) {
	return forwardFeatures(x, a.Features, a.AvgPool, a.Classifier)
}

// featuresChildren names the three parts of AlexNet and VGG.
func featuresChildren(features nn.Module, avgpool *nn.AdaptiveAvgPool2d, classifier nn.Module) []nn.Child {
	return []nn.Child{{Name: "features", Module: features}, {Name: "avgpool", Module: avgpool}, {Name: "classifier", Module: classifier}}
}

// forwardFeatures is AlexNet's and VGG's forward: features, pooling to a
// fixed size, flatten, classifier.
func forwardFeatures(x *autograd.Value, features nn.Module, avgpool *nn.AdaptiveAvgPool2d, classifier nn.Module) (*autograd.Value, error) {
	x, err := runInOrder(x, features, avgpool)
	if err != nil {
		return nil, err
	}
	if x, err = autograd.Flatten(x, 1); err != nil {
		return nil, err
	}
	return nn.Call(classifier, x)
}
