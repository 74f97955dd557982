package data

import (
	"fmt"
	"image"

	"github.com/convnet/convnet/tensor"
)

// ImageNetEval is torchvision's standard evaluation preprocessing of one
// image: Resize(resize) (shorter side, PIL bilinear), CenterCrop(crop),
// ToTensor, Normalize(ImageNetMean, ImageNetStd). It returns a [3,crop,crop]
// tensor. Most classifiers use 256 and 224; Inception v3 uses 342 and 299.
// img is converted as FromImage does (decode files with DecodeImage or
// LoadImage for PIL's exact pixels). It panics if resize or crop is not
// positive or img is empty.
func ImageNetEval(img image.Image, resize, crop int) *tensor.Tensor {
	s, err := ImageNetEvalTransform(resize, crop).Apply(Sample{Image: FromImage(img).RGB()}, nil)
	if err != nil {
		panic(fmt.Sprintf("data: ImageNetEval: %v", err))
	}
	return s.Tensor
}

// ImageNetEvalTransform is ImageNetEval's pipeline as a Transform.
func ImageNetEvalTransform(resize, crop int) Transform {
	return Compose{Resize{Size: resize}, CenterCrop{Size: crop}, ToTensor{}, Normalize{Mean: ImageNetMean, Std: ImageNetStd}}
}

// ImageNetTrainTransform is torchvision's reference training augmentation
// for ImageNet classifiers: RandomResizedCrop(size), RandomHorizontalFlip,
// ToTensor, Normalize.
func ImageNetTrainTransform(size int) Transform {
	return Compose{RandomResizedCrop{Size: size}, RandomHorizontalFlip{}, ToTensor{}, Normalize{Mean: ImageNetMean, Std: ImageNetStd}}
}

// CIFAR's channel statistics over the training set, as commonly used.
var (
	CIFAR10Mean = []float32{0.4914, 0.4822, 0.4465}
	CIFAR10Std  = []float32{0.2470, 0.2435, 0.2616}
)

// CIFARTrainTransform is the standard CIFAR augmentation: RandomCrop(32,
// padding 4), RandomHorizontalFlip, ToTensor, Normalize.
func CIFARTrainTransform() Transform {
	return Compose{RandomCrop{Size: 32, Padding: 4}, RandomHorizontalFlip{}, ToTensor{}, Normalize{Mean: CIFAR10Mean, Std: CIFAR10Std}}
}

// CIFAREvalTransform is ToTensor and CIFAR's Normalize.
func CIFAREvalTransform() Transform {
	return Compose{ToTensor{}, Normalize{Mean: CIFAR10Mean, Std: CIFAR10Std}}
}

// Fashion-MNIST's pixel statistics over the training set.
const (
	FashionMNISTMean = 0.2860
	FashionMNISTStd  = 0.3530
)

// FashionMNISTTransform is ToTensor and Normalize with Fashion-MNIST's
// statistics.
func FashionMNISTTransform() Transform {
	return Compose{ToTensor{}, Normalize{Mean: []float32{FashionMNISTMean}, Std: []float32{FashionMNISTStd}}}
}
