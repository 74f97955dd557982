package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/convnet/convnet/tensor"
)

// Transform maps a sample to a new one, like a torchvision transform.
// Random transforms draw only from rng, which is the sample's own generator
// (see Loader); deterministic ones ignore it. A transform never modifies
// its input.
//
// The transforms are plain structs named after torchvision's classes, with
// torchvision's defaults where a field is left zero. Those that torchvision
// applies to PIL images and that resample or round (Resize,
// RandomResizedCrop, ColorJitter) take the 8-bit Image and must come before
// ToTensor; crops and flips take either form; Normalize takes the Tensor.
type Transform interface {
	Apply(s Sample, rng *rand.Rand) (Sample, error)
}

// TransformFunc adapts a function to a Transform.
type TransformFunc func(s Sample, rng *rand.Rand) (Sample, error)

// Apply calls f.
func (f TransformFunc) Apply(s Sample, rng *rand.Rand) (Sample, error) { return f(s, rng) }

// Compose applies transforms in order, like transforms.Compose.
type Compose []Transform

// Apply implements Transform.
func (c Compose) Apply(s Sample, rng *rand.Rand) (Sample, error) {
	var err error
	for _, t := range c {
		if s, err = t.Apply(s, rng); err != nil {
			return Sample{}, err
		}
	}
	return s, nil
}

var errNoImage = errors.New("needs the 8-bit image: put it before ToTensor")

