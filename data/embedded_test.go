package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestEmbeddedFashionMNIST(t *testing.T) {
	for _, c := range []struct {
		train bool
		n     int
	}{{true, EmbeddedTrainSize}, {false, EmbeddedTestSize}} {
		d, err := EmbeddedFashionMNIST(c.train)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != c.n || d.Height != 28 || d.Width != 28 || d.Channels != 1 || len(d.Classes) != 10 {
			t.Fatalf("train=%v: %d images of %dx%dx%d, %d classes", c.train, d.Len(), d.Height, d.Width, d.Channels, len(d.Classes))
		}
		var count [10]int
		for _, l := range d.Labels {
			count[l]++
		}
		for k, n := range count {
			// The subset is a prefix of a shuffled set: roughly balanced.
			if n < c.n/10*7/10 || n > c.n/10*13/10 {
				t.Errorf("train=%v: class %d has %d of %d images", c.train, k, n, c.n)
			}
		}
		// The embedded files must be the full set's first records (which
		// data/internal/mkembed writes); checked when the package is there.
		if _, err := os.Stat(filepath.Join(FashionMNISTDir, "t10k-images-idx3-ubyte.gz")); err != nil {
			t.Logf("not comparing with the full set: %v", err)
			continue
		}
		full := fashionMNIST(t, c.train)
		if full == nil {
			continue
		}
		sub := full.Subset(c.n)
		if !bytes.Equal(sub.Pix, d.Pix) || !equalInts(sub.Labels, d.Labels) {
			t.Errorf("train=%v: the embedded subset is not the first %d records of %s: rerun go run ./data/internal/mkembed", c.train, c.n, FashionMNISTDir)
		}
	}
}
