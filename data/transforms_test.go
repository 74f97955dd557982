package data

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// coordImage is a w x h RGB image whose pixel (x, y) is (x+1, y+1, 7), so
// that a crop reveals where it came from and padding (zeros) shows.
func coordImage(w, h int) *Image {
	m := NewImage(w, h, 3)
	for y := range h {
		for x := range w {
			i := (y*w + x) * 3
			m.Pix[i], m.Pix[i+1], m.Pix[i+2] = uint8(x+1), uint8(y+1), 7
		}
	}
	return m
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func TestRandomCrop(t *testing.T) {
	src := coordImage(32, 32)
	const pad, size, n = 4, 32, 16200
	counts := map[[2]int]int{}
	r := rng(1)
	for range n {
		s, err := RandomCrop{Size: size, Padding: pad}.Apply(Sample{Image: src}, r)
		if err != nil {
			t.Fatal(err)
		}
		m := s.Image
		if m.Width != size || m.Height != size {
			t.Fatalf("crop %dx%d", m.Width, m.Height)
		}
		// Output (pad, pad) is input (top, left) in padded coordinates
		// minus the padding, always inside the image.
		c := m.Pix[(pad*size+pad)*3:]
		left, top := int(c[0])-1, int(c[1])-1
		if left < 0 || left > 2*pad || top < 0 || top > 2*pad {
			t.Fatalf("offset (%d,%d) outside [0,%d]", top, left, 2*pad)
		}
		counts[[2]int{top, left}]++
		// Every output pixel is either the input pixel it maps to or a
		// zero from the padding.
		for y := range size {
			for x := range size {
				sy, sx := y+top-pad, x+left-pad
				p := m.Pix[(y*size+x)*3:]
				inside := sy >= 0 && sy < 32 && sx >= 0 && sx < 32
				if inside && (int(p[0]) != sx+1 || int(p[1]) != sy+1) || !inside && (p[0]|p[1]|p[2]) != 0 {
					t.Fatalf("offset (%d,%d): output (%d,%d) = %v", top, left, y, x, p[:3])
				}
			}
		}
	}
	// 81 positions, each about n/81 = 200 times (sd ~14).
	if len(counts) != 81 {
		t.Fatalf("%d distinct offsets, want 81", len(counts))
	}
	for k, c := range counts {
		if c < 140 || c > 260 {
			t.Errorf("offset %v drawn %d times of %d, expected about 200", k, c, n)
		}
	}

	// The tensor form crops the same window as the image form.
	a, _ := RandomCrop{Size: 20, Padding: 3}.Apply(Sample{Image: src}, rng(9))
	b, _ := RandomCrop{Size: 20, Padding: 3}.Apply(Sample{Tensor: ImageToTensor(src)}, rng(9))
	if d := tensorDiff(ImageToTensor(a.Image), b.Tensor); d != 0 {
		t.Errorf("tensor crop differs from image crop by %g", d)
	}
	if _, err := (RandomCrop{Size: 41}).Apply(Sample{Image: src}, rng(1)); err == nil {
		t.Error("crop larger than the image did not fail")
	}
}

func TestRandomHorizontalFlip(t *testing.T) {
	src := coordImage(5, 3)
	for _, p := range []float64{0, 0.2, 1} {
		const n = 10000
		flips := 0
		r := rng(2)
		for range n {
			s, err := RandomHorizontalFlip{P: p}.Apply(Sample{Image: src}, r)
			if err != nil {
				t.Fatal(err)
			}
			switch s.Image.Pix[0] {
			case 5:
				flips++
				for y := range 3 {
					for x := range 5 {
						if int(s.Image.Pix[(y*5+x)*3]) != 5-x || int(s.Image.Pix[(y*5+x)*3+1]) != y+1 {
							t.Fatalf("flip is not a mirror: %v", s.Image.Pix)
						}
					}
				}
			case 1:
			default:
				t.Fatalf("pixel 0 = %d", s.Image.Pix[0])
			}
		}
		want := p
		if p == 0 {
			want = 0.5 // torchvision's default
		}
		sd := math.Sqrt(n * want * (1 - want))
		if math.Abs(float64(flips)-n*want) > 4*sd+0.5 {
			t.Errorf("P=%v: %d flips of %d", p, flips, n)
		}
	}
	a := HorizontalFlip(Sample{Image: src})
	b := HorizontalFlip(Sample{Tensor: ImageToTensor(src)})
	if d := tensorDiff(ImageToTensor(a.Image), b.Tensor); d != 0 {
		t.Errorf("tensor flip differs from image flip by %g", d)
	}
}

// TestRandomTransformsDeterministic: the same generator state gives the
// same output, a different one (almost surely) a different output.
func TestRandomTransformsDeterministic(t *testing.T) {
	src := Sample{Image: coordImage(60, 45)}
	for _, tr := range []Transform{
		RandomCrop{Size: 32, Padding: 4},
		RandomHorizontalFlip{},
		RandomResizedCrop{Size: 24},
		ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1},
		ImageNetTrainTransform(24),
	} {
		out := func(seed uint64) *tensor.Tensor {
			full := Compose{tr, ToTensor{}}
			if _, ok := tr.(Compose); ok {
				full = Compose{tr} // ends with ToTensor already
			}
			s, err := full.Apply(src, rng(seed))
			if err != nil {
				t.Fatal(err)
			}
			return s.Tensor
		}
		if tensorDiff(out(5), out(5)) != 0 {
			t.Errorf("%T: same seed, different output", tr)
		}
		differs := false
		for seed := uint64(6); seed < 12 && !differs; seed++ {
			differs = tensorDiff(out(5), out(seed)) != 0
		}
		if !differs {
			t.Errorf("%T: output does not depend on the generator", tr)
		}
	}
}

