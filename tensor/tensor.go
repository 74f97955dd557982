// Package tensor is convnet's n-dimensional float32 array: a shape and a
// contiguous row-major buffer (NCHW for images). Shapes are checked once per
// operation, never per element. A tensor whose Data is nil is a "meta" tensor:
// it has a shape and no storage, which lets models be traced for shapes,
// parameter counts and MACs without computing anything (like PyTorch's meta
// device).
package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Tensor is a contiguous float32 array. Shape and Data are exported so that
// kernels and readers can work on them directly; len(Data) == Numel(Shape)
// unless the tensor is meta (Data == nil).
type Tensor struct {
	Shape []int
	Data  []float32
}

// Numel returns the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// Meta returns a tensor with a shape and no storage.
func Meta(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...)}
}

// FromSlice wraps data (not copied) as a tensor of the given shape.
func FromSlice(data []float32, shape ...int) (*Tensor, error) {
	if err := CheckShape(shape); err != nil {
		return nil, err
	}
	if len(data) != Numel(shape) {
		return nil, fmt.Errorf("tensor: %d values do not fill shape %v (%d elements)", len(data), shape, Numel(shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}, nil
}

// CheckShape reports negative dimensions.
func CheckShape(shape []int) error {
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("tensor: negative dimension in shape %v", shape)
		}
	}
	return nil
}

// Full returns a tensor filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// Randn returns a tensor of standard normal samples from rng.
func Randn(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// Uniform returns a tensor of samples uniform in [lo, hi).
func Uniform(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*rng.Float32()
	}
	return t
}

// IsMeta reports whether t has no storage.
func (t *Tensor) IsMeta() bool { return t.Data == nil && Numel(t.Shape) > 0 }

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// Dim returns the number of dimensions.
func (t *Tensor) Dim() int { return len(t.Shape) }

// Clone returns a deep copy (meta stays meta).
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Shape: append([]int(nil), t.Shape...)}
	if t.Data != nil {
		c.Data = append([]float32(nil), t.Data...)
	}
	return c
}

// ZerosLike returns a zero tensor (or meta tensor) of t's shape.
func ZerosLike(t *Tensor) *Tensor {
	if t.IsMeta() {
		return Meta(t.Shape...)
	}
	return New(t.Shape...)
}

// Reshape returns a tensor sharing t's storage with a new shape. One
// dimension may be -1 and is inferred.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	s := append([]int(nil), shape...)
	infer := -1
	known := 1
	for i, d := range s {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, fmt.Errorf("tensor: invalid reshape of %v to %v", t.Shape, shape)
		default:
			known *= d
		}
	}
	n := t.Numel()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("tensor: cannot reshape %v to %v", t.Shape, shape)
		}
		s[infer] = n / known
	}
	if Numel(s) != n {
		return nil, fmt.Errorf("tensor: cannot reshape %v (%d elements) to %v", t.Shape, n, shape)
	}
	return &Tensor{Shape: s, Data: t.Data}, nil
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b []int) bool {
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

// ShapeString formats a shape like PyTorch's torch.Size: [2, 3, 224, 224].
func ShapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// MaxAbs returns max |t_i|.
func (t *Tensor) MaxAbs() float32 {
	var m float32
	for _, v := range t.Data {
		if a := float32(math.Abs(float64(v))); a > m {
			m = a
		}
	}
	return m
}

// MaxAbsDiff returns max |a_i - b_i|; shapes must match.
func MaxAbsDiff(a, b *Tensor) (float32, error) {
	if !SameShape(a.Shape, b.Shape) {
		return 0, fmt.Errorf("tensor: shapes %v and %v differ", a.Shape, b.Shape)
	}
	var m float32
	for i := range a.Data {
		d := a.Data[i] - b.Data[i]
		if d < 0 {
			d = -d
		}
		if d != d || d > m {
			m = d
		}
	}
	return m, nil
}

// AddInPlace does t += u (same shape, checked by the caller).
func (t *Tensor) AddInPlace(u *Tensor) {
	d, s := t.Data, u.Data[:len(t.Data)]
	for i := range d {
		d[i] += s[i]
	}
}

// Scale does t *= a.
func (t *Tensor) Scale(a float32) {
	for i := range t.Data {
		t.Data[i] *= a
	}
}

// Sum returns the float64 sum of the elements.
func (t *Tensor) Sum() float64 {
	var s float64
	for _, v := range t.Data {
		s += float64(v)
	}
	return s
}
