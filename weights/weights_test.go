package weights

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

func TestMain(m *testing.M) {
	// Every test runs without the readers' panic recovery, so that a bad
	// input that would panic fails the test instead of being turned into an
	// error by the last line of defence.
	recoverPanics = false
	os.Exit(m.Run())
}

func TestGuardTurnsPanicIntoError(t *testing.T) {
	recoverPanics = true
	defer func() { recoverPanics = false }()
	f := func() (err error) {
		defer guard(&err, "pth: file x.pth")
		var s []int
		_ = s[3]
		return nil
	}
	err := f()
	if err == nil || !strings.Contains(err.Error(), "pth: file x.pth: internal error") {
		t.Fatalf("got %v", err)
	}
}

// fixture describes one tensor as PyTorch or numpy saw it
// (scripts/make_weights_fixtures.py).
type fixture struct {
	Shape      []int     `json:"shape"`
	DType      string    `json:"dtype"`
	Descr      string    `json:"descr"`
	Sum        float64   `json:"sum"`
	AbsSum     float64   `json:"abs_sum"`
	First      []float64 `json:"first"`
	Contiguous bool      `json:"contiguous"`
}

type expectedFile struct {
	TorchVersion string `json:"torch_version"`
	Pth          map[string]struct {
		Keys    []string           `json:"keys"`
		Tensors map[string]fixture `json:"tensors"`
	} `json:"pth"`
	Npy map[string]fixture `json:"npy"`
}

func loadExpected(t *testing.T) *expectedFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFile
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

// checkTensor compares a loaded tensor with what PyTorch/numpy saw. Values
// went through float32, so they are compared with a relative tolerance.
func checkTensor(t *testing.T, what string, got *tensor.Tensor, want fixture) {
	t.Helper()
	if !equalShape(got.Shape, want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, want.Shape)
		return
	}
	if len(got.Data) != tensor.Numel(want.Shape) {
		t.Errorf("%s: %d values for shape %v", what, len(got.Data), want.Shape)
		return
	}
	sum, abs := 0.0, 0.0
	for _, v := range got.Data {
		sum += float64(v)
		abs += math.Abs(float64(v))
	}
	if !close(sum, want.Sum, want.AbsSum) {
		t.Errorf("%s: sum %v, want %v", what, sum, want.Sum)
	}
	for i, w := range want.First {
		if i >= len(got.Data) {
			break
		}
		if g := float64(got.Data[i]); !close(g, w, 0) {
			t.Errorf("%s: value %d is %v, want %v", what, i, g, w)
		}
	}
}

func close(a, b, scale float64) bool {
	if math.IsInf(b, 0) || math.IsNaN(b) {
		return a == b || (math.IsNaN(a) && math.IsNaN(b))
	}
	return math.Abs(a-b) <= 1e-5*(1+math.Abs(b)+scale)
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// findUp looks for rel in the working directory and its parents.
func findUp(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// heapAllocs returns the bytes allocated on the heap so far (cheap, no
// stop-the-world, unlike runtime.ReadMemStats).
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestStateDictHelpers(t *testing.T) {
	sd := NewStateDict()
	sd.Set("a", tensor.New(2))
	sd.Set("b", tensor.New(1))
	sd.SetDType("b", Int64)
	sd.Set("c", tensor.New())
	sd.Set("a", tensor.Full(1, 3)) // replaces, keeps position
	if strings.Join(sd.Keys, ",") != "a,b,c" || sd.Len() != 3 {
		t.Fatalf("keys %v", sd.Keys)
	}
	if a, _ := sd.Get("a"); a.Numel() != 3 {
		t.Fatal("Set did not replace")
	}
	if !sd.Int64("b") || sd.Int64("a") || !sd.IsInteger("b") || sd.DType("zzz") != Float32 {
		t.Fatal("dtypes")
	}
	if sd.NumElements() != 5 {
		t.Fatalf("NumElements %d", sd.NumElements())
	}
	if err := sd.Validate(); err != nil {
		t.Fatal(err)
	}
	sd.Delete("b")
	if strings.Join(sd.Keys, ",") != "a,c" || sd.Int64("b") {
		t.Fatalf("after delete: %v", sd.Keys)
	}
	sd.Tensors["x"] = tensor.New(1)
	if err := sd.Validate(); err == nil {
		t.Fatal("Validate missed a tensor not in Keys")
	}
	delete(sd.Tensors, "x")
	sd.Tensors["a"] = &tensor.Tensor{Shape: []int{2}, Data: []float32{1}}
	if err := sd.Validate(); err == nil {
		t.Fatal("Validate missed a short tensor")
	}
	sd.Tensors["a"] = tensor.Meta(2)
	if err := sd.Validate(); err == nil {
		t.Fatal("Validate missed a meta tensor")
	}
	if err := (*StateDict)(nil).Validate(); err == nil {
		t.Fatal("nil")
	}

	p := NewStateDict()
	p.Set("module.x", tensor.New(1))
	p.Set("module.y.z", tensor.New(1))
	p.SetDType("module.x", Int64)
	if !p.stripPrefix("module.") || strings.Join(p.Keys, ",") != "x,y.z" || !p.Int64("x") {
		t.Fatalf("stripPrefix: %v %v", p.Keys, p.DTypes)
	}
	q := NewStateDict()
	q.Set("module.x", tensor.New(1))
	q.Set("head.y", tensor.New(1))
	if q.stripPrefix("module.") {
		t.Fatal("stripped a prefix that not every key has")
	}
}

func TestWriteAtomicLeavesNoTempOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := WriteFileAtomic(p, func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	b, _ := os.ReadFile(p)
	ents, _ := os.ReadDir(dir)
	if string(b) != "old" || len(ents) != 1 {
		t.Fatalf("file %q, %d entries", b, len(ents))
	}
}