// needImage returns the sample's 8-bit image or an error naming the
// transform.
func needImage(s Sample, name string) (*Image, error) {
	if s.Image == nil {
		return nil, fmt.Errorf("data: %s %w", name, errNoImage)
	}
	if err := s.Image.check(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	return s.Image, nil
}

// chw returns the [C,H,W] dimensions of a sample's tensor.
func chw(s Sample, name string) (c, h, w int, err error) {
	t := s.Tensor
	if t == nil {
		return 0, 0, 0, fmt.Errorf("data: %s: sample has neither image nor tensor", name)
	}
	if len(t.Shape) != 3 || len(t.Data) != tensor.Numel(t.Shape) {
		return 0, 0, 0, fmt.Errorf("data: %s needs a [C,H,W] tensor, got shape %v", name, t.Shape)
	}
	return t.Shape[0], t.Shape[1], t.Shape[2], nil
}

// size returns a sample's height and width, whatever its form.
func size(s Sample, name string) (h, w int, err error) {
	if s.Image != nil {
		if err := s.Image.check(); err != nil {
			return 0, 0, fmt.Errorf("data: %s: %w", name, err)
		}
		return s.Image.Height, s.Image.Width, nil
	}
	_, h, w, err = chw(s, name)
	return h, w, err
}

// crop cuts the h x w window at (top, left) out of either form; the window
// may reach outside the image, where it reads zeros (PIL's crop and
// torchvision's tensor crop both do).
func crop(s Sample, top, left, h, w int) Sample {
	if m := s.Image; m != nil {
		s.Image = CropImage(m, top, left, h, w)
		return s
	}
	t := s.Tensor
	C, H, W := t.Shape[0], t.Shape[1], t.Shape[2]
	out := tensor.New(C, h, w)
	x0, x1 := max(left, 0), min(left+w, W)
	for c := range C {
		for y := max(top, 0); y < min(top+h, H); y++ {
			if x0 < x1 {
				copy(out.Data[(c*h+y-top)*w+x0-left:], t.Data[(c*H+y)*W+x0:(c*H+y)*W+x1])
			}
		}
	}
	s.Tensor = out
	return s
}

// CropImage returns the h x w window of m whose top-left corner is at
// (top, left), reading zeros outside m, as PIL's Image.crop does.
func CropImage(m *Image, top, left, h, w int) *Image {
	C := m.Channels
	out := NewImage(w, h, C)
	x0, x1 := max(left, 0), min(left+w, m.Width)
	if x0 >= x1 {
		return out
	}
	for y := max(top, 0); y < min(top+h, m.Height); y++ {
		copy(out.Pix[((y-top)*w+x0-left)*C:], m.Pix[(y*m.Width+x0)*C:(y*m.Width+x1)*C])
	}
	return out
}

// ToTensor converts the 8-bit HWC image to a float32 [C,H,W] tensor in
// [0,1] (value/255 in float32, as torchvision does).
type ToTensor struct{}

// Apply implements Transform.
func (ToTensor) Apply(s Sample, _ *rand.Rand) (Sample, error) {
	m, err := needImage(s, "ToTensor")
	if err != nil {
		return Sample{}, err
	}
	s.Tensor = ImageToTensor(m)
	s.Image = nil
	return s, nil
}

// ImageToTensor is ToTensor on an Image.
func ImageToTensor(m *Image) *tensor.Tensor {
	C, HW := m.Channels, m.Width*m.Height
	t := tensor.New(C, m.Height, m.Width)
	for c := range C {
		dst := t.Data[c*HW : (c+1)*HW]
		for i := range dst {
			dst[i] = float32(m.Pix[i*C+c]) / 255
		}
	}
	return t
}

// Normalize subtracts a per-channel mean and divides by a per-channel
// standard deviation, in float32, as transforms.Normalize does. Mean and Std
// have one value per channel, or one value for all.
type Normalize struct {
	Mean, Std []float32
}

// ImageNet's channel statistics, used by every torchvision classifier.
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// Apply implements Transform.
func (n Normalize) Apply(s Sample, _ *rand.Rand) (Sample, error) {
	if s.Tensor == nil {
		return Sample{}, errors.New("data: Normalize needs a tensor: put ToTensor before it")
	}
	C, H, W, err := chw(s, "Normalize")
	if err != nil {
		return Sample{}, err
	}
	at := func(v []float32, c int) (float32, error) {
		switch len(v) {
		case 1:
			return v[0], nil
		case C:
			return v[c], nil
		}
		return 0, fmt.Errorf("data: Normalize has %d means and %d stds for %d channels", len(n.Mean), len(n.Std), C)
	}
	out := tensor.New(C, H, W)
	for c := range C {
		m, err := at(n.Mean, c)
		if err != nil {
			return Sample{}, err
		}
		sd, err := at(n.Std, c)
		if err != nil {
			return Sample{}, err
		}
		if sd == 0 {
			return Sample{}, fmt.Errorf("data: Normalize: std of channel %d is zero", c)
		}
		src := s.Tensor.Data[c*H*W : (c+1)*H*W]
		dst := out.Data[c*H*W : (c+1)*H*W]
		for i, v := range src {
			dst[i] = (v - m) / sd
		}
	}
	s.Tensor = out
	return s, nil
}

// RandomCrop pads the image with Padding zeros on every side, then cuts a
// Size x Size window at a uniformly random position, as
// transforms.RandomCrop(size, padding) does.
type RandomCrop struct {
	Size, Padding int
}

// Apply implements Transform.
func (r RandomCrop) Apply(s Sample, rng *rand.Rand) (Sample, error) {
	h, w, err := size(s, "RandomCrop")
	if err != nil {
		return Sample{}, err
	}
	if r.Size <= 0 || r.Padding < 0 {
		return Sample{}, fmt.Errorf("data: RandomCrop with size %d and padding %d", r.Size, r.Padding)
	}
	h, w = h+2*r.Padding, w+2*r.Padding
	if h < r.Size || w < r.Size {
		return Sample{}, fmt.Errorf("data: RandomCrop: crop size %d is larger than the padded input %dx%d", r.Size, w, h)
	}
	top, left := 0, 0
	if h != r.Size || w != r.Size { // torchvision draws nothing for a full-size crop
		top = rng.IntN(h - r.Size + 1)
		left = rng.IntN(w - r.Size + 1)
	}
	return crop(s, top-r.Padding, left-r.Padding, r.Size, r.Size), nil
}

// RandomHorizontalFlip mirrors the image left to right with probability P;
// zero P means torchvision's default, 0.5.
type RandomHorizontalFlip struct {
	P float64
}

// Apply implements Transform.
func (f RandomHorizontalFlip) Apply(s Sample, rng *rand.Rand) (Sample, error) {
	p := f.P
	if p == 0 {
		p = 0.5
	}
	if _, _, err := size(s, "RandomHorizontalFlip"); err != nil {
		return Sample{}, err
	}
	if rng.Float64() < p {
		return HorizontalFlip(s), nil
	}
	return s, nil
}

// HorizontalFlip mirrors a sample's pixels left to right.
func HorizontalFlip(s Sample) Sample {
	if m := s.Image; m != nil {
		C, W := m.Channels, m.Width
		out := NewImage(W, m.Height, C)
		for y := range m.Height {
			src := m.Pix[y*W*C : (y+1)*W*C]
			dst := out.Pix[y*W*C : (y+1)*W*C]
			for x := range W {
				copy(dst[(W-1-x)*C:(W-x)*C], src[x*C:(x+1)*C])
			}
		}
		s.Image = out
		return s
	}
	t := s.Tensor
	W := t.Shape[len(t.Shape)-1]
	out := &tensor.Tensor{Shape: append([]int(nil), t.Shape...), Data: make([]float32, len(t.Data))}
	for r := 0; r < len(t.Data); r += W {
		src, dst := t.Data[r:r+W], out.Data[r:r+W]
		for x, v := range src {
			dst[W-1-x] = v
		}
	}
	s.Tensor = out
	return s
}

// CenterCrop cuts the central Size x Size window, as
// transforms.CenterCrop(size) does: offsets are round((H-size)/2) with
// Python's round-half-to-even, and an image smaller than the crop is first
// padded with zeros ((size-H)/2 above and left, the rest below and right).
type CenterCrop struct {
	Size int
}

// Apply implements Transform.
func (c CenterCrop) Apply(s Sample, _ *rand.Rand) (Sample, error) {
	h, w, err := size(s, "CenterCrop")
	if err != nil {
		return Sample{}, err
	}
	if c.Size <= 0 {
		return Sample{}, fmt.Errorf("data: CenterCrop of size %d", c.Size)
	}
	top, left := centerOffset(h, c.Size), centerOffset(w, c.Size)
	if top == 0 && left == 0 && h == c.Size && w == c.Size {
		return s, nil
	}
	return crop(s, top, left, c.Size, c.Size), nil
}

// centerOffset is where torchvision's center_crop starts along one axis of
// length n, negative when it pads.
func centerOffset(n, size int) int {
	if size > n {
		// pad (size-n)//2 before; then the padded axis equals size
		// (or is one larger, and round() of 0.5 is 0).
		return -((size - n) / 2)
	}
	return int(math.RoundToEven(float64(n-size) / 2))
}

// Resize scales the image so that its shorter side is Size, the longer
// side int(Size*long/short), with PIL's antialiased bilinear filter, as
// transforms.Resize(size) does to a PIL image.
type Resize struct {
	Size int
}

// Apply implements Transform.
func (r Resize) Apply(s Sample, _ *rand.Rand) (Sample, error) {
	m, err := needImage(s, "Resize")
	if err != nil {
		return Sample{}, err
	}
	if r.Size <= 0 {
		return Sample{}, fmt.Errorf("data: Resize to %d", r.Size)
	}
	if m.Width == 0 || m.Height == 0 {
		return Sample{}, fmt.Errorf("data: Resize of an empty %dx%d image", m.Width, m.Height)
	}
	w, h := resizedSize(m.Width, m.Height, r.Size)
	s.Image = ResizeImage(m, w, h)
	return s, nil
}

// resizedSize is torchvision's output size for Resize(size) with an int size.
func resizedSize(w, h, size int) (int, int) {
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	newLong := int(float64(size*long) / float64(short))
	if w <= h {
		return size, newLong
	}
	return newLong, size
}

// RandomResizedCrop cuts a random window of the image, of area a random
// fraction Scale of the image's and aspect ratio (width/height) in Ratio
// (drawn log-uniformly), and resizes it to Size x Size with PIL's bilinear
// filter. Zero Scale and Ratio mean torchvision's defaults, (0.08, 1) and
// (3/4, 4/3). The window is found as torchvision does: ten attempts, then a
// centred crop of the whole image clamped to the ratio range.
type RandomResizedCrop struct {
	Size         int
	Scale, Ratio [2]float64
}

func (r RandomResizedCrop) ranges() (scale, ratio [2]float64) {
	scale, ratio = r.Scale, r.Ratio
	if scale == ([2]float64{}) {
		scale = [2]float64{0.08, 1}
	}
	if ratio == ([2]float64{}) {
		ratio = [2]float64{3.0 / 4, 4.0 / 3}
	}
	return scale, ratio
}

// Params returns the window (top, left, height, width) for an image of
// height x width; it is torchvision's RandomResizedCrop.get_params.
func (r RandomResizedCrop) Params(height, width int, rng *rand.Rand) (top, left, h, w int) {
	scale, ratio := r.ranges()
	area := float64(height * width)
	logR0, logR1 := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * (scale[0] + (scale[1]-scale[0])*rng.Float64())
		aspect := math.Exp(logR0 + (logR1-logR0)*rng.Float64())
		w := int(math.RoundToEven(math.Sqrt(target * aspect)))
		h := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if 0 < w && w <= width && 0 < h && h <= height {
			top := rng.IntN(height - h + 1)
			left := rng.IntN(width - w + 1)
			return top, left, h, w
		}
	}
	inRatio := float64(width) / float64(height)
	lo, hi := min(ratio[0], ratio[1]), max(ratio[0], ratio[1])
	switch {
	case inRatio < lo:
		w = width
		h = int(math.RoundToEven(float64(w) / lo))
	case inRatio > hi:
		h = height
		w = int(math.RoundToEven(float64(h) * hi))
	default:
		w, h = width, height
	}
	return (height - h) / 2, (width - w) / 2, h, w
}

