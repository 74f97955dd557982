package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/convnet/convnet/tensor"
)

// GradCheck verifies the gradients that backward computes for f against
// central finite differences, like torch.autograd.gradcheck but for
// float32: f's output is projected on a fixed random tensor R, L = sum(f*R)
// (accumulated in float64), so that one backward pass seeded with R gives
// dL/dx for every input element, and each element is then perturbed by
// +-eps, giving (L(x+h) - L(x-h)) / (2h) with h the perturbation that
// float32 actually represents.
//
// An element passes when |analytic - numeric| <= tol * max(1, |numeric|).
// float32 forward passes make the numeric derivative noisy by about
// 1e-7 * |L| / eps, so eps around 1e-2 and tol around 1e-3 suit functions
// with O(1) values. f must be deterministic (a Dropout inside must draw its
// mask from a generator seeded afresh on every call) and must not have a
// kink within eps of an input (ReLU at 0, a max-pooling tie).
//
// inputs are not modified. The error names the worst element.
func GradCheck(f func(inputs []*Value) (*Value, error), inputs []*tensor.Tensor, eps, tol float64) error {
	_, err := gradCheck(f, inputs, eps, tol)
	return err
}

// gradCheck is GradCheck that also returns the worst relative error seen.
func gradCheck(f func(inputs []*Value) (*Value, error), inputs []*tensor.Tensor, eps, tol float64) (float64, error) {
	if eps <= 0 || tol <= 0 {
		return 0, fmt.Errorf("gradcheck: eps %g and tol %g must be positive", eps, tol)
	}
	xs := make([]*tensor.Tensor, len(inputs))
	vs := make([]*Value, len(inputs))
	for i, t := range inputs {
		if t.IsMeta() {
			return 0, fmt.Errorf("gradcheck: input %d is a meta tensor", i)
		}
		xs[i] = t.Clone()
		vs[i] = Input(xs[i], nil, true)
	}
	out, err := f(vs)
	if err != nil {
		return 0, fmt.Errorf("gradcheck: forward: %w", err)
	}
	// A fixed projection: the check is reproducible, and every output
	// element has its own weight, so a gradient sent to the wrong output
	// position cannot cancel out.
	rng := rand.New(rand.NewPCG(0x6772616463686b, 1))
	r := tensor.New(out.T.Shape...)
	for i := range r.Data {
		r.Data[i] = float32(rng.Float64()*2 - 1)
	}
	project := func(y *tensor.Tensor) float64 {
		var s float64
		for i, v := range y.Data {
			s += float64(v) * float64(r.Data[i])
		}
		return s
	}
	if !out.RequiresGrad() {
		return 0, fmt.Errorf("gradcheck: the output does not depend on any input")
	}
	if err := out.BackwardWith(r); err != nil {
		return 0, fmt.Errorf("gradcheck: backward: %w", err)
	}
	loss := func() (float64, error) {
		ctx := &Context{NoGrad: true}
		in := make([]*Value, len(xs))
		for i, t := range xs {
			in[i] = Input(t, ctx, false)
		}
		y, err := f(in)
		if err != nil {
			return 0, err
		}
		if !tensor.SameShape(y.T.Shape, r.Shape) {
			return 0, fmt.Errorf("output shape changed from %v to %v", r.Shape, y.T.Shape)
		}
		return project(y.T), nil
	}
	worst, worstMsg := 0.0, ""
	for i, x := range xs {
		grad := vs[i].Grad
		for j, x0 := range x.Data {
			hi, lo := float32(float64(x0)+eps), float32(float64(x0)-eps)
			x.Data[j] = hi
			lp, err := loss()
			if err != nil {
				return 0, fmt.Errorf("gradcheck: forward at input %d element %d: %w", i, j, err)
			}
			x.Data[j] = lo
			lm, err := loss()
			x.Data[j] = x0
			if err != nil {
				return 0, fmt.Errorf("gradcheck: forward at input %d element %d: %w", i, j, err)
			}
			num := (lp - lm) / (float64(hi) - float64(lo))
			var ana float64
			if grad != nil {
				ana = float64(grad.Data[j])
			}
			e := math.Abs(ana-num) / math.Max(1, math.Abs(num))
			if e > worst || math.IsNaN(e) {
				worst = e
				worstMsg = fmt.Sprintf("input %d %v element %d (index %v): analytic %.6g, numeric %.6g",
					i, x.Shape, j, unravel(j, x.Shape), ana, num)
			}
		}
	}
	if worst > tol || math.IsNaN(worst) {
		return worst, fmt.Errorf("gradcheck: relative error %.3g > %.3g at %s", worst, tol, worstMsg)
	}
	return worst, nil
}

func unravel(j int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = j % shape[d]
			j /= shape[d]
		}
	}
	return idx
}
