package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convnet/convnet/data"
	"github.com/convnet/convnet/internal/imagenet"
	"github.com/convnet/convnet/internal/testref"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

// The tests of run, predict and eval. Most use the real ImageNet weights of
// squeezenet1_1 in shared/pretrained beside the repository; those of run
// also use the zoo's PyTorch references (scripts/make_refs.sh).

// pretrained returns the path of the real squeezenet1_1 weights; without
// them the test fails under CI and is skipped otherwise.
func pretrained(t *testing.T) string {
	t.Helper()
	root, err := testref.Root()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "..", "shared", "pretrained", "squeezenet1_1.pth")
	if _, err := os.Stat(p); err != nil {
		testref.Missing(t, fmt.Sprintf("the real squeezenet1_1 weights %s are missing (shared/ beside the clone)", p))
	}
	return p
}

// randomNpy writes a seeded normal batch of the given shape.
func randomNpy(t *testing.T, path string, seed uint64, shape ...int) *tensor.Tensor {
	t.Helper()
	x := tensor.Randn(rand.New(rand.NewPCG(seed, 1)), shape...)
	if err := weights.SaveNpy(path, x); err != nil {
		t.Fatal(err)
	}
	return x
}

func loadNpy(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	x, err := weights.LoadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// maxRelErr is max|got - want| / max|want|.
func maxRelErr(got, want []float32) float64 {
	var e, s float64
	for i := range want {
		e = max(e, math.Abs(float64(got[i])-float64(want[i])))
		s = max(s, math.Abs(float64(want[i])))
	}
	return e / s
}

// TestRunMatchesTorch runs checkpoints torch.save wrote through the CLI and
// compares the NPY it writes with torchvision's logits, in eval mode and
// (resnet18) in train mode.
func TestRunMatchesTorch(t *testing.T) {
	dir := testref.Dir(t, "zoo_parity")
	for _, c := range []struct {
		model, ref string
		train      bool
	}{
		{"squeezenet1_1", "squeezenet1_1_logits.npy", false},
		{"mobilenet_v2", "mobilenet_v2_logits.npy", false},
		{"resnet18", "resnet18_logits.npy", false},
		{"resnet18", "resnet18_train_logits.npy", true},
	} {
		t.Run(fmt.Sprintf("%s/train=%v", c.model, c.train), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "y.npy")
			args := []string{"run", c.model, "--weights", filepath.Join(dir, c.model+".pth"),
				"--in", filepath.Join(dir, c.model+"_input.npy"), "--out", out}
			if c.train {
				args = append(args, "--train-mode")
			}
			stdout, _, err := run(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout, "[2, 1000]") {
				t.Errorf("stdout %q does not give the output shape", stdout)
			}
			got, want := loadNpy(t, out), loadNpy(t, filepath.Join(dir, c.ref))
			if !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("output shape %v, torch's %v", got.Shape, want.Shape)
			}
			if e := maxRelErr(got.Data, want.Data); e > 1e-4 {
				t.Errorf("logits differ from torchvision's by %.3g of their scale", e)
			}
		})
	}
}

