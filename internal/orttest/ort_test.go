// Package orttest makes ONNX Runtime a second oracle beside PyTorch: it runs
// a torchvision model exported to ONNX with real ImageNet weights through
// ONNX Runtime's CPU engine (onnxruntime-node, via scripts/bench/ort_run.js)
// and requires convnet's logits for the same weights and input to match.
// ORT implements every layer independently of PyTorch (and, with its graph
// optimisations on, fuses and re-lays them out), so agreement with both is
// stronger evidence than agreement with either.
//
// The data comes from scripts/torch_refs/ort_export.py (run by
// scripts/make_refs.sh) into testdata/torch/ort/; onnxruntime-node comes
// from bash scripts/bench/setup.sh. When either, node or the weights are
// missing the test skips, or fails when CI is set.
package orttest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/internal/testref"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

// tol bounds convnet's error relative to the largest ORT logit:
// max|ours - ort| <= tol * max|ort|. Two float32 engines that sum in
// different orders (ORT's NCHWc kernels, fused bias and ReLU) differ by a
// few ulps per layer; 1e-4 leaves room for that and none for a wrong layer.
const tol = 1e-4

// manifest is what ort_export.py writes into testdata/torch/ort.
type manifest struct {
	Model         string `json:"model"`
	ONNX          string `json:"onnx"`
	Input         string `json:"input"`
	TorchLogits   string `json:"torch_logits"`
	WeightsSHA256 string `json:"weights_sha256"`
	Missing       string `json:"missing"`
}

// unavailable skips the test because a tool it needs is not installed, or
// fails it when CI is set: the rule of testref.Missing, with the fix named
// for tools rather than for the reference data.
func unavailable(t *testing.T, why, fix string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping): run %s", why, fix)
	}
	t.Skipf("%s: run %s", why, fix)
}

func TestSqueezeNetMatchesORT(t *testing.T) {
	root, err := testref.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := testref.Dir(t, "ort")
	var man manifest
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		testref.Missing(t, fmt.Sprintf("ORT references are incomplete (%v)", err))
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatalf("%s/manifest.json: %v", dir, err)
	}
	if man.Missing != "" || man.ONNX == "" {
		testref.Missing(t, fmt.Sprintf("ORT references were made without their model (%s)", man.Missing))
	}

	// The real weights live beside the clone (see ../shared/pretrained/README.md).
	pth := filepath.Join(root, "..", "shared", "pretrained", man.Model+".pth")
	if _, err := os.Stat(pth); err != nil {
		unavailable(t, fmt.Sprintf("the real weights %s are missing", pth), "the tests from a checkout with shared/ beside it")
	}
	if sum := fileSHA256(t, pth); sum != man.WeightsSHA256 {
		testref.Missing(t, fmt.Sprintf("%s has sha256 %s but the ONNX export was made from %s: the references are stale", pth, sum, man.WeightsSHA256))
	}

	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node is not installed", "apt-get install nodejs (node >= 18)")
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "bench", "node_modules", "onnxruntime-node", "package.json")); err != nil {
		unavailable(t, "onnxruntime-node is not installed", "bash scripts/bench/setup.sh")
	}

	// ORT's logits.
	ortOut := filepath.Join(t.TempDir(), "ort_logits.npy")
	cmd := exec.Command(node, filepath.Join("scripts", "bench", "ort_run.js"),
		filepath.Join(dir, man.ONNX), filepath.Join(dir, man.Input), ortOut)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node scripts/bench/ort_run.js: %v\n%s", err, out)
	}
	ort := loadNpy(t, ortOut)
	x := loadNpy(t, filepath.Join(dir, man.Input))
	torchLogits := loadNpy(t, filepath.Join(dir, man.TorchLogits))

	// convnet's logits for the same weights.
	m, err := models.New(man.Model)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := weights.LoadPth(pth)
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.LoadStateDict(m, sd.Tensors, true); err != nil {
		t.Fatalf("%s: %v", pth, err)
	}
	nn.SetTraining(m, false)
	y, err := nn.Infer(m, autograd.Input(x, nil, false))
	if err != nil {
		t.Fatal(err)
	}

	// The oracles must agree with each other before either judges us: a
	// broken export would otherwise show up as a convnet bug.
	if d := compare(ort, torchLogits); !d.ok {
		t.Fatalf("ORT and PyTorch disagree on the exported model: %s", d)
	}
	d := compare(y.T, ort)
	t.Logf("convnet vs ORT: %s; convnet vs PyTorch: %s", d, compare(y.T, torchLogits))
	if !d.ok {
		t.Errorf("%s logits differ from ONNX Runtime's: %s", man.Model, d)
	}
	if got, want := argmaxRows(y.T), argmaxRows(ort); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("top-1 classes %v, ORT %v", got, want)
	}
}

// diff is testref.Compare's measurement under this test's bound, which is
// relative to the largest reference value (not to max(1, it)).
type diff struct {
	testref.Diff
	ok bool
}

func (d diff) String() string {
	return fmt.Sprintf("max abs err %.3g (bound %.3g = %g * max |ref| %.3g)", d.MaxAbsErr, tol*d.MaxRef, tol, d.MaxRef)
}

func compare(got, want *tensor.Tensor) diff {
	d := testref.Compare(got, want, tol)
	return diff{d, d.MaxAbsErr <= tol*d.MaxRef && d.MaxRef > 0}
}

func argmaxRows(t *tensor.Tensor) []int {
	n := t.Shape[0]
	k := len(t.Data) / n
	out := make([]int, n)
	for i := range n {
		row := t.Data[i*k : (i+1)*k]
		for j, v := range row {
			if v > row[out[i]] {
				out[i] = j
			}
		}
	}
	return out
}

func loadNpy(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	x, err := weights.LoadNpy(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
