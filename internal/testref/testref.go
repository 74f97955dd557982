// Package testref locates the PyTorch reference data that
// scripts/make_refs.sh writes under testdata/torch/ and compares tensors
// against it, so that every parity suite handles a missing reference tree
// the same way: the test fails when the environment variable CI is
// non-empty (a CI run must never pass by skipping) and skips with the
// command to run otherwise.
package testref

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// MakeRefs is the command that writes the reference tree.
const MakeRefs = "bash scripts/make_refs.sh"

// Root returns the module root: the nearest directory at or above the
// working directory (a package directory under go test) with a go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testref: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// Dir returns testdata/torch/<sub> under the module root. When it is
// missing the test fails if CI is set and is skipped otherwise, with a
// message naming scripts/make_refs.sh.
func Dir(t testing.TB, sub string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "torch", sub)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		Missing(t, fmt.Sprintf("PyTorch references %s are missing", dir))
	}
	return dir
}

// Missing fails (under CI) or skips the test because reference data is not
// there; why says what is missing.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping): run %s", why, MakeRefs)
	}
	t.Skipf("%s: run %s to generate them", why, MakeRefs)
}

// Diff is the result of comparing a tensor with its reference.
type Diff struct {
	MaxAbsErr float64 // max |got - want|, +Inf on NaN or shape mismatch
	MaxRef    float64 // max |want| over its finite values
	Bound     float64 // the allowed MaxAbsErr: tol * max(1, MaxRef)
}

// OK reports whether the error is within the bound.
func (d Diff) OK() bool { return d.MaxAbsErr <= d.Bound }

func (d Diff) String() string {
	return fmt.Sprintf("max abs err %.3g (bound %.3g, max |ref| %.3g)", d.MaxAbsErr, d.Bound, d.MaxRef)
}

// Compare measures got against want with the parity suites' rule: the
// maximum absolute error must not exceed tol * max(1, max|want|), the
// maximum over want's finite values. NaN must meet NaN and an infinity the
// same infinity; a shape mismatch or any other disagreement on them gives
// an infinite error.
func Compare(got, want *tensor.Tensor, tol float64) Diff {
	var d Diff
	for _, v := range want.Data {
		if a := math.Abs(float64(v)); !math.IsInf(a, 0) && !math.IsNaN(a) {
			d.MaxRef = math.Max(d.MaxRef, a)
		}
	}
	d.Bound = tol * math.Max(1, d.MaxRef)
	if got == nil || tensor.Numel(got.Shape) != tensor.Numel(want.Shape) || !sameShapeLoose(got.Shape, want.Shape) || len(got.Data) != len(want.Data) {
		d.MaxAbsErr = math.Inf(1)
		return d
	}
	for i, w := range want.Data {
		g := got.Data[i]
		var e float64
		switch {
		case g == w, g != g && w != w: // equal, infinities included, or both NaN
		case g != g || w != w:
			e = math.Inf(1)
		default:
			e = math.Abs(float64(g) - float64(w))
		}
		d.MaxAbsErr = math.Max(d.MaxAbsErr, e)
	}
	return d
}

// sameShapeLoose treats a 0-d tensor and a one-element 1-d tensor as the
// same (PyTorch scalars are 0-d; some of our scalars are shape [1]).
func sameShapeLoose(a, b []int) bool {
	if tensor.SameShape(a, b) {
		return true
	}
	return tensor.Numel(a) == 1 && tensor.Numel(b) == 1 && len(a) <= 1 && len(b) <= 1
}