// TestRunRealWeights runs the real squeezenet1_1 on batches of several sizes
// and resolutions: each sample's logits must not depend on the batch it is
// in, and the checkpoint's safetensors copy must give the same numbers.
func TestRunRealWeights(t *testing.T) {
	w := pretrained(t)
	tmp := t.TempDir()
	st := filepath.Join(tmp, "squeezenet1_1.safetensors")
	sd, err := weights.LoadPth(w)
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.SaveSafetensors(st, sd, nil); err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{3, 3, 224, 224}, {2, 3, 193, 257}} {
		in := filepath.Join(tmp, "x.npy")
		x := randomNpy(t, in, uint64(shape[2]), shape...)
		out := filepath.Join(tmp, "y.npy")
		if _, _, err := run(t, "run", "squeezenet1_1", "--weights", w, "--in", in, "--out", out); err != nil {
			t.Fatal(err)
		}
		y := loadNpy(t, out)
		if !slices.Equal(y.Shape, []int{shape[0], 1000}) {
			t.Fatalf("input %v gave logits of shape %v", shape, y.Shape)
		}
		for _, v := range y.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite logit %v", v)
			}
		}
		// The last sample alone.
		per := tensor.Numel(shape[1:])
		one := &tensor.Tensor{Shape: append([]int{1}, shape[1:]...), Data: x.Data[(shape[0]-1)*per:]}
		if err := weights.SaveNpy(in, one); err != nil {
			t.Fatal(err)
		}
		if _, _, err := run(t, "run", "squeezenet1_1", "--weights", st, "--in", in, "--out", out); err != nil {
			t.Fatal(err)
		}
		y1 := loadNpy(t, out)
		if e := maxRelErr(y1.Data, y.Data[(shape[0]-1)*1000:]); e > 1e-5 {
			t.Errorf("input %v: the last sample's logits alone (from safetensors) differ by %.3g of their scale", shape, e)
		}
	}
}

// TestRunInfersNumClasses loads a checkpoint with a 10-class classifier:
// the model takes its size from the checkpoint, and --num-classes 1000
// names the key and both shapes.
func TestRunInfersNumClasses(t *testing.T) {
	tmp := t.TempDir()
	m, err := models.New("squeezenet1_1", models.NumClasses(10), models.Seed(3))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(tmp, "ten.pth")
	saveModel(t, m, ckpt)
	in, out := filepath.Join(tmp, "x.npy"), filepath.Join(tmp, "y.npy")
	randomNpy(t, in, 1, 2, 3, 96, 96)
	if _, _, err := run(t, "run", "squeezenet1_1", "--weights", ckpt, "--in", in, "--out", out); err != nil {
		t.Fatal(err)
	}
	if y := loadNpy(t, out); !slices.Equal(y.Shape, []int{2, 10}) {
		t.Errorf("output shape %v, want [2, 10]", y.Shape)
	}
	_, _, err = run(t, "run", "squeezenet1_1", "--num-classes", "1000", "--weights", ckpt, "--in", in, "--out", filepath.Join(tmp, "z.npy"))
	mustFail(t, err, "classifier.1.weight", "[10, 512, 1, 1]", "[1000, 512, 1, 1]")
}

// saveModel writes m's state_dict with torch.save's format.
func saveModel(t *testing.T, m nn.Module, path string) {
	t.Helper()
	sd := weights.NewStateDict()
	for _, e := range nn.StateDict(m) {
		sd.Set(e.Key, e.Tensor)
		if e.Int64 {
			sd.SetDType(e.Key, weights.Int64)
		}
	}
	if err := weights.SavePth(path, sd); err != nil {
		t.Fatal(err)
	}
}

