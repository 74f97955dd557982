package data

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// benchJPEG is a 500x375 4:2:0 photo-like JPEG (the parity references'
// first image when they exist, else one encoded here).
func benchJPEG(b *testing.B) []byte {
	b.Helper()
	if data, err := os.ReadFile(filepath.Join("..", "testdata", "torch", "data", "photo_500x375_420.jpg")); err == nil {
		return data
	}
	m := coordImage(250, 188)
	big := ResizeImage(m, 500, 375)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, big, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkDecodeJPEG compares our libjpeg-exact decoder with Go's
// image/jpeg (plus the conversion to RGB each needs).
func BenchmarkDecodeJPEG(b *testing.B) {
	data := benchJPEG(b)
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := DecodeImage(data, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image_jpeg", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			m, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			FromImage(m)
		}
	})
}

func BenchmarkImageNetEval(b *testing.B) {
	img, err := DecodeImage(benchJPEG(b), 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ImageNetEval(img, 256, 224)
	}
}

func BenchmarkResize(b *testing.B) {
	img := ResizeImage(coordImage(250, 188), 500, 375)
	for b.Loop() {
		ResizeImage(img, 341, 256)
	}
}

// BenchmarkLoaderCIFAR measures the loader on CIFAR-sized samples with the
// standard augmentation.
func BenchmarkLoaderCIFAR(b *testing.B) {
	ds := &ArrayDataset{N: 1024, Height: 32, Width: 32, Channels: 3, Pix: make([]uint8, 1024*3072), Labels: make([]int, 1024)}
	for i := range ds.Pix {
		ds.Pix[i] = uint8(i * 31)
	}
	l, err := NewLoader(ds, LoaderOptions{BatchSize: 128, Shuffle: true, Transform: CIFARTrainTransform()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	n := 0
	for b.Loop() {
		bt, err := l.Next()
		if err != nil {
			continue // epoch end
		}
		n += bt.X.Shape[0]
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
}
