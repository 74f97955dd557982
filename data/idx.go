package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// IDX is the array format of MNIST and Fashion-MNIST
// (http://yann.lecun.com/exdb/mnist/): a magic number 0x00 0x00 <type>
// <number of dimensions>, the dimensions as big-endian uint32, then the
// elements in row-major order. Only unsigned bytes (type 0x08) are read;
// they are what image and label files hold. Files may be gzipped (the
// distributed .gz files) or raw.

// IDXArray is one IDX file's contents.
type IDXArray struct {
	Dims []int
	Data []uint8
}

const (
	idxUbyte = 0x08
	// maxIDXDims bounds the dimension count (a byte in the header);
	// MNIST uses 1 and 3.
	maxIDXDims = 8
	// maxIDXBytes bounds the element count a header may claim (16 GiB);
	// the data itself is read incrementally, so a header that lies within
	// the bound still cannot make us allocate more than the input holds.
	maxIDXBytes = 1 << 34
	// idxChunk is the most allocated ahead of the data actually read.
	idxChunk = 16 << 20
)

var gzipMagic = []byte{0x1f, 0x8b}

// ReadIDX reads an IDX array from r, gunzipping it first if it starts
// with gzip's magic bytes. The data must hold exactly the number of
// elements the header's dimensions say.
func ReadIDX(r io.Reader) (*IDXArray, error) {
	return readIDX(r, -1)
}

// readIDX reads an IDX array; size is the raw input's length when known
// (a file's size), or -1.
func readIDX(r io.Reader, size int64) (*IDXArray, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		a, err := readIDXRaw(zr, -1)
		if err != nil {
			return nil, err
		}
		// The gzip trailer's checksum is only verified at EOF.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return a, nil
	}
	return readIDXRaw(br, size)
}

func readIDXRaw(r io.Reader, size int64) (*IDXArray, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("IDX header: %w", unexpected(err))
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, fmt.Errorf("not an IDX file: magic %02x %02x %02x %02x does not start with 00 00", hdr[0], hdr[1], hdr[2], hdr[3])
	}
	if hdr[2] != idxUbyte {
		return nil, fmt.Errorf("IDX element type 0x%02x is not supported (only 0x08, unsigned byte)", hdr[2])
	}
	nd := int(hdr[3])
	if nd == 0 || nd > maxIDXDims {
		return nil, fmt.Errorf("IDX header: %d dimensions (want 1 to %d)", nd, maxIDXDims)
	}
	raw := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("IDX header: dimensions: %w", unexpected(err))
	}
	dims := make([]int, nd)
	n := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(raw[4*i:]))
		dims[i] = int(d)
		if d == 0 {
			n = 0
		} else if n > 0 {
			if n > maxIDXBytes/d {
				return nil, fmt.Errorf("IDX header: dimensions %v claim more than %d elements", dims[:i+1], int64(maxIDXBytes))
			}
			n *= d
		}
	}
	if size >= 0 {
		if have := size - int64(4+4*nd); have != n {
			return nil, fmt.Errorf("IDX: dimensions %v need %d bytes of data, the file has %d", dims, n, have)
		}
	}
	if size >= 0 {
		// The size was checked against the file's: read it in one go.
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("IDX data: %w", unexpected(err))
		}
		return &IDXArray{Dims: dims, Data: data}, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(n, idxChunk)))
	got, err := buf.ReadFrom(io.LimitReader(r, n))
	if err != nil {
		return nil, fmt.Errorf("IDX data: %w", err)
	}
	if got < n {
		return nil, fmt.Errorf("IDX: truncated: dimensions %v need %d bytes of data, found %d", dims, n, got)
	}
	var extra [1]byte
	if k, _ := io.ReadFull(r, extra[:]); k > 0 {
		return nil, fmt.Errorf("IDX: data continues past the %d bytes that dimensions %v need", n, dims)
	}
	return &IDXArray{Dims: dims, Data: buf.Bytes()}, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// LoadIDXFile reads the IDX file at path (see ReadIDX). Errors name the
// file.
func LoadIDXFile(path string) (*IDXArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	a, err := readIDX(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return a, nil
}

// LoadIDX reads an image file ([N,H,W] bytes) and a label file ([N]
// bytes) in IDX format into a dataset of grey images. Labels must be
// below numClasses; numClasses <= 0 takes it from the largest label.
// Errors name the file and, for a bad label, its index.
func LoadIDX(imagesPath, labelsPath string, numClasses int) (*ArrayDataset, error) {
	imgs, err := LoadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	labels, err := LoadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	return idxDataset(imgs, labels, imagesPath, labelsPath, numClasses)
}

func idxDataset(imgs, labels *IDXArray, imagesName, labelsName string, numClasses int) (*ArrayDataset, error) {
	if len(imgs.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: images must have 3 dimensions [N,H,W], got %v", imagesName, imgs.Dims)
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: labels must have 1 dimension [N], got %v", labelsName, labels.Dims)
	}
	if imgs.Dims[1] == 0 || imgs.Dims[2] == 0 {
		return nil, fmt.Errorf("data: %s: images of size %dx%d", imagesName, imgs.Dims[2], imgs.Dims[1])
	}
	if imgs.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("data: %s has %d images but %s has %d labels", imagesName, imgs.Dims[0], labelsName, labels.Dims[0])
	}
	d := &ArrayDataset{N: imgs.Dims[0], Height: imgs.Dims[1], Width: imgs.Dims[2], Channels: 1, Pix: imgs.Data, Labels: make([]int, labels.Dims[0])}
	maxLabel := -1
	for i, l := range labels.Data {
		d.Labels[i] = int(l)
		maxLabel = max(maxLabel, int(l))
	}
	if numClasses <= 0 {
		numClasses = maxLabel + 1
	}
	if err := checkLabels(d.Labels, numClasses, labelsName); err != nil {
		return nil, err
	}
	d.Classes = make([]string, numClasses)
	for i := range d.Classes {
		d.Classes[i] = fmt.Sprint(i)
	}
	return d, nil
}

// FashionMNISTClasses are Fashion-MNIST's class names in label order.
var FashionMNISTClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// FashionMNISTDir is where Debian's dataset-fashion-mnist package puts the
// files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNIST reads the Fashion-MNIST training (60000 images) or test
// (10000) set from root, which holds the distributed files
// (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
// t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, gzipped or not).
// Images are 28x28 grey.
func FashionMNIST(root string, train bool) (*ArrayDataset, error) {
	return mnistLike(root, train, FashionMNISTClasses)
}

// MNIST reads the MNIST digits from root, with the same file names as
// FashionMNIST.
func MNIST(root string, train bool) (*ArrayDataset, error) {
	return mnistLike(root, train, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"})
}

func mnistLike(root string, train bool, classes []string) (*ArrayDataset, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	find := func(name string) string {
		for _, p := range []string{name + ".gz", name} {
			if _, err := os.Stat(filepath.Join(root, p)); err == nil {
				return filepath.Join(root, p)
			}
		}
		return filepath.Join(root, name+".gz") // for the error message
	}
	d, err := LoadIDX(find(prefix+"-images-idx3-ubyte"), find(prefix+"-labels-idx1-ubyte"), len(classes))
	if err != nil {
		return nil, err
	}
	d.Classes = append([]string(nil), classes...)
	return d, nil
}