func TestRandomResizedCrop(t *testing.T) {
	rrc := RandomResizedCrop{Size: 17}
	for _, c := range []struct{ w, h int }{{100, 80}, {37, 50}, {500, 375}, {1000, 10}, {10, 1000}, {1, 1}, {3, 200}} {
		r := rng(uint64(c.w*1000 + c.h))
		fallbacks := 0
		for range 2000 {
			top, left, h, w := rrc.Params(c.h, c.w, r)
			if top < 0 || left < 0 || h <= 0 || w <= 0 || top+h > c.h || left+w > c.w {
				t.Fatalf("%dx%d: window (%d,%d) %dx%d outside the image", c.w, c.h, top, left, w, h)
			}
			area := float64(c.w * c.h)
			ratio := float64(w) / float64(h)
			// Rounding w and h to integers moves area and ratio a little.
			tol := 1/float64(w) + 1/float64(h) + 1e-9
			inArea := float64(w*h) >= 0.08*area*(1-tol)*(1-tol) && float64(w*h) <= area
			inRatio := ratio >= 3.0/4*(1-tol) && ratio <= 4.0/3*(1+tol)
			if !inArea || !inRatio {
				// Only the fallback may leave the ranges: a centred crop
				// of the whole image clamped to the ratio range.
				fallbacks++
				if !(h == c.h || w == c.w) || top != (c.h-h)/2 || left != (c.w-w)/2 {
					t.Fatalf("%dx%d: window (%d,%d) %dx%d: area %.3f of the image, ratio %.3f, and not the fallback",
						c.w, c.h, top, left, w, h, float64(w*h)/area, ratio)
				}
			}
		}
		t.Logf("%dx%d: %d fallbacks in 2000", c.w, c.h, fallbacks)
		s, err := rrc.Apply(Sample{Image: coordImage(c.w, c.h)}, r)
		if err != nil {
			t.Fatal(err)
		}
		if s.Image.Width != 17 || s.Image.Height != 17 {
			t.Errorf("%dx%d: output %dx%d", c.w, c.h, s.Image.Width, s.Image.Height)
		}
	}
	// torchvision's fallback for a very wide image: full height, width
	// round(h * 4/3), centred.
	r := rand.New(rand.NewPCG(1, 1))
	if top, left, h, w := rrc.Params(10, 1000, r); top != 0 || h != 10 || w != 13 || left != (1000-13)/2 {
		t.Errorf("fallback for 1000x10: (%d,%d) %dx%d", top, left, w, h)
	}
	if _, err := (RandomResizedCrop{Size: 8}).Apply(Sample{Tensor: tensor.New(3, 8, 8)}, r); err == nil || !strings.Contains(err.Error(), "before ToTensor") {
		t.Errorf("RandomResizedCrop on a tensor: %v", err)
	}
}

