package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/data"
	"github.com/convnet/convnet/nn"
)

// hooks is a Progress that calls back on epoch ends.
type hooks struct {
	noProgress
	epochEnd func(EpochMetrics)
	batches  int
}

func (h *hooks) Batch(int, int, float64) { h.batches++ }
func (h *hooks) EpochEnd(m EpochMetrics) {
	if h.epochEnd != nil {
		h.epochEnd(m)
	}
}

// checkpointTensors loads the tensors of a run's checkpoint.
func checkpointTensors(t *testing.T, dir string) (map[string][]float32, *checkpointState) {
	t.Helper()
	st, err := readCheckpointState(dir)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := loadCheckpointTensors(dir, st)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, k := range sd.Keys {
		out[k] = sd.Tensors[k].Data
	}
	return out, st
}

// sameBits compares two runs' final checkpoints bit for bit: every model
// tensor, every momentum buffer, and the final weights file.
func sameBits(t *testing.T, dirA, dirB string) {
	t.Helper()
	a, sa := checkpointTensors(t, dirA)
	b, sb := checkpointTensors(t, dirB)
	if sa.Epoch != sb.Epoch || sa.Step != sb.Step {
		t.Fatalf("checkpoints at epoch %d step %d and epoch %d step %d", sa.Epoch, sa.Step, sb.Epoch, sb.Step)
	}
	if len(a) != len(b) {
		t.Fatalf("%d and %d tensors", len(a), len(b))
	}
	momenta := 0
	for k, va := range a {
		vb, ok := b[k]
		if !ok || len(va) != len(vb) {
			t.Fatalf("tensor %s missing or of another size", k)
		}
		for i := range va {
			if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
				t.Fatalf("tensor %s differs at %d: %g vs %g", k, i, va[i], vb[i])
			}
		}
		if strings.HasPrefix(k, momentumPrefix) {
			momenta++
		}
	}
	if momenta == 0 {
		t.Fatal("no momentum buffer in the checkpoint")
	}
	if !bytes.Equal(sa.Dropout["head.0"], sb.Dropout["head.0"]) || len(sa.Dropout["head.0"]) == 0 {
		t.Fatal("dropout generator states differ or are missing")
	}
	wa, err := os.ReadFile(filepath.Join(dirA, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(filepath.Join(dirB, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wa, wb) {
		t.Fatal("final model.safetensors files differ")
	}
}

// A run stopped after its first epoch, or in the middle of its second,
// and resumed ends with the same weights, momentum buffers and generator
// states as a run never stopped.
func TestResumeIsBitExact(t *testing.T) {
	plateau := tinyConfig()
	onecycle := tinyConfig()
	onecycle.Schedule = ScheduleConfig{Kind: ScheduleOneCycle, LR: 0.05}
	onecycle.Nesterov = true
	onecycle.NoDecayNormBias = true
	onecycle.LabelSmoothing = 0.1
	for _, tc := range []struct {
		name     string
		cfg      Config
		midEpoch bool
	}{
		{"plateau/after-epoch-1", plateau, false},
		{"onecycle/mid-epoch-2", onecycle, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := t.TempDir()
			runTo(t, tc.cfg, ref)

			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := &hooks{}
			tr, err := New(tc.cfg, Options{RunDir: dir, Progress: h, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			perEpoch := tr.loader.Len()
			if tc.midEpoch {
				tr.beforeStep = func(step int) {
					if step == perEpoch+3 {
						cancel()
					}
				}
			} else {
				h.epochEnd = func(m EpochMetrics) {
					if m.Epoch == 1 {
						cancel()
					}
				}
			}
			if _, err := tr.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %v", err)
			}
			if tc.midEpoch {
				// What a kill can leave behind: a half-written temporary
				// file and a metrics line of an epoch with no checkpoint.
				os.WriteFile(filepath.Join(dir, ".checkpoint-e0002.safetensors.tmp-1"), []byte("partial"), 0o644)
				f, _ := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString(`{"epoch":2,"train_loss":1,"train_err":1,"test_loss":1,"test_err":1,"lr":1,"seconds":1,"img_per_s":1,"step":1}` + "\n")
				f.Close()
			}
			if _, st := checkpointTensors(t, dir); st.Epoch != 1 {
				t.Fatalf("checkpoint after the interruption is at epoch %d, want 1", st.Epoch)
			}
			tr2, err := Resume(dir, 0, Options{Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if tr2.Epoch() != 1 {
				t.Fatalf("resumed at epoch %d", tr2.Epoch())
			}
			r, err := tr2.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(r.History) != 3 {
				t.Fatalf("history of %d epochs", len(r.History))
			}
			ms, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range ms {
				if m.Epoch != i+1 {
					t.Fatalf("metrics.jsonl epochs %v", ms)
				}
			}
			if len(ms) != 3 {
				t.Fatalf("metrics.jsonl has %d lines, want 3", len(ms))
			}
			sameBits(t, ref, dir)
		})
	}
}

func TestMetricsJSONL(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.Epochs = 2
	r := runTo(t, cfg, dir)
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), b)
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", i+1, err)
		}
		for _, k := range []string{"epoch", "train_loss", "train_err", "test_loss", "test_err", "lr", "seconds", "img_per_s"} {
			v, ok := m[k].(float64)
			if !ok {
				t.Fatalf("line %d: %q missing or not a number: %s", i+1, k, line)
			}
			if math.IsNaN(v) || v < 0 {
				t.Errorf("line %d: %s = %v", i+1, k, v)
			}
		}
		if m["epoch"] != float64(i+1) {
			t.Errorf("line %d: epoch %v", i+1, m["epoch"])
		}
		for _, k := range []string{"train_err", "test_err"} {
			if v := m[k].(float64); v > 1 {
				t.Errorf("line %d: %s %v is not a fraction", i+1, k, v)
			}
		}
		if m["lr"] != 0.01 {
			t.Errorf("line %d: lr %v, want the recipe's 0.01", i+1, m["lr"])
		}
	}
	// Training learns something even in two tiny epochs.
	if r.Final.TrainLoss >= r.History[0].TrainLoss*1.5 || r.Final.TestErr > 0.9 {
		t.Errorf("no learning: %+v", r.History)
	}
	for _, f := range []string{r.Weights, r.ErrorPNG, r.ErrorSVG, r.FiltersPNG} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("output %s: %v", f, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	ckpts, _ := filepath.Glob(filepath.Join(dir, "checkpoint-e*.safetensors"))
	if len(ckpts) != 1 || filepath.Base(ckpts[0]) != "checkpoint-e0002.safetensors" {
		t.Errorf("checkpoint tensors files %v, want only the last", ckpts)
	}
	if _, err := New(cfg, Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("a new run over an existing one: %v", err)
	}
}

// A NaN loss stops the run with the step that produced it and leaves the
// last good checkpoint, which resumes.
func TestNaNLossStops(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	tr, err := New(cfg, Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	bad := tr.loader.Len() + 2 // second batch of epoch 2
	conv := FirstConv(tr.Model())
	tr.beforeStep = func(step int) {
		if step == bad {
			conv.Weight.T.Data[0] = float32(math.NaN())
		}
	}
	_, err = tr.Run(context.Background())
	var nf *NonFiniteLossError
	if !errors.As(err, &nf) {
		t.Fatalf("error %v, want a NonFiniteLossError", err)
	}
	if nf.Step != bad || nf.Epoch != 2 || nf.Batch != 2 || nf.LastGood != 1 {
		t.Errorf("error %+v, want step %d epoch 2 batch 2 last good 1", nf, bad)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("step %d", bad)) {
		t.Errorf("message %q does not name the step", err)
	}
	tensors, st := checkpointTensors(t, dir)
	if st.Epoch != 1 {
		t.Fatalf("checkpoint at epoch %d", st.Epoch)
	}
	for k, v := range tensors {
		for _, x := range v {
			if math.IsNaN(float64(x)) {
				t.Fatalf("checkpoint tensor %s holds NaN", k)
			}
		}
	}
	if ms, _ := ReadMetrics(filepath.Join(dir, "metrics.jsonl")); len(ms) != 1 {
		t.Errorf("metrics.jsonl has %d lines, want 1", len(ms))
	}
	if _, err := Resume(dir, 0, Options{}); err != nil {
		t.Errorf("resume after NaN: %v", err)
	}
}

type failingWriter struct {
	w    io.Writer
	left int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n, _ := f.w.Write(p[:f.left])
		f.left = 0
		return n, errors.New("injected: no space left on device")
	}
	f.left -= len(p)
	return f.w.Write(p)
}

// A failure while writing a checkpoint (its tensors, or the JSON that
// commits it) stops the run and loses nothing already saved.
func TestCheckpointWriteFailure(t *testing.T) {
	for _, target := range []string{"checkpoint-e0002.safetensors", checkpointJSON} {
		t.Run(target, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig()
			h := &hooks{}
			tr, err := New(cfg, Options{RunDir: dir, Progress: h})
			if err != nil {
				t.Fatal(err)
			}
			var before []byte
			h.epochEnd = func(m EpochMetrics) {
				if m.Epoch != 1 {
					return
				}
				before, _ = os.ReadFile(filepath.Join(dir, checkpointJSON))
				writeHook = func(path string, w io.Writer) io.Writer {
					if filepath.Base(path) == target {
						return &failingWriter{w: w, left: 100}
					}
					return w
				}
			}
			defer func() { writeHook = nil }()
			_, err = tr.Run(context.Background())
			writeHook = nil
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("error %v, want the injected failure", err)
			}
			after, _ := os.ReadFile(filepath.Join(dir, checkpointJSON))
			if !bytes.Equal(before, after) || len(before) == 0 {
				t.Fatal("checkpoint.json changed by the failed write")
			}
			_, st := checkpointTensors(t, dir) // verifies the SHA-256 too
			if st.Epoch != 1 {
				t.Fatalf("checkpoint at epoch %d", st.Epoch)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*checkpoint*"))
			for _, f := range files {
				if b := filepath.Base(f); b != checkpointJSON && b != "checkpoint-e0001.safetensors" {
					t.Errorf("left behind: %s", b)
				}
			}
			tr2, err := Resume(dir, 0, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr2.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A damaged tensors file is refused on resume.
func TestResumeRejectsDamagedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.Epochs = 1
	runTo(t, cfg, dir)
	p := filepath.Join(dir, "checkpoint-e0001.safetensors")
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, err := Resume(dir, 2, Options{}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("resume from a damaged checkpoint: %v", err)
	}
	if _, err := Resume(t.TempDir(), 0, Options{}); !errors.Is(err, errNoCheckpoint) {
		t.Fatalf("resume from an empty directory: %v", err)
	}
}

// With ForwardAux the loss is the main loss plus AuxWeight times the
// auxiliary ones.
func TestAuxLoss(t *testing.T) {
	cfg := tinyConfig()
	cfg.Model = "tiny-aux"
	tr, err := New(cfg, Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	b, err := tr.loader.Next()
	if err != nil {
		t.Fatal(err)
	}
	net := tr.Model().(*tinyAuxNet)
	// Dropout draws from its generator: compare on the same masks by
	// switching it off.
	net.head.At(0).(*nn.Dropout).P = 0
	loss, _, err := tr.forwardLoss(b)
	if err != nil {
		t.Fatal(err)
	}
	out, aux, err := net.ForwardAux(autograd.Input(b.X, nil, false))
	if err != nil || len(aux) != 1 {
		t.Fatalf("aux %d, %v", len(aux), err)
	}
	main, _ := autograd.CrossEntropy(out, b.Labels, 0)
	al, _ := autograd.CrossEntropy(aux[0], b.Labels, 0)
	want := main.T.Data[0] + 0.3*al.T.Data[0]
	if got := loss.T.Data[0]; math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("loss %g, want main %g + 0.3 * aux %g = %g", got, main.T.Data[0], al.T.Data[0], want)
	}
}

func TestFilterImage(t *testing.T) {
	net := newTinyNet(1, 10, 3, false)
	c := FirstConv(net)
	img, err := FilterImage(c)
	if err != nil {
		t.Fatal(err)
	}
	// 8 filters: a 3x3 grid of enlarged 3x3 filters.
	if b := img.Bounds(); b.Dx() < 300 || b.Dx() != b.Dy() {
		t.Errorf("image %v", b)
	}
	// Each filter is normalised on its own: its darkest and brightest
	// values reach 0 and 255.
	var lo, hi uint8 = 255, 0
	for _, v := range img.Pix {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 255 {
		t.Errorf("levels span [%d, %d]", lo, hi)
	}
	p := filepath.Join(t.TempDir(), "f.png")
	if err := SaveFilters(p, net); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(p)
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
}

func TestPlotErrors(t *testing.T) {
	base := filepath.Join(t.TempDir(), "curves")
	curves := []Curve{{Name: "plain20", Train: []float64{50, 30, 20}, Test: []float64{45, 32, 25}},
		{Name: "plain56", Train: []float64{60, 40, 30}, Test: []float64{58, 41, 33}}}
	if err := PlotErrors(base, "degradation", curves); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(base + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
	svg, _ := os.ReadFile(base + ".svg")
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("plain56 test")) {
		t.Error("SVG without the legend")
	}
}

// The first dataset of every kind feeds a short run; this one checks the
// embedded subset's shape.
func TestOpenEmbedded(t *testing.T) {
	ds, err := OpenData("", DataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Len() != data.EmbeddedTrainSize || ds.Test.Len() != data.EmbeddedTestSize || ds.Channels != 1 || ds.Side != 28 || len(ds.Classes) != 10 {
		t.Errorf("embedded: %d/%d samples, %d channels, side %d, %d classes", ds.Train.Len(), ds.Test.Len(), ds.Channels, ds.Side, len(ds.Classes))
	}
}
