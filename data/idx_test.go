package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// idxBytes builds an IDX file of unsigned bytes.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadIDX(t *testing.T) {
	good := idxBytes([]int{3, 2, 4}, seq(24))
	for _, c := range []struct {
		name  string
		in    []byte
		dims  []int
		error string // substring of the error; "" means success
	}{
		{"raw", good, []int{3, 2, 4}, ""},
		{"gzip", gzipBytes(good), []int{3, 2, 4}, ""},
		{"labels", idxBytes([]int{5}, []byte{0, 1, 2, 3, 9}), []int{5}, ""},
		{"empty", idxBytes([]int{0, 28, 28}, nil), []int{0, 28, 28}, ""},
		{"truncated data", good[:len(good)-1], nil, "truncated"},
		{"truncated gzip", gzipBytes(good)[:30], nil, "unexpected EOF"},
		{"truncated header", good[:10], nil, "unexpected EOF"},
		{"no data", nil, nil, "unexpected EOF"},
		{"trailing bytes", append(append([]byte(nil), good...), 1), nil, "continues past"},
		{"wrong magic", append([]byte{1, 0}, good[2:]...), nil, "not an IDX file"},
		{"float elements", append([]byte{0, 0, 0x0d}, good[3:]...), nil, "0x0d is not supported"},
		{"zero dimensions", []byte{0, 0, 8, 0}, nil, "0 dimensions"},
		{"huge claim", idxBytes([]int{1 << 31, 1 << 31, 1 << 31}, nil), nil, "claim more than"},
		{"big claim, little data", idxBytes([]int{60000, 28, 28}, seq(100)), nil, "truncated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := ReadIDX(bytes.NewReader(c.in))
			if c.error != "" {
				if err == nil || !strings.Contains(err.Error(), c.error) {
					t.Fatalf("err = %v, want one containing %q", err, c.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(a.Dims, c.dims) {
				t.Fatalf("dims %v, want %v", a.Dims, c.dims)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	imgs := seq(4 * 3 * 2)
	ip := writeFile(t, dir, "imgs.gz", gzipBytes(idxBytes([]int{4, 3, 2}, imgs)))
	lp := writeFile(t, dir, "labels", idxBytes([]int{4}, []byte{2, 0, 9, 1}))
	d, err := LoadIDX(ip, lp, 10)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.Height != 3 || d.Width != 2 || d.Channels != 1 || len(d.Classes) != 10 {
		t.Fatalf("dataset %d x %dx%dx%d, %d classes", d.Len(), d.Height, d.Width, d.Channels, len(d.Classes))
	}
	s, err := d.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	if s.Label != 9 || !bytes.Equal(s.Image.Pix, imgs[12:18]) || s.Image.Width != 2 || s.Image.Height != 3 {
		t.Fatalf("sample 2: label %d, image %+v", s.Label, s.Image)
	}
	if _, err := d.Get(4); err == nil {
		t.Error("Get(4) of 4 samples did not fail")
	}

	bad := []struct {
		name      string
		imgs, lbl []byte
		classes   int
		error     []string
	}{
		{"label out of range", idxBytes([]int{4, 3, 2}, imgs), idxBytes([]int{4}, []byte{2, 0, 10, 1}), 10,
			[]string{"bad_labels", "record 2", "label 10", "[0, 10)"}},
		{"count mismatch", idxBytes([]int{4, 3, 2}, imgs), idxBytes([]int{3}, []byte{2, 0, 1}), 10,
			[]string{"4 images", "3 labels"}},
		{"labels not 1-D", idxBytes([]int{4, 3, 2}, imgs), idxBytes([]int{2, 2}, []byte{2, 0, 1, 1}), 10,
			[]string{"bad_labels", "1 dimension"}},
		{"images not 3-D", idxBytes([]int{4, 6}, imgs), idxBytes([]int{4}, []byte{2, 0, 1, 1}), 10,
			[]string{"bad_images", "3 dimensions"}},
		{"raw file shorter than header says", idxBytes([]int{5, 3, 2}, imgs), idxBytes([]int{4}, []byte{2, 0, 1, 1}), 10,
			[]string{"bad_images", "need 30 bytes", "has 24"}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			ip := writeFile(t, dir, "bad_images", c.imgs)
			lp := writeFile(t, dir, "bad_labels", c.lbl)
			_, err := LoadIDX(ip, lp, c.classes)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.error {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

var fashion struct {
	once sync.Once
	sets [2]*ArrayDataset // test, train
	errs [2]error
}

// fashionMNIST returns the installed full Fashion-MNIST set, read once
// for all tests; it fails the test if CI is set and the files are missing,
// and skips it otherwise. Under the race detector only the test set is
// read (the training set takes half a minute to gunzip there): train
// gives nil then.
func fashionMNIST(t *testing.T, train bool) *ArrayDataset {
	t.Helper()
	if _, err := os.Stat(filepath.Join(FashionMNISTDir, "t10k-images-idx3-ubyte.gz")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Fashion-MNIST is not installed in %s (CI is set, so this fails): apt-get install dataset-fashion-mnist", FashionMNISTDir)
		}
		t.Skipf("Fashion-MNIST is not installed in %s: apt-get install dataset-fashion-mnist", FashionMNISTDir)
	}
	fashion.once.Do(func() {
		fashion.sets[0], fashion.errs[0] = FashionMNIST(FashionMNISTDir, false)
		if !raceEnabled {
			fashion.sets[1], fashion.errs[1] = FashionMNIST(FashionMNISTDir, true)
		}
	})
	k := 0
	if train {
		k = 1
	}
	if fashion.errs[k] != nil {
		t.Fatal(fashion.errs[k])
	}
	if train && raceEnabled {
		t.Log("race detector on: the training set is not read")
	}
	return fashion.sets[k]
}

// TestFashionMNISTPackage reads the real files of Debian's
// dataset-fashion-mnist package.
func TestFashionMNISTPackage(t *testing.T) {
	for _, c := range []struct {
		train bool
		n     int
	}{{true, 60000}, {false, 10000}} {
		d := fashionMNIST(t, c.train)
		if d == nil {
			continue
		}
		if d.Len() != c.n || d.Height != 28 || d.Width != 28 || d.Channels != 1 {
			t.Fatalf("train=%v: %d images of %dx%dx%d, want %d of 28x28x1", c.train, d.Len(), d.Height, d.Width, d.Channels, c.n)
		}
		var count [10]int
		for _, l := range d.Labels {
			count[l]++
		}
		for k, n := range count {
			if n != c.n/10 { // Fashion-MNIST is balanced
				t.Errorf("train=%v: class %d has %d images, want %d", c.train, k, n, c.n/10)
			}
		}
		if c.train {
			// The normalisation constants are the training set's.
			var hist [256]int
			for _, v := range d.Pix {
				hist[v]++
			}
			sum, sq := 0.0, 0.0
			for v, n := range hist {
				x := float64(v) / 255
				sum += x * float64(n)
				sq += x * x * float64(n)
			}
			n := float64(len(d.Pix))
			mean := sum / n
			std := sq/n - mean*mean
			if d := mean - FashionMNISTMean; d > 5e-5 || d < -5e-5 {
				t.Errorf("training mean %.5f, FashionMNISTMean %.4f", mean, FashionMNISTMean)
			}
			if d := std - FashionMNISTStd*FashionMNISTStd; d > 1e-4 || d < -1e-4 {
				t.Errorf("training variance %.5f, FashionMNISTStd^2 %.5f", std, FashionMNISTStd*FashionMNISTStd)
			}
		}
	}
}
