package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// MaxImagePixels is the default limit on an image's width times height,
// PIL's Image.MAX_IMAGE_PIXELS (1024*1024*1024/4/3, about a 9459x9459 image,
// or 256 MiB of RGB pixels). Decoders allocate from the header's
// dimensions, so a small file that claims a huge image (a "decompression
// bomb") could exhaust memory; DecodeImage reads the header first and
// refuses an image above the limit before decoding any of it. PIL only warns
// between one and two times its limit; we refuse at once.
const MaxImagePixels = 1024 * 1024 * 1024 / 4 / 3

// recoverDecoderPanics turns a decoder's panic into an error; tests
// switch it off.
var recoverDecoderPanics = true

// ErrImageTooLarge is wrapped by the error for an image whose header
// claims more pixels than the limit.
var ErrImageTooLarge = errors.New("image exceeds the pixel limit")

// The formats DecodeImage understands, recognised by their first bytes (the
// file's name is not trusted).
const (
	formatJPEG = "jpeg"
	formatPNG  = "png"
	formatWebP = "webp"
	formatBMP  = "bmp"
)

type codec struct {
	decode       func(io.Reader) (image.Image, error)
	decodeConfig func(io.Reader) (image.Config, error)
}

var codecs = map[string]codec{
	formatJPEG: {jpeg.Decode, jpeg.DecodeConfig},
	formatPNG:  {png.Decode, png.DecodeConfig},
	formatWebP: {webp.Decode, webp.DecodeConfig},
	formatBMP:  {bmp.Decode, bmp.DecodeConfig},
}

// sniff names the format of an encoded image from its magic bytes.
func sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return formatJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return formatWebP
	case bytes.HasPrefix(b, []byte("BM")):
		return formatBMP
	}
	return ""
}

// DecodeImage decodes a JPEG, PNG, WebP or BMP image held in b to 8-bit RGB,
// with PIL's conversions (see FromImage). The header is read first and an
// image of more than maxPixels pixels (width times height) is refused, with
// an error wrapping ErrImageTooLarge, before any pixel is decoded; maxPixels
// <= 0 means MaxImagePixels. Malformed input gives an error, never a panic.
func DecodeImage(b []byte, maxPixels int) (*Image, error) {
	img, err := decodeImage(b, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return img, nil
}

func decodeImage(b []byte, maxPixels int) (img *Image, err error) {
	format := sniff(b)
	if format == "" {
		return nil, errors.New("unknown image format (not JPEG, PNG, WebP or BMP)")
	}
	if maxPixels <= 0 {
		maxPixels = MaxImagePixels
	}
	defer func() {
		// The decoders are written to return errors, but they are large
		// and fed hostile bytes: a panic in one must not end the program.
		// The fuzz tests switch this off so that panics are found.
		if !recoverDecoderPanics {
			return
		}
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%s decoder failed on malformed input: %v", format, r)
		}
	}()
	c := codecs[format]
	cfg, err := c.decodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%s header: empty image %dx%d", format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return nil, fmt.Errorf("%s image of %dx%d = %d pixels is refused before decoding: %w (limit %d)",
			format, cfg.Width, cfg.Height, px, ErrImageTooLarge, maxPixels)
	}
	if format == formatJPEG {
		img, err := decodeJPEG(b, maxPixels)
		if err == nil {
			if img.Width != cfg.Width || img.Height != cfg.Height {
				return nil, fmt.Errorf("jpeg: decoded size %dx%d differs from the header's %dx%d", img.Width, img.Height, cfg.Width, cfg.Height)
			}
			return img, nil
		}
		if !errors.Is(err, errJPEGCMYK) {
			return nil, err
		}
		// CMYK and YCCK files are rare; Go's decoder reads them.
	}
	m, err := c.decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	if s := m.Bounds().Size(); s.X != cfg.Width || s.Y != cfg.Height {
		return nil, fmt.Errorf("%s: decoded size %dx%d differs from the header's %dx%d", format, s.X, s.Y, cfg.Width, cfg.Height)
	}
	if format == formatWebP {
		return webpToRGB(m), nil
	}
	return FromImage(m), nil
}

// LoadImage reads and decodes the image file at path (see DecodeImage).
// Errors name the file.
func LoadImage(path string, maxPixels int) (*Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	img, err := decodeImage(b, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("data: image %s: %w", path, err)
	}
	return img, nil
}