func TestCenterCrop(t *testing.T) {
	for _, c := range []struct {
		w, h, size int
		top, left  int // source of output (0,0); negative inside the padding
	}{
		{241, 200, 124, 38, 58}, // (241-124)/2 = 58.5 rounds to even: 58
		{243, 201, 124, 38, 60}, // 59.5 rounds to 60, 38.5 to 38
		{124, 124, 124, 0, 0},
		{5, 9, 8, -0, -1}, // width padded by 1 before, 2 after; height offset round(0.5)=0
		{7, 3, 4, -0, 2},
	} {
		for _, asTensor := range []bool{false, true} {
			s := Sample{Image: coordImage(c.w, c.h)}
			if asTensor {
				s = Sample{Tensor: ImageToTensor(s.Image)}
			}
			out, err := CenterCrop{Size: c.size}.Apply(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := out.Tensor
			if m == nil {
				m = ImageToTensor(out.Image)
			}
			if !tensor.SameShape(m.Shape, []int{3, c.size, c.size}) {
				t.Fatalf("shape %v", m.Shape)
			}
			// Find where output pixel (y, x) came from.
			for y := range c.size {
				for x := range c.size {
					sy, sx := y+c.top, x+c.left
					inside := sy >= 0 && sy < c.h && sx >= 0 && sx < c.w
					got := [2]float32{m.Data[y*c.size+x] * 255, m.Data[c.size*c.size+y*c.size+x] * 255}
					want := [2]float32{}
					if inside {
						want = [2]float32{float32(sx + 1), float32(sy + 1)}
					}
					if math.Abs(float64(got[0]-want[0])) > 1e-3 || math.Abs(float64(got[1]-want[1])) > 1e-3 {
						t.Fatalf("%dx%d crop %d (tensor %v): output (%d,%d) = %v, want %v", c.w, c.h, c.size, asTensor, y, x, got, want)
					}
				}
			}
		}
	}
}

func TestToTensorNormalize(t *testing.T) {
	m := &Image{Width: 2, Height: 1, Channels: 3, Pix: []uint8{0, 128, 255, 10, 20, 30}}
	s, err := Compose{ToTensor{}, Normalize{Mean: []float32{0.5, 0, 1}, Std: []float32{0.5, 2, 1}}}.Apply(Sample{Image: m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{
		(0/255.0 - 0.5) / 0.5, (10/255.0 - 0.5) / 0.5,
		(128 / 255.0) / 2, (20 / 255.0) / 2,
		255/255.0 - 1, 30/255.0 - 1,
	}
	if !tensor.SameShape(s.Tensor.Shape, []int{3, 1, 2}) {
		t.Fatalf("shape %v", s.Tensor.Shape)
	}
	for i, w := range want {
		if math.Abs(float64(s.Tensor.Data[i]-w)) > 1e-6 {
			t.Errorf("element %d = %v, want %v", i, s.Tensor.Data[i], w)
		}
	}
	for _, c := range []struct {
		tr    Transform
		s     Sample
		error string
	}{
		{Normalize{Mean: []float32{0, 0}, Std: []float32{1, 1}}, Sample{Tensor: tensor.New(3, 2, 2)}, "2 means"},
		{Normalize{Mean: []float32{0}, Std: []float32{0}}, Sample{Tensor: tensor.New(1, 2, 2)}, "zero"},
		{Normalize{Mean: []float32{0}, Std: []float32{1}}, Sample{Image: m}, "ToTensor before"},
		{ToTensor{}, Sample{Tensor: tensor.New(1, 2, 2)}, "before ToTensor"},
		{Resize{Size: 4}, Sample{Tensor: tensor.New(1, 2, 2)}, "before ToTensor"},
		{CenterCrop{Size: 2}, Sample{Tensor: tensor.New(2, 2)}, "[C,H,W]"},
		{ColorJitter{Hue: 0.7}, Sample{Image: m}, "invalid ColorJitter"},
		{RandomCrop{Size: 2}, Sample{Image: &Image{Width: 3, Height: 3, Channels: 3, Pix: make([]uint8, 5)}}, "invalid image"},
	} {
		if _, err := c.tr.Apply(c.s, rng(1)); err == nil || !strings.Contains(err.Error(), c.error) {
			t.Errorf("%T: error %v, want one containing %q", c.tr, err, c.error)
		}
	}
}

func TestResizedSize(t *testing.T) {
	for _, c := range []struct{ w, h, size, ow, oh int }{
		{500, 375, 256, 341, 256},
		{333, 517, 256, 256, 397},
		{37, 50, 256, 256, 345},
		{256, 256, 256, 256, 256},
		{1000, 10, 32, 3200, 32},
	} {
		if ow, oh := resizedSize(c.w, c.h, c.size); ow != c.ow || oh != c.oh {
			t.Errorf("%dx%d to %d: %dx%d, want %dx%d", c.w, c.h, c.size, ow, oh, c.ow, c.oh)
		}
	}
}

// TestResizeImageReference checks the fast two-pass resize against a
// plain transcription of PIL's algorithm: per output pixel, float64
// weights, fixed-point rounding, on odd sizes in both directions.
func TestResizeImageReference(t *testing.T) {
	r := rng(3)
	for _, c := range []struct{ w, h, ow, oh, ch int }{
		{7, 5, 3, 2, 3}, {7, 5, 13, 11, 1}, {31, 1, 7, 1, 3}, {1, 31, 1, 129, 3}, {129, 7, 31, 7, 3}, {5, 129, 5, 30, 1}, {1, 1, 9, 9, 3},
	} {
		m := NewImage(c.w, c.h, c.ch)
		for i := range m.Pix {
			m.Pix[i] = uint8(r.IntN(256))
		}
		got := ResizeImage(m, c.ow, c.oh)
		want := resizeReference(m, c.ow, c.oh)
		for i := range want.Pix {
			if got.Pix[i] != want.Pix[i] {
				t.Fatalf("%dx%d -> %dx%d: byte %d = %d, want %d", c.w, c.h, c.ow, c.oh, i, got.Pix[i], want.Pix[i])
			}
		}
	}
}

// resizeReference is PIL's Resample.c written out plainly: horizontal
// pass over every row, then vertical, each output sample from its own
// weights.
func resizeReference(m *Image, ow, oh int) *Image {
	pass := func(in []uint8, inLen, outLen, stride, count int, at func(k, i int) int) []uint8 {
		_ = stride
		out := make([]uint8, outLen*count)
		scale := float64(inLen) / float64(outLen)
		fs := math.Max(scale, 1)
		for o := range outLen {
			center := (float64(o) + 0.5) * scale
			lo := max(int(center-fs+0.5), 0)
			hi := min(int(center+fs+0.5), inLen)
			var w []float64
			sum := 0.0
			for x := lo; x < hi; x++ {
				v := math.Max(0, 1-math.Abs((float64(x)-center+0.5)/fs))
				w = append(w, v)
				sum += v
			}
			for k := range count {
				acc := int32(1 << 21)
				for j, v := range w {
					acc += int32(in[at(k, lo+j)]) * int32(math.Floor(v/sum*(1<<22)+0.5))
				}
				out[k*outLen+o] = pilClip8(acc)
			}
		}
		return out
	}
	C := m.Channels
	cur, w, h := m.Pix, m.Width, m.Height
	if ow != w {
		// rows*channels sequences along x; result laid out [row*C+c][x]
		t := pass(cur, w, ow, 0, h*C, func(k, i int) int { return ((k/C)*w+i)*C + k%C })
		next := make([]uint8, ow*h*C)
		for k := range h * C {
			for x := range ow {
				next[((k/C)*ow+x)*C+k%C] = t[k*ow+x]
			}
		}
		cur, w = next, ow
	}
	if oh != h {
		t := pass(cur, h, oh, 0, w*C, func(k, i int) int { return (i*w+k/C)*C + k%C })
		next := make([]uint8, ow*oh*C)
		for k := range w * C {
			for y := range oh {
				next[(y*w+k/C)*C+k%C] = t[k*oh+y]
			}
		}
		cur = next
	}
	return &Image{Width: ow, Height: oh, Channels: C, Pix: cur}
}
