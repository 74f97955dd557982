package data

import (
	"fmt"
	"image"
	"image/color"
)

// Image is an 8-bit image with interleaved channels, rows top to bottom
// (HWC): the form a PIL image has and the form torchvision's PIL transforms
// work on. Channels is 1 (grey, PIL's "L") or 3 (RGB). Image implements
// image.Image.
//
// Datasets may hand out Images that share memory with the dataset, and
// transforms never modify their input: treat an Image you did not make as
// read-only.
type Image struct {
	Width, Height, Channels int
	Pix                     []uint8 // len Height*Width*Channels
}

// NewImage returns a black image.
func NewImage(width, height, channels int) *Image {
	if width < 0 || height < 0 || (channels != 1 && channels != 3) {
		panic(fmt.Sprintf("data: invalid image %dx%dx%d", width, height, channels))
	}
	return &Image{Width: width, Height: height, Channels: channels, Pix: make([]uint8, width*height*channels)}
}

// check reports an Image whose fields disagree (a caller's Image literal).
func (m *Image) check() error {
	if m.Width < 0 || m.Height < 0 || (m.Channels != 1 && m.Channels != 3) || len(m.Pix) != m.Width*m.Height*m.Channels {
		return fmt.Errorf("data: invalid image %dx%dx%d with %d bytes", m.Width, m.Height, m.Channels, len(m.Pix))
	}
	return nil
}

// ColorModel implements image.Image.
func (m *Image) ColorModel() color.Model {
	if m.Channels == 1 {
		return color.GrayModel
	}
	return color.RGBAModel
}

// Bounds implements image.Image.
func (m *Image) Bounds() image.Rectangle { return image.Rect(0, 0, m.Width, m.Height) }

// At implements image.Image.
func (m *Image) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.Width || y >= m.Height {
		if m.Channels == 1 {
			return color.Gray{}
		}
		return color.RGBA{}
	}
	i := (y*m.Width + x) * m.Channels
	if m.Channels == 1 {
		return color.Gray{Y: m.Pix[i]}
	}
	return color.RGBA{R: m.Pix[i], G: m.Pix[i+1], B: m.Pix[i+2], A: 255}
}

// FromImage converts a decoded image to an RGB Image the way PIL's
// Image.convert("RGB") does after PIL's own decoder (torchvision's
// ImageFolder loader does exactly that): alpha is dropped, not composited
// (non-premultiplied colour is kept as it is), grey is replicated, 16-bit
// samples keep their high byte. A *image.YCbCr is taken to come from a JPEG
// file and is converted as libjpeg-turbo does by default (triangle-filter
// "fancy" chroma upsampling and its fixed-point JFIF colour tables), so that
// the pixels equal PIL's up to the two decoders' inverse DCTs. An *Image is
// returned as it is.
func FromImage(m image.Image) *Image {
	switch m := m.(type) {
	case *Image:
		return m
	case *image.YCbCr:
		return jpegYCbCrToRGB(m)
	case *image.Gray:
		return grayToRGB(m)
	}
	b := m.Bounds()
	out := NewImage(b.Dx(), b.Dy(), 3)
	o := 0
	switch m := m.(type) {
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				copy(out.Pix[o:o+3], row[4*x:4*x+3])
				o += 3
			}
		}
	case *image.RGBA:
		// Go's PNG decoder returns opaque truecolour images as RGBA.
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				p := row[4*x : 4*x+4]
				if p[3] == 255 {
					copy(out.Pix[o:o+3], p[:3])
				} else {
					c := nrgbOf(color.RGBA{p[0], p[1], p[2], p[3]})
					copy(out.Pix[o:o+3], c[:])
				}
				o += 3
			}
		}
	case *image.NRGBA64:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = row[8*x], row[8*x+2], row[8*x+4]
				o += 3
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(m.Palette))
		for i, c := range m.Palette {
			pal[i] = nrgbOf(c)
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := 0; x < b.Dx(); x++ {
				var p [3]uint8
				if int(row[x]) < len(pal) {
					p = pal[row[x]]
				}
				copy(out.Pix[o:o+3], p[:])
				o += 3
			}
		}
	case *image.NYCbCrA:
		// Only x/image/webp makes these; decodeImage converts WebP itself.
		return jpegYCbCrToRGB(&m.YCbCr)
	default:
		return genericToRGB(m)
	}
	return out
}

// nrgbOf returns a colour's non-premultiplied 8-bit RGB.
func nrgbOf(c color.Color) [3]uint8 {
	switch c := c.(type) {
	case color.NRGBA:
		return [3]uint8{c.R, c.G, c.B}
	case color.RGBA:
		if c.A == 255 {
			return [3]uint8{c.R, c.G, c.B}
		}
	case color.Gray:
		return [3]uint8{c.Y, c.Y, c.Y}
	}
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return [3]uint8{uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8)}
}

func grayToRGB(m *image.Gray) *Image {
	b := m.Bounds()
	out := NewImage(b.Dx(), b.Dy(), 3)
	o := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			v := row[x]
			out.Pix[o], out.Pix[o+1], out.Pix[o+2] = v, v, v
			o += 3
		}
	}
	return out
}

// Grayscale returns the image converted to one channel as PIL's
// convert("L") does: L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
func (m *Image) Grayscale() *Image {
	if m.Channels == 1 {
		return m
	}
	out := NewImage(m.Width, m.Height, 1)
	for i := range out.Pix {
		p := m.Pix[3*i : 3*i+3]
		out.Pix[i] = luma(p[0], p[1], p[2])
	}
	return out
}

func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// RGB returns the image with three channels (grey replicated).
func (m *Image) RGB() *Image {
	if m.Channels == 3 {
		return m
	}
	out := NewImage(m.Width, m.Height, 3)
	for i, v := range m.Pix {
		out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
	}
	return out
}
