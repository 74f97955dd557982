package data

import "image"

// Lossy WebP (VP8) codes colour as BT.601 "studio range" Y'CbCr (Y in
// 16..235), not JPEG's full range, and libwebp (PIL's decoder) converts it
// with its own 14-bit fixed-point formulas (src/dsp/yuv.h) after its own
// "fancy" 4:2:0 upsampling (src/dsp/upsampling.c: weights 9-3-3-1 computed
// through two diagonal averages, which rounds differently from libjpeg).
// x/image/webp returns the planes as an image.YCbCr whose colour model is
// JPEG's, which is up to twenty levels away from PIL's pixels; webpToRGB
// converts the planes as libwebp does. Lossless WebP (VP8L) is RGB already.

// webpToRGB converts a decoded WebP image to RGB as libwebp does.
func webpToRGB(m image.Image) *Image {
	var p *image.YCbCr
	switch m := m.(type) {
	case *image.YCbCr:
		p = m
	case *image.NYCbCrA:
		p = &m.YCbCr // alpha is dropped, as convert("RGB") does
	default:
		return FromImage(m)
	}
	if p.SubsampleRatio != image.YCbCrSubsampleRatio420 || p.Rect.Min != (image.Point{}) {
		return jpegYCbCrToRGB(p) // not something VP8 makes
	}
	w, h := p.Rect.Dx(), p.Rect.Dy()
	out := NewImage(w, h, 3)
	if w == 0 || h == 0 {
		return out
	}
	cw, ch := (w+1)/2, (h+1)/2
	u := make([]uint8, w)
	v := make([]uint8, w)
	for y := range h {
		// The chroma row the output row lies in, and the neighbouring
		// one on its side, mirrored at the top and bottom edges.
		r := y / 2
		far := r - 1
		if y%2 == 1 {
			far = r + 1
		}
		far = min(max(far, 0), ch-1)
		vp8UpsampleRow(u, p.Cb[r*p.CStride:r*p.CStride+cw], p.Cb[far*p.CStride:far*p.CStride+cw])
		vp8UpsampleRow(v, p.Cr[r*p.CStride:r*p.CStride+cw], p.Cr[far*p.CStride:far*p.CStride+cw])
		yrow := p.Y[y*p.YStride : y*p.YStride+w]
		o := out.Pix[3*w*y : 3*w*(y+1)]
		for x, yy := range yrow {
			Y, U, V := int32(yy), int32(u[x]), int32(v[x])
			o[3*x] = vp8Clip8(multHi(Y, 19077) + multHi(V, 26149) - 14234)
			o[3*x+1] = vp8Clip8(multHi(Y, 19077) - multHi(U, 6419) - multHi(V, 13320) + 8708)
			o[3*x+2] = vp8Clip8(multHi(Y, 19077) + multHi(U, 33050) - 17685)
		}
	}
	return out
}

func multHi(v, coeff int32) int32 { return (v * coeff) >> 8 }

func vp8Clip8(v int32) uint8 {
	const fix = 6
	if v&^(256<<fix-1) == 0 {
		return uint8(v >> fix)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// vp8UpsampleRow is one output row of libwebp's UpsampleRgbLinePair for one
// chroma channel: near is the chroma row the output row lies in, far its
// neighbour on the output row's side.
func vp8UpsampleRow(dst, near, far []uint8) {
	w := len(dst)
	dst[0] = uint8((3*int32(near[0]) + int32(far[0]) + 2) >> 2)
	for x := 1; x <= (w-1)>>1; x++ {
		n0, n1 := int32(near[x-1]), int32(near[x])
		f0, f1 := int32(far[x-1]), int32(far[x])
		dst[2*x-1] = uint8(((n0+3*n1+3*f0+f1+8)>>3 + n0) >> 1)
		dst[2*x] = uint8(((3*n0+n1+f0+3*f1+8)>>3 + n1) >> 1)
	}
	if w%2 == 0 {
		l := w/2 - 1
		dst[w-1] = uint8((3*int32(near[l]) + int32(far[l]) + 2) >> 2)
	}
}
