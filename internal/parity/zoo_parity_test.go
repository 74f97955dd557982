package parity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/internal/testref"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

// zooTol is the allowed error relative to the largest reference logit:
// float32 sums taken in another order than PyTorch's differ by a few ulps
// per layer, and the deepest nets (resnet152, densenet201) stack a few
// hundred layers.
const zooTol = 1e-4

// zooEntry is one model of testdata/torch/zoo_parity/manifest.json, written
// by scripts/torch_refs/zoo_parity.py. The input and logits files follow
// the names <model>_input.npy and <model>_logits.npy.
type zooEntry struct {
	Input       []int  `json:"input"`
	Pth         string `json:"pth"`
	TrainLogits string `json:"train_logits"`
}

// trainMode names the models whose train-mode logits (BatchNorm on batch
// statistics) the generator must provide.
var trainMode = []string{"resnet18", "densenet121"}

func readZooManifest(t *testing.T) (string, map[string]zooEntry) {
	t.Helper()
	dir := testref.Dir(t, "zoo_parity")
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		testref.Missing(t, err.Error())
	}
	var m map[string]zooEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s/manifest.json: %v", dir, err)
	}
	return dir, m
}

// torchvisionModels lists the registered models that torchvision has.
func torchvisionModels(t *testing.T) []string {
	var out []string
	for _, name := range models.Names() {
		s, err := models.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Torchvision {
			out = append(out, name)
		}
	}
	return out
}

// TestZooParityCoverage fails when a torchvision model of the zoo has no
// reference, so that a model added to the registry cannot go untested.
func TestZooParityCoverage(t *testing.T) {
	_, manifest := readZooManifest(t)
	tv := torchvisionModels(t)
	if len(tv) == 0 {
		t.Fatal("the registry has no torchvision model")
	}
	for _, name := range tv {
		if _, ok := manifest[name]; !ok {
			t.Errorf("torchvision model %s has no parity reference: add it to MODELS in scripts/torch_refs/zoo_parity.py", name)
		}
	}
	for name := range manifest {
		if !slices.Contains(tv, name) {
			t.Errorf("manifest model %s is not a registered torchvision model", name)
		}
	}
	for _, name := range trainMode {
		if e, ok := manifest[name]; ok && e.TrainLogits == "" {
			t.Errorf("%s has no train-mode logits in the manifest", name)
		}
	}
}

// TestZooParity loads each model's torch.save checkpoint with strict key
// checking (num_batches_tracked included) and compares the eval-mode logits,
// and for some models the train-mode logits, with torchvision's. The
// models run one at a time and are dropped before the next: the VGG
// checkpoints are over half a gigabyte each.
func TestZooParity(t *testing.T) {
	dir, manifest := readZooManifest(t)
	names := make([]string, 0, len(manifest))
	for name := range manifest {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := manifest[name]
		t.Run(name, func(t *testing.T) {
			defer func() {
				runtime.GC()
				debug.FreeOSMemory()
			}()
			checkZooModel(t, dir, name, e)
		})
	}
}

func checkZooModel(t *testing.T, dir, name string, e zooEntry) {
	m := loadZooModel(t, filepath.Join(dir, e.Pth), name)
	x := loadNpy(t, filepath.Join(dir, name+"_input.npy"))
	if !slices.Equal(x.Shape, e.Input) {
		t.Fatalf("input shape %v, manifest says %v", x.Shape, e.Input)
	}

	nn.SetTraining(m, false)
	want := loadNpy(t, filepath.Join(dir, name+"_logits.npy"))
	got, err := forward(m, x)
	if err != nil {
		t.Fatalf("eval forward: %v", err)
	}
	compare(t, "eval", got, want)
	if err := comparePlan(t, m, x, want); err != nil {
		t.Errorf("compiled plan: %v", err)
	}

	if e.TrainLogits != "" {
		nn.SetTraining(m, true)
		want := loadNpy(t, filepath.Join(dir, e.TrainLogits))
		got, err := forward(m, x)
		if err != nil {
			t.Fatalf("train forward: %v", err)
		}
		compare(t, "train", got, want)
	}
}

// loadZooModel builds the model without weights and fills it from the
// checkpoint, strictly: every key of the model present, nothing extra,
// every shape equal.
func loadZooModel(t *testing.T, path, name string) nn.Module {
	sd, err := weights.LoadPth(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(name, models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.LoadStateDict(m, sd.Tensors, true); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if nn.IsMeta(m) {
		t.Fatal("a tensor of the model has no data after loading")
	}
	// num_batches_tracked is int64 in PyTorch; it must have come through.
	for _, en := range nn.StateDict(m) {
		if en.Int64 && sd.DType(en.Key) != weights.Int64 {
			t.Errorf("%s is %s in the checkpoint, want int64", en.Key, sd.DType(en.Key))
		}
	}
	return m
}

func loadNpy(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	x, err := weights.LoadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func forward(m nn.Module, x *tensor.Tensor) (*tensor.Tensor, error) {
	y, err := nn.Infer(m, autograd.Input(x, nil, false))
	if err != nil {
		return nil, err
	}
	return y.T, nil
}

// compare requires max|got - want| <= zooTol * max|want| and logs the
// relative error, so that a run shows how much room each model has.
func compare(t *testing.T, mode string, got, want *tensor.Tensor) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: logits of shape %v, torchvision's %v", mode, got.Shape, want.Shape)
		return
	}
	d := testref.Compare(got, want, zooTol)
	rel := d.MaxAbsErr / d.MaxRef
	t.Logf("%s: max relative error %.3g (max abs %.3g, max |torch| %.3g)", mode, rel, d.MaxAbsErr, d.MaxRef)
	if !(d.MaxAbsErr <= zooTol*d.MaxRef) {
		t.Errorf("%s: logits differ from torchvision's by %.3g, over %g of max |torch| = %.3g", mode, d.MaxAbsErr, zooTol, d.MaxRef)
	}
}
