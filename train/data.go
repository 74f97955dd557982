package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/convnet/convnet/data"
)

// The kinds of dataset directory OpenData recognises.
const (
	KindEmbedded    = "embedded-fashion-mnist"
	KindIDX         = "idx"
	KindCIFAR10     = "cifar10"
	KindCIFAR100    = "cifar100"
	KindImageFolder = "imagefolder"
)

// Dataset is a training and a test set with what a model needs to know
// about them.
type Dataset struct {
	Kind        string
	Root        string // "" for the embedded set
	Train, Test data.Dataset
	Classes     []string
	Channels    int
	// Side is the images' side for in-memory sets (28, 32); 0 for
	// ImageFolder, whose images vary.
	Side int
	// Mean and Std normalise the pixels (per channel, or one value).
	Mean, Std []float32
	// Folders are the ImageFolder datasets, for their skip counts.
	Folders []*data.ImageFolder
}

// DataOptions tune OpenData.
type DataOptions struct {
	// StrictImages makes an unreadable image fatal (ImageFolder).
	StrictImages bool
	// Warn receives warnings about skipped images; nil means none.
	Warn func(string)
}

// OpenData opens a dataset directory, recognising its layout:
//
//   - "" : the embedded Fashion-MNIST subset (6000 training and 1000 test
//     images);
//   - MNIST-style IDX files (train-images-idx3-ubyte[.gz] and the three
//     others), such as Debian's /usr/share/datasets/fashion-mnist;
//   - CIFAR-10's binary batches (data_batch_1.bin ... test_batch.bin,
//     directly or in cifar-10-batches-bin/), or CIFAR-100's (train.bin,
//     test.bin, or in cifar-100-binary/);
//   - an ImageFolder root with train/ and val/ (or test/) sub-folders, one
//     folder per class in each.
func OpenData(dir string, o DataOptions) (*Dataset, error) {
	if dir == "" {
		tr, err := data.EmbeddedFashionMNIST(true)
		if err != nil {
			return nil, err
		}
		te, err := data.EmbeddedFashionMNIST(false)
		if err != nil {
			return nil, err
		}
		return arrayData(KindEmbedded, "", tr, te, []float32{data.FashionMNISTMean}, []float32{data.FashionMNISTStd}), nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data: %s is not a directory", dir)
	}
	exists := func(names ...string) bool {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
				return false
			}
		}
		return true
	}
	idx := func(n string) bool { return exists(n) || exists(n+".gz") }
	switch {
	case idx("train-images-idx3-ubyte") && idx("t10k-images-idx3-ubyte"):
		open, mean, std := data.MNIST, []float32{0.1307}, []float32{0.3081}
		if strings.Contains(strings.ToLower(filepath.Base(filepath.Clean(dir))), "fashion") {
			open, mean, std = data.FashionMNIST, []float32{data.FashionMNISTMean}, []float32{data.FashionMNISTStd}
		}
		tr, err := open(dir, true)
		if err != nil {
			return nil, err
		}
		te, err := open(dir, false)
		if err != nil {
			return nil, err
		}
		return arrayData(KindIDX, dir, tr, te, mean, std), nil
	case exists("data_batch_1.bin") || exists("cifar-10-batches-bin/data_batch_1.bin"):
		tr, err := data.CIFAR10(dir, true)
		if err != nil {
			return nil, err
		}
		te, err := data.CIFAR10(dir, false)
		if err != nil {
			return nil, err
		}
		return arrayData(KindCIFAR10, dir, tr, te, data.CIFAR10Mean, data.CIFAR10Std), nil
	case exists("train.bin", "test.bin") || exists("cifar-100-binary/train.bin"):
		tr, err := data.CIFAR100(dir, true)
		if err != nil {
			return nil, err
		}
		te, err := data.CIFAR100(dir, false)
		if err != nil {
			return nil, err
		}
		// CIFAR-100's own statistics are close to CIFAR-10's; the
		// usual recipes use CIFAR-10's or these.
		return arrayData(KindCIFAR100, dir, tr, te, []float32{0.5071, 0.4865, 0.4409}, []float32{0.2673, 0.2564, 0.2762}), nil
	case isDir(filepath.Join(dir, "train")) && (isDir(filepath.Join(dir, "val")) || isDir(filepath.Join(dir, "test"))):
		return openImageFolder(dir, o)
	}
	return nil, fmt.Errorf("data: cannot tell what %s holds: expected MNIST-style IDX files (train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and their labels), "+
		"CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin), CIFAR-100 binaries (train.bin, test.bin), "+
		"or an ImageFolder root with train/ and val/ sub-folders of one folder per class", dir)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func arrayData(kind, root string, tr, te *data.ArrayDataset, mean, std []float32) *Dataset {
	return &Dataset{Kind: kind, Root: root, Train: tr, Test: te, Classes: tr.Classes,
		Channels: tr.Channels, Side: tr.Height, Mean: mean, Std: std}
}

