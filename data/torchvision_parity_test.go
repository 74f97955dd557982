package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convnet/convnet/internal/testref"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

// The references come from scripts/torch_refs/data_preprocess.py
// (torchvision 0.14 on PIL 9.4, libjpeg-turbo 2.1, libwebp 1.2).

type parityManifest struct {
	Images []struct {
		File       string `json:"file"`
		Decoded    string `json:"decoded"`
		Resized256 string `json:"resized256"`
		Eval256    string `json:"eval_256_224"`
		Eval342    string `json:"eval_342_299"`
	} `json:"images"`
	Resize []struct {
		Source        string `json:"source"`
		Width, Height int
		File          string `json:"file"`
	} `json:"resize"`
	ResizedCrop []struct {
		Source                   string `json:"source"`
		Top, Left, Height, Width int
		Size                     int
		File                     string `json:"file"`
	} `json:"resized_crop"`
	CenterCrop []struct {
		Source string `json:"source"`
		Size   int
		File   string `json:"file"`
	} `json:"center_crop"`
	JPEGFixtures []struct {
		File    string `json:"file"`
		Decoded string `json:"decoded"`
	} `json:"jpeg_fixtures"`
	Adjust []struct {
		Source string  `json:"source"`
		Op     string  `json:"op"`
		Factor float64 `json:"factor"`
		File   string  `json:"file"`
	} `json:"adjust"`
}

func loadParity(t *testing.T) (string, *parityManifest) {
	t.Helper()
	dir := testref.Dir(t, "data")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m parityManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Images) == 0 {
		t.Fatal("manifest lists no image")
	}
	return dir, &m
}

func loadRef(t *testing.T, dir, name string) *tensor.Tensor {
	t.Helper()
	r, err := weights.LoadNpy(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTorchvisionEvalParity decodes each reference image and runs the
// ImageNet evaluation pipeline. Lossless files and WebP (whose VP8 decoding
// is exactly specified) must give PIL's pixels exactly; JPEG decoders may
// differ by the rounding of their inverse DCTs (Go's is not libjpeg's
// islow), a few levels at most on some pixels.
func TestTorchvisionEvalParity(t *testing.T) {
	dir, m := loadParity(t)
	for _, c := range m.Images {
		t.Run(c.File, func(t *testing.T) {
			img, err := LoadImage(filepath.Join(dir, c.File), 0)
			if err != nil {
				t.Fatal(err)
			}
			jpeg := strings.HasSuffix(c.File, ".jpg")
			maxDecode, maxResize, maxEval := 0, 0, 1e-6
			if jpeg {
				maxDecode, maxResize, maxEval = 4, 3, 0.02
			}
			dDec := pixelDiff(img, loadRef(t, dir, c.Decoded))
			resized, err := Resize{Size: 256}.Apply(Sample{Image: img}, nil)
			if err != nil {
				t.Fatal(err)
			}
			dRes := pixelDiff(resized.Image, loadRef(t, dir, c.Resized256))
			dEval := tensorDiff(ImageNetEval(img, 256, 224), loadRef(t, dir, c.Eval256))
			t.Logf("%s: decoded max diff %d levels, Resize(256) %d levels, eval 256/224 max abs diff %.3g", c.File, dDec, dRes, dEval)
			if dDec < 0 || dDec > maxDecode {
				t.Errorf("decoded pixels differ from PIL's by %d levels (shape mismatch if -1), allowed %d", dDec, maxDecode)
			}
			if dRes < 0 || dRes > maxResize {
				t.Errorf("Resize(256) differs from torchvision's by %d levels (shape mismatch if -1), allowed %d", dRes, maxResize)
			}
			if !(dEval <= maxEval) {
				t.Errorf("eval pipeline max abs diff %.3g, allowed %.3g", dEval, maxEval)
			}
			if c.Eval342 != "" {
				d := tensorDiff(ImageNetEval(img, 342, 299), loadRef(t, dir, c.Eval342))
				t.Logf("%s: eval 342/299 max abs diff %.3g", c.File, d)
				if !(d <= maxEval) {
					t.Errorf("eval 342/299 max abs diff %.3g, allowed %.3g", d, maxEval)
				}
			}
		})
	}
}

// TestTorchvisionTransformParity checks the PIL-side transforms bit for
// bit on PNG sources.
func TestTorchvisionTransformParity(t *testing.T) {
	dir, m := loadParity(t)
	sources := map[string]*Image{}
	source := func(name string) *Image {
		if s, ok := sources[name]; ok {
			return s
		}
		img, err := LoadImage(filepath.Join(dir, name), 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(name, "gray") {
			img = img.Grayscale() // PIL keeps the file's mode L
		}
		sources[name] = img
		return img
	}
	check := func(what string, got *Image, ref string) {
		t.Helper()
		if d := pixelDiff(got, loadRef(t, dir, ref)); d != 0 {
			t.Errorf("%s: differs from torchvision by %d levels (-1: shape)", what, d)
		}
	}
	for _, c := range m.Resize {
		check(c.Source+" resize", ResizeImage(source(c.Source), c.Width, c.Height), c.File)
	}
	for _, c := range m.ResizedCrop {
		src := source(c.Source)
		check(c.Source+" resized_crop", ResizeImage(CropImage(src, c.Top, c.Left, c.Height, c.Width), c.Size, c.Size), c.File)
	}
	for _, c := range m.CenterCrop {
		s, err := CenterCrop{Size: c.Size}.Apply(Sample{Image: source(c.Source)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(c.Source+" CenterCrop", s.Image, c.File)
	}
	for _, c := range m.Adjust {
		src := source(c.Source)
		var got *Image
		switch c.Op {
		case "brightness":
			got = AdjustBrightness(src, c.Factor)
		case "contrast":
			got = AdjustContrast(src, c.Factor)
		case "saturation":
			got = AdjustSaturation(src, c.Factor)
		case "hue":
			var err error
			if got, err = AdjustHue(src, c.Factor); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unknown op %q", c.Op)
		}
		check(c.Source+" adjust_"+c.Op+" "+jsonNum(c.Factor), got, c.File)
	}
	t.Logf("%d resizes, %d resized crops, %d center crops, %d colour adjustments compared", len(m.Resize), len(m.ResizedCrop), len(m.CenterCrop), len(m.Adjust))
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

// TestJPEGDecoderParity decodes the JPEG fixtures (restart intervals,
// progressive scans, 4:4:0, 4:1:1 and 4:1:0 sampling, RGB, 16-bit tables,
// multi-scan sequential) and requires PIL's pixels exactly.
func TestJPEGDecoderParity(t *testing.T) {
	dir, m := loadParity(t)
	if len(m.JPEGFixtures) == 0 {
		t.Fatal("the manifest lists no JPEG fixture: regenerate the references")
	}
	for _, c := range m.JPEGFixtures {
		img, err := LoadImage(filepath.Join(dir, c.File), 0)
		if err != nil {
			t.Errorf("%s: %v", c.File, err)
			continue
		}
		if d := pixelDiff(img, loadRef(t, dir, c.Decoded)); d != 0 {
			t.Errorf("%s: differs from PIL by %d levels (-1: shape)", c.File, d)
		}
	}
}
