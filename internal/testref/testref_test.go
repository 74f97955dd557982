package testref

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// fakeTB records how Dir ends a test instead of ending this one.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runDir(sub string) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Dir(f, sub)
	}()
	<-done
	return f
}

func TestMissingRefsSkipOrFail(t *testing.T) {
	const sub = "no-such-reference-set"
	t.Setenv("CI", "")
	if f := runDir(sub); !f.skipped || f.failed || !strings.Contains(f.msg, MakeRefs) {
		t.Errorf("without CI: skipped=%v failed=%v %q", f.skipped, f.failed, f.msg)
	}
	t.Setenv("CI", "true")
	if f := runDir(sub); !f.failed || f.skipped || !strings.Contains(f.msg, MakeRefs) {
		t.Errorf("with CI: skipped=%v failed=%v %q", f.skipped, f.failed, f.msg)
	}
}

func TestRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("root %q has no go.mod: %v", root, err)
	}
}

func TestCompare(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	mk := func(v ...float32) *tensor.Tensor { return &tensor.Tensor{Shape: []int{len(v)}, Data: v} }
	for _, c := range []struct {
		got, want *tensor.Tensor
		tol       float64
		ok        bool
	}{
		{mk(1, 2, 3), mk(1, 2, 3), 0, true},
		{mk(1, 2, 3.00001), mk(1, 2, 3), 1e-5, true}, // 1e-5 <= 1e-5*3
		{mk(1, 2, 3.0001), mk(1, 2, 3), 1e-5, false}, // 1e-4 > 3e-5
		{mk(0.5, 0.00001), mk(0.5, 0), 1e-5, true},   // bound is tol*max(1, max|ref|)
		{mk(nan, 1), mk(nan, 1), 1e-5, true},         // NaN where the reference has NaN
		{mk(nan, 1), mk(0, 1), 1e-5, false},          // NaN where it has none
		{mk(0, 1), mk(nan, 1), 1e-5, false},          // a number where it has NaN
		{mk(inf, 1), mk(inf, 1), 1e-5, true},         // equal infinities
		{mk(inf, 1), mk(-inf, 1), 1e-5, false},       // opposite infinities
		{mk(1, 2), mk(1, 2, 3), 1e-5, false},         // size mismatch
		{&tensor.Tensor{Shape: []int{1}, Data: []float32{2}}, &tensor.Tensor{Shape: []int{}, Data: []float32{2}}, 0, true}, // scalar vs 0-d
	} {
		if d := Compare(c.got, c.want, c.tol); d.OK() != c.ok {
			t.Errorf("Compare(%v, %v, %g) = %v, want ok=%v", c.got.Data, c.want.Data, c.tol, d, c.ok)
		}
	}
}