func openImageFolder(dir string, o DataOptions) (*Dataset, error) {
	testDir := filepath.Join(dir, "val")
	if !isDir(testDir) {
		testDir = filepath.Join(dir, "test")
	}
	fo := data.ImageFolderOptions{Strict: o.StrictImages, Warn: o.Warn}
	if fo.Warn == nil {
		fo.Warn = func(string) {}
	}
	tr, err := data.NewImageFolder(filepath.Join(dir, "train"), fo)
	if err != nil {
		return nil, err
	}
	te, err := data.NewImageFolder(testDir, fo)
	if err != nil {
		return nil, err
	}
	if strings.Join(tr.Classes, "\x00") != strings.Join(te.Classes, "\x00") {
		return nil, fmt.Errorf("data: %s has classes %s but %s has %s: the test folder must have the training folder's classes",
			tr.Root, listNames(tr.Classes), te.Root, listNames(te.Classes))
	}
	return &Dataset{Kind: KindImageFolder, Root: dir, Train: tr, Test: te, Classes: tr.Classes, Channels: 3,
		Mean: data.ImageNetMean, Std: data.ImageNetStd, Folders: []*data.ImageFolder{tr, te}}, nil
}

func listNames(s []string) string {
	if len(s) > 6 {
		return fmt.Sprintf("[%s ... %d in all]", strings.Join(s[:6], " "), len(s))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Skipped returns how many unreadable images have been skipped so far.
func (d *Dataset) Skipped() int {
	n := 0
	for _, f := range d.Folders {
		n += f.Skipped()
	}
	return n
}

// Transforms returns the training and test pipelines for images of side
// size (0: the dataset's own, or input for ImageFolder, the model's
// input resolution).
func (d *Dataset) Transforms(size, input int, augment bool) (trainT, testT data.Transform) {
	norm := data.Normalize{Mean: d.Mean, Std: d.Std}
	if d.Kind == KindImageFolder {
		if size <= 0 {
			size = input
		}
		resize := size * 256 / 224 // torchvision's 256 for 224
		testT = data.Compose{data.Resize{Size: resize}, data.CenterCrop{Size: size}, data.ToTensor{}, norm}
		switch {
		case !augment:
			trainT = testT
		case size >= 64:
			trainT = data.Compose{data.RandomResizedCrop{Size: size}, data.RandomHorizontalFlip{}, data.ToTensor{}, norm}
		default:
			trainT = data.Compose{data.Resize{Size: size}, data.CenterCrop{Size: size},
				data.RandomCrop{Size: size, Padding: padFor(size)}, data.RandomHorizontalFlip{}, data.ToTensor{}, norm}
		}
		return trainT, testT
	}
	var pre data.Compose
	side := d.Side
	if size > 0 && size != d.Side {
		pre = data.Compose{data.Resize{Size: size}, data.CenterCrop{Size: size}}
		side = size
	}
	testT = append(append(data.Compose{}, pre...), data.ToTensor{}, norm)
	if !augment {
		return testT, testT
	}
	trainT = append(append(data.Compose{}, pre...),
		data.RandomCrop{Size: side, Padding: padFor(side)}, data.RandomHorizontalFlip{}, data.ToTensor{}, norm)
	return trainT, testT
}

// padFor is the zero padding of the pad-and-crop augmentation: CIFAR's 4
// for 32x32, so 3 for 28x28 (an eighth of the side, rounded down).
func padFor(side int) int { return max(1, side/8) }

// evenSubset is n samples of ds spread evenly over it (class folders are
// stored in order, so the first n would be one class).
type evenSubset struct {
	ds  data.Dataset
	idx []int
}

func limit(ds data.Dataset, n int) data.Dataset {
	if n <= 0 || n >= ds.Len() {
		return ds
	}
	s := &evenSubset{ds: ds, idx: make([]int, n)}
	for k := range s.idx {
		s.idx[k] = int(int64(k) * int64(ds.Len()) / int64(n))
	}
	return s
}

func (s *evenSubset) Len() int { return len(s.idx) }

func (s *evenSubset) Get(i int) (data.Sample, error) {
	if i < 0 || i >= len(s.idx) {
		return data.Sample{}, fmt.Errorf("data: index %d out of range [0, %d)", i, len(s.idx))
	}
	return s.ds.Get(s.idx[i])
}

// describe names sample i of ds for an error message: its file for an
// ImageFolder, its record otherwise.
func describe(ds data.Dataset, i int) string {
	if s, ok := ds.(*evenSubset); ok && i >= 0 && i < len(s.idx) {
		return describe(s.ds, s.idx[i])
	}
	if f, ok := ds.(*data.ImageFolder); ok && i >= 0 && i < len(f.Files) {
		return "file " + f.Files[i]
	}
	return fmt.Sprintf("record %d", i)
}

var errBadLabel = errors.New("label outside the class range")
