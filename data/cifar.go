package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CIFAR's binary version (https://www.cs.toronto.edu/~kriz/cifar.html) is
// a sequence of fixed-size records: label byte(s), then a 32x32 colour
// image as three planes (1024 red, 1024 green, 1024 blue bytes, each row
// by row). CIFAR-10 has one label byte; CIFAR-100 two, the coarse
// (superclass) label then the fine one.

const (
	cifarSide   = 32
	cifarPixels = 3 * cifarSide * cifarSide
)

// CIFARFormat describes a CIFAR binary file's records.
type CIFARFormat struct {
	LabelBytes int // label bytes before each image
	LabelIndex int // which of them is the label
	NumClasses int // labels must be below this
}

// The record formats of CIFAR-10 and CIFAR-100 (fine labels, as
// torchvision's CIFAR100 uses, or the 20 coarse superclasses).
var (
	CIFAR10Format        = CIFARFormat{LabelBytes: 1, LabelIndex: 0, NumClasses: 10}
	CIFAR100Format       = CIFARFormat{LabelBytes: 2, LabelIndex: 1, NumClasses: 100}
	CIFAR100CoarseFormat = CIFARFormat{LabelBytes: 2, LabelIndex: 0, NumClasses: 20}
)

// CIFAR10Classes are CIFAR-10's class names in label order.
var CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// LoadCIFAR reads CIFAR binary files, in order, into one dataset of 32x32
// RGB images. A file whose size is not a whole number of records, or a
// label outside the format's range, is an error naming the file (and the
// record).
func LoadCIFAR(paths []string, f CIFARFormat) (*ArrayDataset, error) {
	if f.LabelBytes <= 0 || f.LabelIndex < 0 || f.LabelIndex >= f.LabelBytes || f.NumClasses <= 0 {
		return nil, fmt.Errorf("data: invalid CIFAR format %+v", f)
	}
	rec := f.LabelBytes + cifarPixels
	files := make([][]byte, len(paths))
	total := 0
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if len(b) == 0 || len(b)%rec != 0 {
			return nil, fmt.Errorf("data: %s: %d bytes is not a whole number of %d-byte CIFAR records (%d label byte(s) and a 32x32x3 image)", p, len(b), rec, f.LabelBytes)
		}
		files[i] = b
		total += len(b) / rec
	}
	d := &ArrayDataset{N: total, Height: cifarSide, Width: cifarSide, Channels: 3,
		Pix: make([]uint8, total*cifarPixels), Labels: make([]int, total)}
	n := 0
	const plane = cifarSide * cifarSide
	for i, b := range files {
		for r := 0; r < len(b)/rec; r++ {
			b := b[r*rec : (r+1)*rec]
			label := int(b[f.LabelIndex])
			if label >= f.NumClasses {
				return nil, fmt.Errorf("data: %s: record %d has label %d, outside [0, %d)", paths[i], r, label, f.NumClasses)
			}
			d.Labels[n] = label
			img := b[f.LabelBytes:]
			dst := d.Pix[n*cifarPixels : (n+1)*cifarPixels]
			for p := range plane { // planar RGB to interleaved
				dst[3*p], dst[3*p+1], dst[3*p+2] = img[p], img[plane+p], img[2*plane+p]
			}
			n++
		}
	}
	d.Classes = make([]string, f.NumClasses)
	for i := range d.Classes {
		d.Classes[i] = fmt.Sprint(i)
	}
	return d, nil
}

// findDir returns root/sub if it exists, else root: the files may be in
// the directory the archive unpacks to, or given directly.
func findDir(root, sub string) string {
	if st, err := os.Stat(filepath.Join(root, sub)); err == nil && st.IsDir() {
		return filepath.Join(root, sub)
	}
	return root
}

// CIFAR10 reads CIFAR-10's training set (data_batch_1.bin to
// data_batch_5.bin, 50000 images) or test set (test_batch.bin, 10000) from
// root or root/cifar-10-batches-bin.
func CIFAR10(root string, train bool) (*ArrayDataset, error) {
	dir := findDir(root, "cifar-10-batches-bin")
	var paths []string
	if train {
		for i := 1; i <= 5; i++ {
			paths = append(paths, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)))
		}
	} else {
		paths = []string{filepath.Join(dir, "test_batch.bin")}
	}
	d, err := LoadCIFAR(paths, CIFAR10Format)
	if err != nil {
		return nil, err
	}
	d.Classes = append([]string(nil), CIFAR10Classes...)
	return d, nil
}

// CIFAR100 reads CIFAR-100's training set (train.bin, 50000 images) or
// test set (test.bin, 10000) with its 100 fine labels, from root or
// root/cifar-100-binary. Class names come from fine_label_names.txt when
// it is there.
func CIFAR100(root string, train bool) (*ArrayDataset, error) {
	dir := findDir(root, "cifar-100-binary")
	name := "test.bin"
	if train {
		name = "train.bin"
	}
	d, err := LoadCIFAR([]string{filepath.Join(dir, name)}, CIFAR100Format)
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "fine_label_names.txt")); err == nil {
		if names := strings.Fields(string(b)); len(names) == CIFAR100Format.NumClasses {
			d.Classes = names
		}
	}
	return d, nil
}
