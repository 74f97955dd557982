package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

// pngHeader returns the start of a PNG file whose IHDR claims w x h RGB
// pixels, followed by an empty IDAT and IEND: enough for DecodeConfig.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", nil)
	chunk("IEND", nil)
	return b.Bytes()
}

func testRGBA(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 9), uint8(y * 5), uint8(x*y + 3), uint8(128 + x)})
		}
	}
	return m
}

func encode(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeImage(t *testing.T) {
	src := testRGBA(13, 7)
	pngData := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, src) })
	jpegData := encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, src, &jpeg.Options{Quality: 95}) })
	bmpData := encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, src) })
	gray := image.NewGray(image.Rect(0, 0, 5, 4))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 11)
	}
	grayPNG := encode(t, func(b *bytes.Buffer) error { return png.Encode(b, gray) })

	for _, c := range []struct {
		name      string
		data      []byte
		maxPixels int
		w, h      int
		error     []string
	}{
		{"png", pngData, 0, 13, 7, nil},
		{"jpeg", jpegData, 0, 13, 7, nil},
		{"bmp", bmpData, 0, 13, 7, nil},
		{"grey png", grayPNG, 0, 5, 4, nil},
		{"at the limit", pngData, 13 * 7, 13, 7, nil},
		{"over the limit", pngData, 13*7 - 1, 0, 0, []string{"13x7 = 91 pixels", "limit 90"}},
		{"bomb", pngHeader(100000, 100000), 0, 0, 0, []string{"100000x100000 = 10000000000 pixels", "refused before decoding", "limit 89478485"}},
		{"truncated png", pngData[:len(pngData)/2], 0, 0, 0, []string{"png"}},
		{"truncated jpeg", jpegData[:len(jpegData)/2], 0, 0, 0, []string{"jpeg"}},
		{"garbage", []byte("hello, world"), 0, 0, 0, []string{"unknown image format"}},
		{"empty", nil, 0, 0, 0, []string{"unknown image format"}},
		{"zero-size png", pngHeader(0, 5), 0, 0, 0, []string{"png"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := DecodeImage(c.data, c.maxPixels)
			if c.error != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range c.error {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != c.w || img.Height != c.h || img.Channels != 3 || len(img.Pix) != c.w*c.h*3 {
				t.Fatalf("decoded %dx%dx%d", img.Width, img.Height, img.Channels)
			}
		})
	}

	// PNG and BMP are lossless: the pixels come back exactly, with alpha
	// dropped rather than composited (PIL's convert("RGB")).
	for name, data := range map[string][]byte{"png": pngData} {
		img, _ := DecodeImage(data, 0)
		for y := range 7 {
			for x := range 13 {
				c := src.NRGBAAt(x, y)
				i := (y*13 + x) * 3
				if img.Pix[i] != c.R || img.Pix[i+1] != c.G || img.Pix[i+2] != c.B {
					t.Fatalf("%s pixel (%d,%d) = %v, want %v", name, x, y, img.Pix[i:i+3], c)
				}
			}
		}
	}
	img, _ := DecodeImage(grayPNG, 0)
	for i, v := range gray.Pix {
		if img.Pix[3*i] != v || img.Pix[3*i+1] != v || img.Pix[3*i+2] != v {
			t.Fatalf("grey pixel %d = %v, want %d replicated", i, img.Pix[3*i:3*i+3], v)
		}
	}
	if _, err := DecodeImage(pngHeader(100000, 100000), 0); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("bomb error %v does not wrap ErrImageTooLarge", err)
	}
}

func TestLoadImageNamesFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "bomb.png", pngHeader(100000, 100000))
	_, err := LoadImage(p, 0)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "89478485") {
		t.Fatalf("error %v should name %s and the limit", err, p)
	}
}

func jpegEncode(b *bytes.Buffer, m image.Image) error {
	return jpeg.Encode(b, m, &jpeg.Options{Quality: 90})
}

// TestJPEGFixtures checks the committed cjpeg fixtures against each other,
// needing no reference tree: the same quantised coefficients coded
// progressively, with restart intervals or both give the same pixels, and
// Go's own decoder (a different inverse DCT) stays within a few levels.
func TestJPEGFixtures(t *testing.T) {
	load := func(name string) (*Image, []byte) {
		b, err := os.ReadFile(filepath.Join("testdata", "jpeg", name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := DecodeImage(b, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return img, b
	}
	ref, _ := load("restart1_420.jpg")
	for _, name := range []string{"progressive_420.jpg", "progressive_restart_420.jpg"} {
		img, _ := load(name)
		if !bytes.Equal(img.Pix, ref.Pix) {
			t.Errorf("%s decodes differently from restart1_420.jpg (same coefficients)", name)
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "jpeg", "*.jpg"))
	if len(files) < 10 {
		t.Fatalf("%d fixtures", len(files))
	}
	for _, f := range files {
		img, b := load(filepath.Base(f))
		if g, err := jpeg.Decode(bytes.NewReader(b)); err == nil {
			other := genericToRGB(g)
			worst := 0
			for i := range img.Pix {
				worst = max(worst, int(img.Pix[i])-int(other.Pix[i]), int(other.Pix[i])-int(img.Pix[i]))
			}
			t.Logf("%s: %d levels from Go's decoder", filepath.Base(f), worst)
		}
		// Every truncation of the file fails cleanly or decodes.
		for n := 0; n < len(b); n += 1 + len(b)/60 {
			if _, err := DecodeImage(b[:n], 0); err == nil && n < len(b)-2 {
				t.Errorf("%s truncated to %d bytes decoded without error", filepath.Base(f), n)
			}
		}
	}
}