// Apply implements Transform.
func (r RandomResizedCrop) Apply(s Sample, rng *rand.Rand) (Sample, error) {
	m, err := needImage(s, "RandomResizedCrop")
	if err != nil {
		return Sample{}, err
	}
	scale, ratio := r.ranges()
	if r.Size <= 0 || !(scale[0] > 0 && scale[0] <= scale[1]) || !(ratio[0] > 0 && ratio[0] <= ratio[1]) {
		return Sample{}, fmt.Errorf("data: RandomResizedCrop with size %d, scale %v, ratio %v", r.Size, scale, ratio)
	}
	if m.Width == 0 || m.Height == 0 {
		return Sample{}, fmt.Errorf("data: RandomResizedCrop of an empty %dx%d image", m.Width, m.Height)
	}
	top, left, h, w := r.Params(m.Height, m.Width, rng)
	s.Image = ResizeImage(CropImage(m, top, left, h, w), r.Size, r.Size)
	return s, nil
}

// ColorJitter changes brightness, contrast, saturation and hue by random
// factors, in a random order, as transforms.ColorJitter does to a PIL
// image. Brightness b gives a factor uniform in [max(0, 1-b), 1+b], and
// so do Contrast and Saturation; Hue h (at most 0.5) a shift uniform in
// [-h, h]. A zero field leaves that property alone.
type ColorJitter struct {
	Brightness, Contrast, Saturation, Hue float64
}

