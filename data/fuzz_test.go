package data

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"testing"
)

// The seed corpora are under testdata/fuzz/<target>/ (images of every
// format and JPEG coding the decoders handle, IDX files raw and gzipped);
// the f.Add seeds below are made here. Run a target with, for example,
//
//	go test -run '^$' -fuzz FuzzDecodeImage -fuzztime 60s ./data/

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 2, 3}, seq(12)))
	f.Add(gzipBytes(idxBytes([]int{4}, []byte{1, 2, 3, 9})))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadIDX(bytes.NewReader(b))
		if err != nil {
			return
		}
		n := 1
		for _, d := range a.Dims {
			n *= d
		}
		if n != len(a.Data) {
			t.Fatalf("dims %v hold %d elements, data has %d", a.Dims, n, len(a.Data))
		}
		// A header may claim many empty images; the label file would
		// have to hold that many bytes, which a fuzz input does not.
		if len(a.Dims) == 3 && a.Dims[0] <= len(b) {
			labels := &IDXArray{Dims: []int{a.Dims[0]}, Data: make([]byte, a.Dims[0])}
			d, err := idxDataset(a, labels, "images", "labels", 10)
			if err != nil {
				if a.Dims[1] == 0 || a.Dims[2] == 0 {
					return // refused: empty images
				}
				t.Fatal(err)
			}
			for i := range min(d.Len(), 3) {
				if _, err := d.Get(i); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// fuzzMaxPixels keeps the fuzzer's images small; the limit itself is
// exercised by headers that claim more.
const fuzzMaxPixels = 1 << 16

func FuzzDecodeImage(f *testing.F) {
	recoverDecoderPanics = false
	f.Cleanup(func() { recoverDecoderPanics = true })
	m := image.NewRGBA(image.Rect(0, 0, 11, 5))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 37)
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	f.Add(b.Bytes())
	b.Reset()
	jpeg.Encode(&b, m, nil)
	f.Add(b.Bytes())
	f.Add(pngHeader(100000, 100000))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeImage(data, fuzzMaxPixels)
		if err != nil {
			return
		}
		if err := img.check(); err != nil || img.Channels != 3 {
			t.Fatalf("decoded an invalid image: %v, %d channels", err, img.Channels)
		}
		if img.Width*img.Height > fuzzMaxPixels || img.Width == 0 || img.Height == 0 {
			t.Fatalf("decoded %dx%d, limit %d", img.Width, img.Height, fuzzMaxPixels)
		}
		// Whatever decodes must go through the pipeline.
		if out := ImageNetEval(img, 5, 4); len(out.Data) != 3*4*4 {
			t.Fatalf("ImageNetEval gave shape %v", out.Shape)
		}
	})
}
