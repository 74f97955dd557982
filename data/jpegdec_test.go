package data

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIDCTIslowReference binds the integer inverse DCT to the plain
// float64 definition (T.81 A.3.3): islow's fixed point stays within one
// level of the exact transform, rounded, on random and extreme blocks.
func TestIDCTIslowReference(t *testing.T) {
	r := rng(11)
	var q [64]uint16
	for i := range q {
		q[i] = uint16(1 + r.IntN(12))
	}
	c := func(u int) float64 {
		if u == 0 {
			return 1 / math.Sqrt2
		}
		return 1
	}
	var cos [8][8]float64
	for x := range 8 {
		for u := range 8 {
			cos[x][u] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / 16)
		}
	}
	basis := func(x, u int) float64 { return cos[x][u] }
	for trial := range 300 {
		// Coefficients as an encoder makes them: the forward DCT of an
		// 8-bit block (noise, or a smooth ramp), quantised. Out-of-range
		// coefficients make libjpeg's range table wrap around, which is
		// what we copy but not what the exact transform does.
		var px [64]float64
		for i := range px {
			if trial%2 == 0 {
				px[i] = float64(r.IntN(256))
			} else {
				px[i] = float64((i%8)*20 + (i/8)*9 + r.IntN(5))
			}
		}
		var coef [64]int16
		for v := range 8 {
			for u := range 8 {
				s := 0.0
				for y := range 8 {
					for x := range 8 {
						s += (px[y*8+x] - 128) * basis(x, u) * basis(y, v)
					}
				}
				coef[v*8+u] = int16(math.Round(c(u) * c(v) * s / 4 / float64(q[v*8+u])))
				if trial%3 == 0 && v*8+u > 0 {
					coef[v*8+u] = 0 // DC-only blocks take the shortcut
				}
			}
		}
		var out [64]uint8
		idctIslow(coef[:], &q, out[:], 8)
		for y := range 8 {
			for x := range 8 {
				s := 0.0
				for v := range 8 {
					for u := range 8 {
						s += c(u) * c(v) * float64(coef[v*8+u]) * float64(q[v*8+u]) *
							basis(x, u) * basis(y, v)
					}
				}
				want := math.Max(0, math.Min(255, math.Round(s/4+128)))
				if d := math.Abs(float64(out[y*8+x]) - want); d > 1 {
					t.Fatalf("trial %d: sample (%d,%d) = %d, exact %v", trial, x, y, out[y*8+x], want)
				}
			}
		}
	}
}

// TestDecodeJPEGErrors feeds the decoder damaged versions of a fixture.
func TestDecodeJPEGErrors(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join("testdata", "jpeg", "restart1_420.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(b []byte, marker byte) int {
		i := bytes.Index(b, []byte{0xff, marker})
		if i < 0 {
			t.Fatalf("no marker %02x", marker)
		}
		return i
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), orig...)) }
	for _, c := range []struct {
		name  string
		data  []byte
		error string
	}{
		{"wrong restart marker", edit(func(b []byte) []byte { b[find(b, 0xd0)+1] = 0xd3; return b }), "expected restart marker RST0"},
		{"lossless coding", edit(func(b []byte) []byte { b[find(b, 0xc0)+1] = 0xc3; return b }), "unsupported coding process"},
		{"arithmetic coding", edit(func(b []byte) []byte { b[find(b, 0xc0)+1] = 0xc9; return b }), "unsupported coding process"},
		{"12-bit samples", edit(func(b []byte) []byte { b[find(b, 0xc0)+4] = 12; return b }), "12-bit"},
		{"second frame", edit(func(b []byte) []byte {
			i := find(b, 0xc0)
			n := int(b[i+2])<<8 | int(b[i+3])
			sof := append([]byte(nil), b[i:i+2+n]...)
			return append(b[:i:i], append(sof, b[i:]...)...)
		}), "more than one frame"},
		{"no EOI", orig[:len(orig)-2], "truncated"},
		{"cut in the scan", orig[:len(orig)*2/3], "truncated"},
		{"zero height", edit(func(b []byte) []byte { i := find(b, 0xc0); b[i+5], b[i+6] = 0, 0; return b }), "empty image"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeJPEG(c.data, MaxImagePixels)
			if err == nil || !strings.Contains(err.Error(), c.error) {
				t.Fatalf("error %v, want one containing %q", err, c.error)
			}
			// DecodeImage (Go's header check first) must fail too.
			if _, err := DecodeImage(c.data, 0); err == nil {
				t.Fatal("DecodeImage accepted it")
			}
		})
	}
	if _, err := decodeJPEG(orig, 61*47-1); err == nil || !strings.Contains(err.Error(), "pixel limit") {
		t.Errorf("limit at the frame header: %v", err)
	}
}
