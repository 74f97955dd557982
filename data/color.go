package data

import (
	"fmt"
	"math"
)

// Colour adjustments as torchvision 0.14's functional API does them to PIL
// images: PIL's ImageEnhance (a blend with a "degenerate" image, computed in
// float32 and truncated to uint8) and, for hue, PIL's HSV conversion with a
// wrapping uint8 shift of the hue channel. The float32/float64 mix of each
// step follows PIL's C code (libImaging/Blend.c, Convert.c), so results
// are bit-exact.

// blend is PIL's ImagingBlend(im1, im2, alpha): im1 + alpha*(im2-im1) in
// float32, truncated; clipped to [0,255] when alpha is outside [0,1].
// degenerate(i) gives im1's value at byte i.
func blend(out, im2 []uint8, degenerate func(i int) uint8, factor float64) {
	alpha := float32(factor) // ImagingBlend takes a C float
	switch {
	case alpha == 0:
		for i := range out {
			out[i] = degenerate(i)
		}
	case alpha == 1:
		copy(out, im2)
	case alpha >= 0 && alpha <= 1:
		for i, v2 := range im2 {
			v1 := degenerate(i)
			// The explicit conversion keeps the product from being
			// fused into a multiply-add, as C on x86-64 does not.
			out[i] = uint8(float32(v1) + float32(alpha*float32(int32(v2)-int32(v1))))
		}
	default:
		for i, v2 := range im2 {
			v1 := degenerate(i)
			t := float32(v1) + float32(alpha*float32(int32(v2)-int32(v1)))
			switch {
			case t <= 0:
				out[i] = 0
			case t >= 255:
				out[i] = 255
			default:
				out[i] = uint8(t)
			}
		}
	}
}

// AdjustBrightness is torchvision's F.adjust_brightness on a PIL image:
// a blend with black.
func AdjustBrightness(m *Image, factor float64) *Image {
	out := &Image{Width: m.Width, Height: m.Height, Channels: m.Channels, Pix: make([]uint8, len(m.Pix))}
	blend(out.Pix, m.Pix, func(int) uint8 { return 0 }, factor)
	return out
}

// AdjustContrast is torchvision's F.adjust_contrast on a PIL image: a blend
// with a flat grey image at the rounded mean of the image's luma.
func AdjustContrast(m *Image, factor float64) *Image {
	g := m.Grayscale()
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	// ImageStat's mean: a float64 sum over the histogram.
	sum := 0.0
	for i, n := range hist {
		sum += float64(i) * float64(n)
	}
	mean := uint8(0)
	if len(g.Pix) > 0 {
		mean = uint8(int(sum/float64(len(g.Pix)) + 0.5))
	}
	out := &Image{Width: m.Width, Height: m.Height, Channels: m.Channels, Pix: make([]uint8, len(m.Pix))}
	blend(out.Pix, m.Pix, func(int) uint8 { return mean }, factor)
	return out
}

// AdjustSaturation is torchvision's F.adjust_saturation on a PIL image:
// a blend with the image's luma. A grey image is returned unchanged.
func AdjustSaturation(m *Image, factor float64) *Image {
	out := &Image{Width: m.Width, Height: m.Height, Channels: m.Channels, Pix: make([]uint8, len(m.Pix))}
	if m.Channels == 1 {
		copy(out.Pix, m.Pix)
		return out
	}
	g := m.Grayscale()
	blend(out.Pix, m.Pix, func(i int) uint8 { return g.Pix[i/3] }, factor)
	return out
}

// AdjustHue is torchvision's F.adjust_hue on a PIL image: the hue channel
// of PIL's 8-bit HSV is shifted by uint8(factor*255) (truncated toward zero,
// then wrapped, as numpy's uint8 conversion does), with wrap-around.
// factor must be in [-0.5, 0.5]. A grey image is returned unchanged.
func AdjustHue(m *Image, factor float64) (*Image, error) {
	if !(factor >= -0.5 && factor <= 0.5) {
		return nil, fmt.Errorf("data: hue factor %v is not in [-0.5, 0.5]", factor)
	}
	out := &Image{Width: m.Width, Height: m.Height, Channels: m.Channels, Pix: make([]uint8, len(m.Pix))}
	if m.Channels == 1 {
		copy(out.Pix, m.Pix)
		return out, nil
	}
	shift := uint8(int(factor * 255))
	for i := 0; i < len(m.Pix); i += 3 {
		h, s, v := rgbToHSV(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = hsvToRGB(h+shift, s, v)
	}
	return out, nil
}

func clipInt8(v int) uint8 {
	return uint8(min(max(v, 0), 255))
}

// rgbToHSV is PIL's rgb2hsv_row (Convert.c); h, s and the intermediate
// ratios are C floats, the scalings by 6 and 255 C doubles.
func rgbToHSV(r, g, b uint8) (uint8, uint8, uint8) {
	maxc := max(r, g, b)
	minc := min(r, g, b)
	if maxc == minc {
		return 0, 0, maxc
	}
	cr := float32(maxc - minc)
	s := cr / float32(maxc)
	rc := float32(maxc-r) / cr
	gc := float32(maxc-g) / cr
	bc := float32(maxc-b) / cr
	var h float32
	switch {
	case r == maxc:
		h = bc - gc
	case g == maxc:
		h = float32(2.0 + float64(rc) - float64(bc))
	default:
		h = float32(4.0 + float64(gc) - float64(rc))
	}
	h = float32(math.Mod(float64(h)/6.0+1.0, 1.0))
	return clipInt8(int(float64(h) * 255.0)), clipInt8(int(float64(s) * 255.0)), maxc
}

// hsvToRGB is PIL's hsv2rgb (Convert.c).
func hsvToRGB(h, s, v uint8) (uint8, uint8, uint8) {
	if s == 0 {
		return v, v, v
	}
	i := int(math.Floor(float64(float32(h)) * 6.0 / 255.0))
	f := float32(float64(float32(h))*6.0/255.0 - float64(float32(i)))
	fs := float32(float64(float32(s)) / 255.0)
	fv := float64(float32(v))
	p := clipInt8(int(math.Round(fv * (1.0 - float64(fs)))))
	q := clipInt8(int(math.Round(fv * (1.0 - float64(fs*f)))))
	t := clipInt8(int(math.Round(fv * (1.0 - float64(fs)*(1.0-float64(f))))))
	switch i % 6 {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	default:
		return v, p, q
	}
}
