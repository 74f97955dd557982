package data

import (
	"errors"
	"fmt"

	"github.com/convnet/convnet/tensor"
)

// Sample is one example: its pixels, in one of two forms, and its class.
// Datasets return the 8-bit Image as it was decoded or stored; ToTensor
// replaces it by a float32 [C,H,W] Tensor in [0,1]. Exactly one of Image and
// Tensor is set.
type Sample struct {
	Image  *Image
	Tensor *tensor.Tensor
	Label  int
}

// Dataset is a sequence of samples, like torch.utils.data.Dataset. Get must
// be safe to call from several goroutines at once. Samples may share memory
// with the dataset (see Image).
type Dataset interface {
	Len() int
	Get(i int) (Sample, error)
}

// ErrSkipped marks a sample that could not be read and was skipped (a
// corrupt image in an ImageFolder): the Loader leaves such samples out of
// their batch and counts them instead of failing.
var ErrSkipped = errors.New("sample skipped")

// ArrayDataset is a dataset held in memory: N images of one size, stored
// interleaved (N,H,W,C) as 8-bit pixels, with their labels. The IDX and
// CIFAR readers return one.
type ArrayDataset struct {
	N, Height, Width, Channels int
	Pix                        []uint8 // N*Height*Width*Channels
	Labels                     []int   // N labels in [0, len(Classes))
	Classes                    []string
}

// Len returns the number of samples.
func (d *ArrayDataset) Len() int { return d.N }

// Get returns sample i; its Image shares the dataset's memory.
func (d *ArrayDataset) Get(i int) (Sample, error) {
	if i < 0 || i >= d.N {
		return Sample{}, fmt.Errorf("data: index %d out of range [0, %d)", i, d.N)
	}
	n := d.Height * d.Width * d.Channels
	pix := d.Pix[i*n : (i+1)*n : (i+1)*n]
	return Sample{Image: &Image{Width: d.Width, Height: d.Height, Channels: d.Channels, Pix: pix}, Label: d.Labels[i]}, nil
}

// Subset returns the dataset's first n samples (all of them when n >= N),
// sharing memory.
func (d *ArrayDataset) Subset(n int) *ArrayDataset {
	n = min(max(n, 0), d.N)
	s := *d
	s.N = n
	s.Pix = d.Pix[:n*d.Height*d.Width*d.Channels]
	s.Labels = d.Labels[:n]
	return &s
}

// checkLabels reports the first label outside [0, classes), naming the
// file and the record.
func checkLabels(labels []int, classes int, file string) error {
	for i, l := range labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("data: %s: record %d has label %d, outside [0, %d)", file, i, l, classes)
		}
	}
	return nil
}