// Apply implements Transform.
func (j ColorJitter) Apply(s Sample, rng *rand.Rand) (Sample, error) {
	m, err := needImage(s, "ColorJitter")
	if err != nil {
		return Sample{}, err
	}
	if j.Brightness < 0 || j.Contrast < 0 || j.Saturation < 0 || j.Hue < 0 || j.Hue > 0.5 {
		return Sample{}, fmt.Errorf("data: invalid ColorJitter %+v", j)
	}
	// torchvision draws the order, then every factor, then applies them.
	order := rng.Perm(4)
	factor := func(v float64) float64 {
		lo := max(0, 1-v)
		return lo + (1+v-lo)*rng.Float64()
	}
	var f [4]float64
	if j.Brightness > 0 {
		f[0] = factor(j.Brightness)
	}
	if j.Contrast > 0 {
		f[1] = factor(j.Contrast)
	}
	if j.Saturation > 0 {
		f[2] = factor(j.Saturation)
	}
	if j.Hue > 0 {
		f[3] = -j.Hue + 2*j.Hue*rng.Float64()
	}
	for _, k := range order {
		switch {
		case k == 0 && j.Brightness > 0:
			m = AdjustBrightness(m, f[0])
		case k == 1 && j.Contrast > 0:
			m = AdjustContrast(m, f[1])
		case k == 2 && j.Saturation > 0:
			m = AdjustSaturation(m, f[2])
		case k == 3 && j.Hue > 0:
			if m, err = AdjustHue(m, f[3]); err != nil {
				return Sample{}, err
			}
		}
	}
	s.Image = m
	return s, nil
}
