package data

import (
	"fmt"
	"math"
)

// Resampling as PIL's Image.resize(size, Image.BILINEAR) does it
// (libImaging/Resample.c), which is what torchvision 0.14's Resize does to a
// PIL image. PIL resamples in two separable passes, horizontal then
// vertical, each a convolution with a triangle filter whose support is
// widened by the scale factor when shrinking (so downscaling averages every
// input pixel, "antialiasing", instead of sampling four). The weights of each
// output pixel are normalised to sum to one in float64, then turned into
// 22-bit fixed point; each pass accumulates in int32 starting from half an
// output unit and clips to uint8, so the intermediate image between the
// passes is rounded to 8 bits as PIL's is.

// pilPrecisionBits is Resample.c's PRECISION_BITS: 32 - 8 - 2.
const pilPrecisionBits = 22

// resampleCoeffs are one pass's fixed-point weights: output pixel i reads
// input pixels start[i] .. start[i]+len(weights of i)-1.
type resampleCoeffs struct {
	start []int
	n     []int
	k     []int32 // out*ksize, row i at i*ksize
	ksize int
}

// bilinearCoeffs is Resample.c's precompute_coeffs (for the whole input,
// box [0, inSize)) followed by normalize_coeffs_8bpc, with the bilinear
// (triangle) filter of support 1.
func bilinearCoeffs(inSize, outSize int) resampleCoeffs {
	const support0 = 1.0
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1.0)
	support := support0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		start: make([]int, outSize),
		n:     make([]int, outSize),
		k:     make([]int32, outSize*ksize),
		ksize: ksize,
	}
	w := make([]float64, ksize)
	ss := 1.0 / filterscale
	for xx := range outSize {
		center := (float64(xx) + 0.5) * scale
		// C's (int) cast truncates toward zero; xmin is clamped at 0
		// right after, so truncation of a negative value does not matter.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			t := math.Abs((float64(x+xmin) - center + 0.5) * ss)
			f := 0.0
			if t < 1 {
				f = 1 - t
			}
			w[x] = f
			ww += f
		}
		row := c.k[xx*ksize : xx*ksize+ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			// normalize_coeffs_8bpc rounds half away from zero.
			if v < 0 {
				row[x] = int32(-0.5 + v*(1<<pilPrecisionBits))
			} else {
				row[x] = int32(0.5 + v*(1<<pilPrecisionBits))
			}
		}
		c.start[xx] = xmin
		c.n[xx] = xmax
	}
	return c
}

func pilClip8(v int32) uint8 {
	if v >= 1<<pilPrecisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> pilPrecisionBits)
}

// ResizeImage resizes m to width x height as PIL's
// Image.resize((width, height), Image.BILINEAR) does, bit for bit.
func ResizeImage(m *Image, width, height int) *Image {
	if width <= 0 || height <= 0 {
		panic(fmt.Sprintf("data: resize to %dx%d", width, height))
	}
	if m.Width == 0 || m.Height == 0 {
		panic(fmt.Sprintf("data: resize of an empty %dx%d image", m.Width, m.Height))
	}
	if width == m.Width && height == m.Height {
		return &Image{Width: width, Height: height, Channels: m.Channels, Pix: append([]uint8(nil), m.Pix...)}
	}
	C := m.Channels
	src := m
	vert := bilinearCoeffs(m.Height, height)
	if width != m.Width {
		// Only the input rows the vertical pass reads are resampled
		// horizontally (ImagingResampleInner's ybox_first/last).
		first, last := 0, m.Height
		if height != m.Height {
			first = vert.start[0]
			last = vert.start[height-1] + vert.n[height-1]
			for i := range vert.start {
				vert.start[i] -= first
			}
		}
		horiz := bilinearCoeffs(m.Width, width)
		tmp := &Image{Width: width, Height: last - first, Channels: C, Pix: make([]uint8, width*(last-first)*C)}
		for y := 0; y < tmp.Height; y++ {
			in := m.Pix[(y+first)*m.Width*C : (y+first+1)*m.Width*C]
			out := tmp.Pix[y*width*C : (y+1)*width*C]
			for xx := range width {
				k := horiz.k[xx*horiz.ksize : xx*horiz.ksize+horiz.n[xx]]
				base := horiz.start[xx] * C
				if C == 3 {
					s0, s1, s2 := int32(1<<(pilPrecisionBits-1)), int32(1<<(pilPrecisionBits-1)), int32(1<<(pilPrecisionBits-1))
					px := in[base : base+3*len(k)]
					for x, kx := range k {
						p := px[3*x : 3*x+3 : 3*x+3]
						s0 += int32(p[0]) * kx
						s1 += int32(p[1]) * kx
						s2 += int32(p[2]) * kx
					}
					out[3*xx], out[3*xx+1], out[3*xx+2] = pilClip8(s0), pilClip8(s1), pilClip8(s2)
					continue
				}
				for c := range C {
					ss := int32(1 << (pilPrecisionBits - 1))
					for x, kx := range k {
						ss += int32(in[base+x*C+c]) * kx
					}
					out[xx*C+c] = pilClip8(ss)
				}
			}
		}
		src = tmp
	}
	if height == m.Height {
		return src
	}
	out := NewImage(width, height, C)
	rowLen := width * C
	acc := make([]int32, rowLen)
	for yy := range height {
		for i := range acc {
			acc[i] = 1 << (pilPrecisionBits - 1)
		}
		k := vert.k[yy*vert.ksize : yy*vert.ksize+vert.n[yy]]
		for y, ky := range k {
			in := src.Pix[(vert.start[yy]+y)*rowLen : (vert.start[yy]+y+1)*rowLen]
			for i, v := range in {
				acc[i] += int32(v) * ky
			}
		}
		o := out.Pix[yy*rowLen : (yy+1)*rowLen]
		for i, v := range acc {
			o[i] = pilClip8(v)
		}
	}
	return out
}
