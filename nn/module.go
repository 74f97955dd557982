// Package nn holds convnet's layers, with the names, hyper-parameters and
// state_dict keys of torch.nn: Conv2d, BatchNorm2d, Linear, MaxPool2d, ...
// A model is a tree of Modules; parameter and buffer names are the paths in
// that tree, so PyTorch state_dicts load without renaming.
//
// Layers are built in two steps, as PyTorch does on its meta device:
// constructors create the structure with shape-only (meta) tensors, and
// Materialize allocates and initialises them. Analysis of big models (shapes,
// parameter and MAC counts) therefore never allocates their weights.
package nn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/tensor"
)

// Module is a layer or a network: one input, one output.
type Module interface {
	Forward(x *autograd.Value) (*autograd.Value, error)
}

// Child is a named sub-module; the name is its state_dict path component.
type Child struct {
	Name   string
	Module Module
}

// Parent is a Module with sub-modules, listed in registration order (the
// order of PyTorch's state_dict).
type Parent interface {
	Children() []Child
}

// Param is a named trainable tensor of a layer.
type Param struct {
	Name  string
	Value *autograd.Value
}

// Buffer is a named non-trainable tensor of a layer (BatchNorm's running
// statistics).
type Buffer struct {
	Name   string
	Tensor *tensor.Tensor
	// Int64 marks buffers that PyTorch keeps as int64
	// (num_batches_tracked); convnet stores them as float32.
	Int64 bool
}

// HasParams is implemented by layers that own parameters.
type HasParams interface {
	Params() []Param
}

// HasBuffers is implemented by layers that own buffers.
type HasBuffers interface {
	Buffers() []Buffer
}

// Resetter is implemented by layers whose parameters Materialize allocates
// and initialises with PyTorch's reset_parameters defaults.
type Resetter interface {
	ResetParameters(rng *rand.Rand)
}

// TrainModer is implemented by layers that behave differently in training
// (BatchNorm2d, Dropout).
type TrainModer interface {
	SetTraining(training bool)
}

// Walk visits m and all sub-modules depth first, parents before children,
// with their dotted paths ("" for m itself).
func Walk(m Module, fn func(path string, m Module)) {
	walk("", m, fn)
}

func walk(path string, m Module, fn func(string, Module)) {
	fn(path, m)
	if p, ok := m.(Parent); ok {
		for _, c := range p.Children() {
			if c.Module == nil || isNilModule(c.Module) {
				continue
			}
			walk(join(path, c.Name), c.Module, fn)
		}
	}
}

func isNilModule(m Module) bool {
	v := reflect.ValueOf(m)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// NamedParam is a parameter with its full state_dict key.
type NamedParam struct {
	Key   string
	Value *autograd.Value
}

// Parameters returns every parameter of m with its state_dict key, in
// state_dict order.
func Parameters(m Module) []NamedParam {
	var out []NamedParam
	Walk(m, func(path string, l Module) {
		if hp, ok := l.(HasParams); ok {
			for _, p := range hp.Params() {
				if p.Value != nil {
					out = append(out, NamedParam{join(path, p.Name), p.Value})
				}
			}
		}
	})
	return out
}

// Entry is one state_dict item.
type Entry struct {
	Key    string
	Tensor *tensor.Tensor
	Buffer bool
	Int64  bool
}

// StateDict lists m's parameters and buffers under PyTorch's keys and in
// PyTorch's order (each module's parameters, then its buffers, then its
// children). The tensors are m's own, not copies.
func StateDict(m Module) []Entry {
	var out []Entry
	Walk(m, func(path string, l Module) {
		if hp, ok := l.(HasParams); ok {
			for _, p := range hp.Params() {
				if p.Value != nil {
					out = append(out, Entry{Key: join(path, p.Name), Tensor: p.Value.T})
				}
			}
		}
		if hb, ok := l.(HasBuffers); ok {
			for _, b := range hb.Buffers() {
				if b.Tensor != nil {
					out = append(out, Entry{Key: join(path, b.Name), Tensor: b.Tensor, Buffer: true, Int64: b.Int64})
				}
			}
		}
	})
	return out
}

// LoadStateDict copies tensors into m's parameters and buffers. With
// strict, every key of m must be present and no extra key may be given
// (as torch's load_state_dict(strict=True)); the error lists what is
// missing, unexpected or of the wrong shape.
func LoadStateDict(m Module, sd map[string]*tensor.Tensor, strict bool) error {
	entries := StateDict(m)
	known := map[string]bool{}
	var missing, mismatched []string
	for _, e := range entries {
		known[e.Key] = true
		t, ok := sd[e.Key]
		if !ok {
			missing = append(missing, e.Key)
			continue
		}
		if !tensor.SameShape(t.Shape, e.Tensor.Shape) {
			mismatched = append(mismatched, fmt.Sprintf("%s: checkpoint has %v, model has %v", e.Key, tensor.ShapeString(t.Shape), tensor.ShapeString(e.Tensor.Shape)))
			continue
		}
	}
	var unexpected []string
	for k := range sd {
		if !known[k] {
			unexpected = append(unexpected, k)
		}
	}
	sortStrings(unexpected)
	var errs []error
	if len(mismatched) > 0 {
		errs = append(errs, fmt.Errorf("size mismatch for %d keys: %s", len(mismatched), listSome(mismatched)))
	}
	if strict && len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing %d keys: %s", len(missing), listSome(missing)))
	}
	if strict && len(unexpected) > 0 {
		errs = append(errs, fmt.Errorf("unexpected %d keys: %s", len(unexpected), listSome(unexpected)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("load_state_dict: %w", errors.Join(errs...))
	}
	for _, e := range entries {
		t, ok := sd[e.Key]
		if !ok {
			continue
		}
		if t.Data == nil {
			return fmt.Errorf("load_state_dict: %s has no data", e.Key)
		}
		if e.Tensor.Data == nil || len(e.Tensor.Data) != len(t.Data) {
			e.Tensor.Data = make([]float32, len(t.Data))
		}
		copy(e.Tensor.Data, t.Data)
	}
	return nil
}

func listSome(s []string) string {
	const n = 8
	out := ""
	for i, k := range s {
		if i == n {
			out += fmt.Sprintf(", ... (%d more)", len(s)-n)
			break
		}
		if i > 0 {
			out += ", "
		}
		out += k
	}
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// SetTraining switches every layer of m to training (true) or evaluation
// mode, like module.train() / module.eval().
func SetTraining(m Module, training bool) {
	Walk(m, func(_ string, l Module) {
		if t, ok := l.(TrainModer); ok {
			t.SetTraining(training)
		}
	})
}

// Materialize allocates and initialises every layer's parameters and
// buffers with PyTorch's defaults, drawing from rng in module order.
func Materialize(m Module, rng *rand.Rand) {
	Walk(m, func(_ string, l Module) {
		if r, ok := l.(Resetter); ok {
			r.ResetParameters(rng)
		}
	})
}

// IsMeta reports whether any parameter or buffer of m has no storage yet.
func IsMeta(m Module) bool {
	for _, e := range StateDict(m) {
		if e.Tensor.IsMeta() {
			return true
		}
	}
	return false
}

// ZeroGrad drops the gradients of all parameters.
func ZeroGrad(m Module) {
	for _, p := range Parameters(m) {
		p.Value.ZeroGrad()
	}
}

// CountParams returns the number of parameter elements of m.
func CountParams(m Module) int64 {
	var n int64
	for _, p := range Parameters(m) {
		n += int64(p.Value.T.Numel())
	}
	return n
}
