package data

import "image"

// JPEG chroma upsampling and colour conversion as libjpeg-turbo (PIL's
// decoder) does them by default. decodeJPEG uses them after its own inverse
// DCT; FromImage uses them on the planes of an image.YCbCr from Go's
// image/jpeg, whose pixels then differ from PIL's only by what the two
// inverse DCTs differ by (up to three levels, on a few pixels in a
// hundred). Converting those planes with color.YCbCrToRGB and
// nearest-neighbour chroma, as image.YCbCr.At does, differs from PIL by
// over a hundred levels along colour edges of 4:2:0 images.
//
// libjpeg-turbo (jdsample.c) upsamples 2x subsampled chroma with a triangle
// filter, 3/4 of the nearer sample and 1/4 of the further one, with biases
// that alternate between output samples so the rounding does not drift;
// at the image's edges the outermost sample stands in for its missing
// neighbour. It does so for h2v1 (4:2:2) and h2v2 (4:2:0) only when the
// chroma plane is more than two samples wide, and always for h1v2 (4:4:0);
// other integral factors (4:1:1, 4:1:0) are replicated. The colour tables
// are jdcolor.c's, in 16-bit fixed point.

const (
	jScaleBits = 16
	jOneHalf   = 1 << (jScaleBits - 1)
)

func jfix(x float64) int32 { return int32(x*(1<<jScaleBits) + 0.5) }

var jpegTables = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	for i := range 256 {
		x := int32(i - 128)
		t.crR[i] = (jfix(1.40200)*x + jOneHalf) >> jScaleBits
		t.cbB[i] = (jfix(1.77200)*x + jOneHalf) >> jScaleBits
		t.crG[i] = -jfix(0.71414) * x
		t.cbG[i] = -jfix(0.34414)*x + jOneHalf
	}
	return t
}()

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// subsampling returns the horizontal and vertical chroma subsampling
// factors of a ratio.
func subsampling(r image.YCbCrSubsampleRatio) (h, v int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

// jpegYCbCrToRGB converts JPEG planes to RGB as libjpeg-turbo does.
func jpegYCbCrToRGB(m *image.YCbCr) *Image {
	b := m.Rect
	if b.Min != (image.Point{}) {
		// A sub-image: chroma phase is not libjpeg's; use Go's conversion.
		return genericToRGB(m)
	}
	w, h := b.Dx(), b.Dy()
	out := NewImage(w, h, 3)
	if w == 0 || h == 0 {
		return out
	}
	hs, vs := subsampling(m.SubsampleRatio)
	cw := (w + hs - 1) / hs
	ch := (h + vs - 1) / vs
	fancyH := hs == 2 && cw > 2
	fancyV := vs == 2 && (hs == 1 || (hs == 2 && cw > 2)) // h1v2 always; h2v2 with h2v1's width rule
	cb := make([]uint8, w)
	cr := make([]uint8, w)
	t := &jpegTables
	for y := range h {
		r := y / vs
		near := m.Cb[r*m.CStride : r*m.CStride+cw]
		nearR := m.Cr[r*m.CStride : r*m.CStride+cw]
		if fancyV {
			far := r - 1
			bias := int32(1) // h1v2's bias for the row above
			if y%2 == 1 {
				far, bias = r+1, 2
			}
			far = min(max(far, 0), ch-1)
			farB := m.Cb[far*m.CStride : far*m.CStride+cw]
			farR := m.Cr[far*m.CStride : far*m.CStride+cw]
			if hs == 2 {
				upsampleH2V2(cb, near, farB)
				upsampleH2V2(cr, nearR, farR)
			} else {
				upsampleH1V2(cb, near, farB, bias)
				upsampleH1V2(cr, nearR, farR, bias)
			}
		} else if fancyH {
			upsampleH2V1(cb, near)
			upsampleH2V1(cr, nearR)
		} else {
			for x := range w {
				cb[x] = near[x/hs]
				cr[x] = nearR[x/hs]
			}
		}
		yrow := m.Y[y*m.YStride : y*m.YStride+w]
		o := out.Pix[3*w*y : 3*w*(y+1)]
		for x, yy := range yrow {
			Y := int32(yy)
			o[3*x] = clamp8(Y + t.crR[cr[x]])
			o[3*x+1] = clamp8(Y + (t.cbG[cb[x]]+t.crG[cr[x]])>>jScaleBits)
			o[3*x+2] = clamp8(Y + t.cbB[cb[x]])
		}
	}
	return out
}

// upsampleH2V1 is jdsample.c's h2v1_fancy_upsample for one row; len(in) > 2.
// dst may be one sample shorter than 2*len(in) (odd widths).
func upsampleH2V1(dst, in []uint8) {
	n := len(in)
	put := func(i int, v int32) {
		if i < len(dst) {
			dst[i] = uint8(v)
		}
	}
	put(0, int32(in[0]))
	put(1, (int32(in[0])*3+int32(in[1])+2)>>2)
	for c := 1; c < n-1; c++ {
		v := int32(in[c]) * 3
		put(2*c, (v+int32(in[c-1])+1)>>2)
		put(2*c+1, (v+int32(in[c+1])+2)>>2)
	}
	put(2*n-2, (int32(in[n-1])*3+int32(in[n-2])+1)>>2)
	put(2*n-1, int32(in[n-1]))
}

// upsampleH2V2 is jdsample.c's h2v2_fancy_upsample for one output row:
// near is the chroma row the output row lies in, far the neighbouring one
// on the output row's side; len(near) > 2.
func upsampleH2V2(dst, near, far []uint8) {
	n := len(near)
	put := func(i int, v int32) {
		if i < len(dst) {
			dst[i] = uint8(v)
		}
	}
	col := func(c int) int32 { return int32(near[c])*3 + int32(far[c]) }
	this, next := col(0), col(1)
	put(0, (this*4+8)>>4)
	put(1, (this*3+next+7)>>4)
	last := this
	this = next
	for c := 1; c < n-1; c++ {
		next = col(c + 1)
		put(2*c, (this*3+last+8)>>4)
		put(2*c+1, (this*3+next+7)>>4)
		last, this = this, next
	}
	put(2*n-2, (this*3+last+8)>>4)
	put(2*n-1, (this*4+7)>>4)
}

// upsampleH1V2 is jdsample.c's h1v2_fancy_upsample for one output row.
func upsampleH1V2(dst, near, far []uint8, bias int32) {
	for x := range dst {
		dst[x] = uint8((int32(near[x])*3 + int32(far[x]) + bias) >> 2)
	}
}

// genericToRGB converts any image through its At method.
func genericToRGB(m image.Image) *Image {
	b := m.Bounds()
	out := NewImage(b.Dx(), b.Dy(), 3)
	o := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := nrgbOf(m.At(x, y))
			copy(out.Pix[o:o+3], p[:])
			o += 3
		}
	}
	return out
}
