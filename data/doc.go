// Package data feeds images to training and evaluation: dataset readers
// (MNIST's IDX files, CIFAR's binary batches, ImageFolder trees, an embedded
// Fashion-MNIST subset), torchvision's transforms with the same arithmetic as
// torchvision 0.14 on PIL images, and a Loader that batches samples into
// [N,C,H,W] tensors ahead of the consumer.
//
// Images are held as they are decoded, 8-bit and interleaved (HWC, the form
// a PIL image has), until ToTensor turns them into float32 CHW tensors in
// [0,1]. Transforms that torchvision applies to PIL images (Resize,
// RandomResizedCrop, ColorJitter) work on the 8-bit form and round to 8 bits
// where PIL does, so that a pipeline gives the values torchvision gives.
//
// Randomness is explicit: every random transform draws from the *rand.Rand
// it is handed, and the Loader derives each sample's generator from (seed,
// epoch, index), so a run's batches do not depend on thread timing, on the
// number of workers, or on where a run was stopped and resumed.
//
// Every reader treats its input as hostile: sizes read from headers are
// checked against the data before anything large is allocated, image headers
// are read (and the pixel count bounded) before an image is decoded, and
// errors name the file and the record that is wrong.
package data
