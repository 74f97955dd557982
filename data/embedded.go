package data

import (
	"embed"
	"fmt"
)

// The first 6000 training and 1000 test images of Fashion-MNIST (MIT
// License, Zalando SE; see embedded/NOTICE), about 3 MB gzipped, so that
// the default training run needs no download. data/internal/mkembed makes
// the files.
//
//go:embed embedded/*.gz
var embeddedFS embed.FS

// Sizes of the embedded Fashion-MNIST subset.
const (
	EmbeddedTrainSize = 6000
	EmbeddedTestSize  = 1000
)

// EmbeddedFashionMNIST returns the embedded Fashion-MNIST subset: the
// first 6000 training images, or the first 1000 test images, of the full
// set (28x28 grey, 10 classes).
func EmbeddedFashionMNIST(train bool) (*ArrayDataset, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	read := func(kind string) (*IDXArray, string, error) {
		name := "embedded/" + prefix + "-" + kind + ".gz"
		f, err := embeddedFS.Open(name)
		if err != nil {
			return nil, name, fmt.Errorf("data: %w", err)
		}
		defer f.Close()
		a, err := ReadIDX(f)
		if err != nil {
			return nil, name, fmt.Errorf("data: embedded %s: %w", name, err)
		}
		return a, name, nil
	}
	imgs, in, err := read("images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labels, ln, err := read("labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	d, err := idxDataset(imgs, labels, in, ln, len(FashionMNISTClasses))
	if err != nil {
		return nil, err
	}
	d.Classes = append([]string(nil), FashionMNISTClasses...)
	return d, nil
}