func mustFail(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestRunBadInput feeds run broken checkpoints and inputs: each error must
// say what is wrong, and no output file may appear (or an existing one
// change).
func TestRunBadInput(t *testing.T) {
	w := pretrained(t)
	tmp := t.TempDir()
	good := filepath.Join(tmp, "x.npy")
	randomNpy(t, good, 5, 1, 3, 64, 64)

	raw, err := os.ReadFile(w)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(tmp, "truncated.pth")
	must(t, os.WriteFile(truncated, raw[:len(raw)/2], 0o644))
	garbage := filepath.Join(tmp, "garbage.pth")
	must(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a checkpoint "), 100), 0o644))
	garbageDat := filepath.Join(tmp, "garbage.dat")
	must(t, os.WriteFile(garbageDat, []byte("weights?"), 0o644))
	garbageST := filepath.Join(tmp, "garbage.safetensors")
	must(t, os.WriteFile(garbageST, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1, \"b\": [}"), 0o644))

	other, err := models.New("squeezenet1_0", models.Seed(1))
	if err != nil {
		t.Fatal(err)
	}
	otherArch := filepath.Join(tmp, "squeezenet1_0.pth")
	saveModel(t, other, otherArch)

	sd, err := weights.LoadPth(w)
	if err != nil {
		t.Fatal(err)
	}
	sd.Set("features.0.weight", tensor.New(64, 3, 5, 5))
	badShape := filepath.Join(tmp, "bad_shape.pth")
	if err := weights.SavePth(badShape, sd); err != nil {
		t.Fatal(err)
	}

	rank3 := filepath.Join(tmp, "rank3.npy")
	randomNpy(t, rank3, 1, 3, 64, 64)
	gray := filepath.Join(tmp, "gray.npy")
	randomNpy(t, gray, 1, 1, 1, 64, 64)
	notNpy := filepath.Join(tmp, "not.npy")
	must(t, os.WriteFile(notNpy, []byte("\x93NUMPY\x01\x00\xff\xff{'descr'"), 0o644))

	for _, c := range []struct {
		name          string
		weights, in   string
		model         string
		want          []string
		keepsExisting bool
	}{
		{"truncated checkpoint", truncated, good, "squeezenet1_1", []string{"truncated.pth"}, false},
		{"garbage checkpoint", garbage, good, "squeezenet1_1", []string{"garbage.pth", "not a PyTorch checkpoint"}, false},
		{"garbage of no known extension", garbageDat, good, "squeezenet1_1", []string{"garbage.dat", "neither a PyTorch checkpoint (torch.save) nor a safetensors file"}, false},
		{"corrupt safetensors", garbageST, good, "squeezenet1_1", []string{"garbage.safetensors"}, true},
		{"missing checkpoint", filepath.Join(tmp, "nope.pth"), good, "squeezenet1_1", []string{"nope.pth"}, false},
		{"other architecture", otherArch, good, "squeezenet1_1",
			[]string{"do not fit squeezenet1_1", "missing", "unexpected", "features.5.expand3x3.weight", "the checkpoint fits squeezenet1_0"}, true},
		{"shape mismatch", badShape, good, "squeezenet1_1", []string{"features.0.weight", "[64, 3, 5, 5]", "[64, 3, 3, 3]"}, false},
		{"unknown model", w, good, "squeezenet9", []string{"unknown model", "squeezenet1_1"}, false},
		{"input not a batch", w, rank3, "squeezenet1_1", []string{"rank3.npy", "[3, 64, 64]", "[N,C,H,W]"}, true},
		{"input of one channel", w, gray, "squeezenet1_1", []string{"gray.npy", "features.0"}, false},
		{"corrupt input", w, notNpy, "squeezenet1_1", []string{"not.npy"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "y.npy")
			if c.keepsExisting {
				must(t, os.WriteFile(out, []byte("earlier result"), 0o644))
			}
			_, _, err := run(t, "run", c.model, "--weights", c.weights, "--in", c.in, "--out", out)
			mustFail(t, err, c.want...)
			b, statErr := os.ReadFile(out)
			switch {
			case c.keepsExisting && string(b) != "earlier result":
				t.Errorf("the existing output was changed to %d bytes", len(b))
			case !c.keepsExisting && !errors.Is(statErr, os.ErrNotExist):
				t.Errorf("a failed run left %s (%d bytes)", out, len(b))
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(m) > 1 || (len(m) == 1) != c.keepsExisting {
				t.Errorf("files left beside the output: %v", m)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// synthImage draws a w x h picture: smooth colour gradients with a few
// discs, different for each seed.
func synthImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 2))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	a, b, c := rng.Float64()*3, rng.Float64()*3, rng.Float64()*3
	type disc struct {
		x, y, r float64
		col     color.RGBA
	}
	var discs []disc
	for range 4 {
		discs = append(discs, disc{rng.Float64() * float64(w), rng.Float64() * float64(h), 10 + rng.Float64()*float64(min(w, h))/3,
			color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}})
	}
	for y := range h {
		for x := range w {
			u, v := float64(x)/float64(w), float64(y)/float64(h)
			col := color.RGBA{uint8(127 + 127*math.Sin(a*6*u)), uint8(127 + 127*math.Sin(b*6*v)), uint8(127 + 127*math.Cos(c*6*(u+v))), 255}
			for _, d := range discs {
				if math.Hypot(float64(x)-d.x, float64(y)-d.y) < d.r {
					col = d.col
				}
			}
			m.SetRGBA(x, y, col)
		}
	}
	return m
}

func writePNG(t *testing.T, path string, m image.Image) {
	t.Helper()
	var buf bytes.Buffer
	must(t, png.Encode(&buf, m))
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func writeJPEG(t *testing.T, path string, m image.Image) {
	t.Helper()
	var buf bytes.Buffer
	must(t, jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}))
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func predictJSON(t *testing.T, args ...string) []imagePrediction {
	t.Helper()
	out, _, err := run(t, append([]string{"predict", "squeezenet1_1", "--format", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var preds []imagePrediction
	if err := json.Unmarshal([]byte(out), &preds); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return preds
}

// TestPredict classifies two images made here: the output's shape and
// names, and its probabilities against a raw run on the same pixels after
// the same preprocessing (torchvision's, tested in data/).
func TestPredict(t *testing.T) {
	w := pretrained(t)
	tmp := t.TempDir()
	imgs := []string{filepath.Join(tmp, "a.png"), filepath.Join(tmp, "b.jpg")}
	writePNG(t, imgs[0], synthImage(320, 240, 1))
	writeJPEG(t, imgs[1], synthImage(200, 300, 2))

	preds := predictJSON(t, append([]string{"--weights", w, "--top", "5"}, imgs...)...)
	if len(preds) != 2 {
		t.Fatalf("%d predictions for 2 images", len(preds))
	}

	// The same pixels through run.
	spec, _ := models.Lookup("squeezenet1_1")
	x, err := loadImages(imgs, evalTransform(spec), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape, []int{2, 3, 224, 224}) {
		t.Fatalf("preprocessed batch %v", x.Shape)
	}
	in, out := filepath.Join(tmp, "x.npy"), filepath.Join(tmp, "y.npy")
	must(t, weights.SaveNpy(in, x))
	if _, _, err := run(t, "run", "squeezenet1_1", "--weights", w, "--in", in, "--out", out); err != nil {
		t.Fatal(err)
	}
	y := loadNpy(t, out)
	for i, p := range preds {
		if p.Image != imgs[i] || len(p.Top) != 5 || len(p.Members) != 0 {
			t.Fatalf("prediction %d: %+v", i, p)
		}
		probs := softmax(y.Data[i*1000 : (i+1)*1000])
		want := topK(probs, 5)
		for r, c := range p.Top {
			if c.Index != want[r] || c.Class != imagenet.Name(c.Index) || math.Abs(c.Prob-probs[c.Index]) > 1e-6 {
				t.Errorf("image %d rank %d: %+v, want index %d %q p=%.6f", i, r, c, want[r], imagenet.Name(want[r]), probs[want[r]])
			}
			if r > 0 && c.Prob > p.Top[r-1].Prob {
				t.Errorf("image %d: rank %d more probable than rank %d", i, r, r-1)
			}
		}
	}

	table, _, err := run(t, "predict", "squeezenet1_1", "--weights", w, "--top", "3", imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{imgs[0], "rank", "prob", "class", preds[0].Top[0].Class, preds[0].Top[2].Class} {
		if !strings.Contains(table, s) {
			t.Errorf("table does not show %q:\n%s", s, table)
		}
	}
	if n := strings.Count(table, "\n"); n != 5 {
		t.Errorf("table of %d lines, want 5 (name, header, 3 classes):\n%s", n, table)
	}
}

// secondCheckpoint derives another set of weights from the real ones (the
// classifier scaled and shifted), as a safetensors file: an ensemble member
// of the same architecture.
func secondCheckpoint(t *testing.T, w, path string) {
	t.Helper()
	sd, err := weights.LoadPth(w)
	if err != nil {
		t.Fatal(err)
	}
	cw, _ := sd.Get("classifier.1.weight")
	cb, _ := sd.Get("classifier.1.bias")
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range cw.Data {
		cw.Data[i] *= 0.6
	}
	for i := range cb.Data {
		cb.Data[i] += float32(rng.NormFloat64())
	}
	if err := weights.SaveSafetensors(path, sd, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPredictEnsemble checks that an ensemble's probabilities are the mean
// of its members' softmax outputs, each computed by its own run.
func TestPredictEnsemble(t *testing.T) {
	w := pretrained(t)
	tmp := t.TempDir()
	w2 := filepath.Join(tmp, "second.safetensors")
	secondCheckpoint(t, w, w2)
	img := filepath.Join(tmp, "c.png")
	writePNG(t, img, synthImage(256, 256, 3))

	spec, _ := models.Lookup("squeezenet1_1")
	x, err := loadImages([]string{img}, evalTransform(spec), 0)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(tmp, "x.npy")
	must(t, weights.SaveNpy(in, x))
	var members [][]float64
	for i, ck := range []string{w, w2} {
		out := filepath.Join(tmp, fmt.Sprintf("y%d.npy", i))
		if _, _, err := run(t, "run", "squeezenet1_1", "--weights", ck, "--in", in, "--out", out); err != nil {
			t.Fatal(err)
		}
		members = append(members, softmax(loadNpy(t, out).Data))
	}
	mean := make([]float64, 1000)
	for j := range mean {
		mean[j] = (members[0][j] + members[1][j]) / 2
	}

	// Comma-separated and repeated --weights are the same.
	for _, args := range [][]string{{"--weights", w + "," + w2}, {"--weights", w, "--weights", w2}} {
		preds := predictJSON(t, append(args, "--top", "10", img)...)
		if len(preds) != 1 || len(preds[0].Members) != 2 {
			t.Fatalf("%+v", preds)
		}
		p := preds[0]
		for r, idx := range topK(mean, 10) {
			if c := p.Top[r]; c.Index != idx || math.Abs(c.Prob-mean[idx]) > 1e-6 {
				t.Errorf("ensemble rank %d: %+v, want index %d p=%.6f", r, c, idx, mean[idx])
			}
		}
		for k, m := range p.Members {
			if c := m.Top[0]; c.Index != topK(members[k], 1)[0] || math.Abs(c.Prob-members[k][c.Index]) > 1e-6 {
				t.Errorf("member %d (%s) top-1 %+v", k, m.Weights, c)
			}
		}
	}
	table, _, err := run(t, "predict", "squeezenet1_1", "--weights", w+","+w2, img)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"ensemble of 2", "squeezenet1_1.pth", "second.safetensors"} {
		if !strings.Contains(table, s) {
			t.Errorf("table does not show %q:\n%s", s, table)
		}
	}
}

// bombPNG is a PNG header (signature and IHDR, valid CRC) claiming a
// w x h RGB image, with no pixel data.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// TestPredictBadInput: a file that is not an image, a decompression bomb
// and a missing file are refused with errors naming the file.
func TestPredictBadInput(t *testing.T) {
	w := pretrained(t)
	tmp := t.TempDir()
	text := filepath.Join(tmp, "notes.jpg")
	must(t, os.WriteFile(text, []byte("this is not a picture\n"), 0o644))
	bomb := filepath.Join(tmp, "bomb.png")
	must(t, os.WriteFile(bomb, bombPNG(100000, 100000), 0o644))
	truncated := filepath.Join(tmp, "truncated.png")
	var buf bytes.Buffer
	must(t, png.Encode(&buf, synthImage(64, 64, 4)))
	must(t, os.WriteFile(truncated, buf.Bytes()[:buf.Len()/2], 0o644))
	ok := filepath.Join(tmp, "ok.png")
	writePNG(t, ok, synthImage(64, 64, 5))

	_, _, err := run(t, "predict", "squeezenet1_1", "--weights", w, ok, text)
	mustFail(t, err, "notes.jpg", "unknown image format")

	_, _, err = run(t, "predict", "squeezenet1_1", "--weights", w, bomb)
	mustFail(t, err, "bomb.png", "100000x100000", "limit", fmt.Sprint(data.MaxImagePixels))
	if !errors.Is(err, data.ErrImageTooLarge) {
		t.Errorf("bomb error %v does not wrap data.ErrImageTooLarge", err)
	}
	// The limit is a flag.
	_, _, err = run(t, "predict", "squeezenet1_1", "--weights", w, "--max-pixels", "1000", ok)
	mustFail(t, err, "ok.png", "limit 1000")

	_, _, err = run(t, "predict", "squeezenet1_1", "--weights", w, truncated)
	mustFail(t, err, "truncated.png")

	_, _, err = run(t, "predict", "squeezenet1_1", "--weights", w, filepath.Join(tmp, "absent.png"))
	mustFail(t, err, "absent.png")

	_, _, err = run(t, "predict", "squeezenet1_1", "--weights", w, "--top", "0", ok)
	mustFail(t, err, "--top")
}

// TestEval builds a small ImageFolder of images made here, maps its folders
// to ImageNet classes with --classes, and checks the reported errors
// against predict's answers for the same images: for one model and for an
// ensemble, over batches that do not divide the set, with an unreadable
// image skipped.
func TestEval(t *testing.T) {
	w := pretrained(t)
	tmp := t.TempDir()
	w2 := filepath.Join(tmp, "second.safetensors")
	secondCheckpoint(t, w, w2)
	root := filepath.Join(tmp, "val")
	folders := []string{"n01440764", "n02123045", "n07920052"}
	var files [][]string
	seed := uint64(10)
	for _, f := range folders {
		must(t, os.MkdirAll(filepath.Join(root, f), 0o755))
		var fs []string
		for k := range 2 {
			p := filepath.Join(root, f, fmt.Sprintf("img%d.png", k))
			writePNG(t, p, synthImage(180+int(seed), 150, seed))
			seed++
			fs = append(fs, p)
		}
		files = append(files, fs)
	}
	must(t, os.WriteFile(filepath.Join(root, folders[1], "broken.jpg"), []byte("\xff\xd8\xff garbage"), 0o644))

	var all []string
	for _, fs := range files {
		all = append(all, fs...)
	}
	single := predictJSON(t, append([]string{"--weights", w, "--top", "5"}, all...)...)
	ens := predictJSON(t, append([]string{"--weights", w + "," + w2, "--top", "5"}, all...)...)

	// Folder 0 is mapped to its first image's top-1 class, folder 1 to its
	// first image's third choice, folder 2 to a class outside the top 5 of
	// both its images: so the errors are neither 0 nor 100%.
	labels := []int{single[0].Top[0].Index, single[2].Top[2].Index, 0}
	for slices.ContainsFunc(append(slices.Clone(single[4].Top), single[5].Top...), func(c classProb) bool { return c.Index == labels[2] }) {
		labels[2]++
	}
	mapping := filepath.Join(tmp, "classes.txt")
	var sb strings.Builder
	for i, f := range folders {
		fmt.Fprintf(&sb, "%s %d\n", f, labels[i])
	}
	must(t, os.WriteFile(mapping, []byte(sb.String()), 0o644))

	expect := func(preds []imagePrediction, members bool, k int) (top1, top5 float64) {
		var miss1, miss5 int
		for i, p := range preds {
			top := p.Top
			if members {
				top = p.Members[k].Top
			}
			label := labels[i/2]
			if top[0].Index != label {
				miss1++
			}
			if !slices.ContainsFunc(top, func(c classProb) bool { return c.Index == label }) {
				miss5++
			}
		}
		return 100 * float64(miss1) / 6, 100 * float64(miss5) / 6
	}

	out, stderr, err := run(t, "eval", "squeezenet1_1", "--weights", w+","+w2, "--data", root, "--classes", mapping, "--batch", "4", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "broken.jpg") {
		t.Errorf("no warning about the broken image on stderr:\n%s", stderr)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Images != 6 || rep.Skipped != 1 || rep.Classes != 3 || len(rep.Rows) != 3 {
		t.Fatalf("report %+v", rep)
	}
	for k, r := range rep.Rows {
		var t1, t5 float64
		if k < 2 {
			t1, t5 = expect(ens, true, k)
		} else {
			t1, t5 = expect(ens, false, 0)
		}
		if math.Abs(r.Top1Err-t1) > 1e-9 || math.Abs(r.Top5Err-t5) > 1e-9 {
			t.Errorf("row %d (%s %s): top-1 %.2f%% top-5 %.2f%%, predict says %.2f%% %.2f%%", k, r.Model, r.Weights, r.Top1Err, r.Top5Err, t1, t5)
		}
	}
	if t1, t5 := expect(single, false, 0); rep.Rows[0].Top1Err != t1 || rep.Rows[0].Top5Err != t5 || t1 == 0 || t1 == 100 || t5 == 0 || t5 == 100 {
		t.Errorf("first model: %.2f%% %.2f%%, single-model predict %.2f%% %.2f%%", rep.Rows[0].Top1Err, rep.Rows[0].Top5Err, t1, t5)
	}

	// The table, with a progress bar on stderr.
	out, stderr, err = run(t, "eval", "squeezenet1_1", "--weights", w, "--data", root, "--classes", mapping)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"6 images in 3 classes", "1 unreadable", "top-1 err", fmt.Sprintf("%.2f", rep.Rows[0].Top1Err)} {
		if !strings.Contains(out, s) {
			t.Errorf("table does not show %q:\n%s", s, out)
		}
	}
	if !strings.Contains(stderr, "7/7") {
		t.Errorf("no finished progress bar on stderr:\n%q", stderr)
	}

	// Without a mapping the folders are classes 0, 1, 2, with a warning.
	_, stderr, err = run(t, "eval", "squeezenet1_1", "--weights", w, "--data", root, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "3 class folders for a 1000-class model") {
		t.Errorf("no warning about the sorted folder indices:\n%s", stderr)
	}

	// A mapping that misses a folder, or maps past the model's classes.
	bad := filepath.Join(tmp, "bad.txt")
	must(t, os.WriteFile(bad, []byte("n01440764 0\nn02123045 1\n"), 0o644))
	_, _, err = run(t, "eval", "squeezenet1_1", "--weights", w, "--data", root, "--classes", bad, "--quiet")
	mustFail(t, err, "n07920052", "not listed")
	must(t, os.WriteFile(bad, []byte("n01440764 0\nn02123045 1\nn07920052 1000\n"), 0o644))
	_, _, err = run(t, "eval", "squeezenet1_1", "--weights", w, "--data", root, "--classes", bad, "--quiet")
	mustFail(t, err, "n07920052", "1000 classes")
}

func TestReadClassMap(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       map[string]int
		err        string
	}{
		{"explicit", "tench 0\n\nespresso 967\n", map[string]int{"tench": 0, "espresso": 967}, ""},
		{"synset mapping", "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n",
			map[string]int{"n01440764": 0, "n01443537": 1}, ""},
		{"plain list", "a\nb\nc\n", map[string]int{"a": 0, "b": 1, "c": 2}, ""},
		{"mixed", "a 3\nb\n", nil, "mixes"},
		{"duplicate", "a 1\na 2\n", nil, "twice"},
		{"negative", "a -1\n", nil, "negative"},
		{"empty", "\n\n", nil, "no class"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "map.txt")
			must(t, os.WriteFile(p, []byte(c.text), 0o644))
			got, err := readClassMap(p)
			if c.err != "" {
				mustFail(t, err, c.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}
