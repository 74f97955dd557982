// Package analysis measures models without running them: a meta forward
// pass (shapes only, no weights needed) records every layer call with its
// output shape, activation memory, parameters, multiply-accumulates
// (ptflops' counting rules, those of the lecture's comparison table),
// receptive field and the lecture's output-size formula, and finds the
// depthwise-separable pairs of MobileNet-style nets.
package analysis

import (
	"fmt"
	"reflect"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// BytesPerElement is the size of a float32, the type of every tensor.
const BytesPerElement = 4

// Layer is one call of a leaf layer (a module without children).
type Layer struct {
	// Name is the layer's state_dict path ("features.0").
	Name string `json:"name"`
	// Type is the layer's type name ("Conv2d").
	Type   string `json:"type"`
	Output []int  `json:"output"`
	// Activations is the number of output elements, ActivationBytes their
	// size in float32.
	Activations     int64 `json:"activations"`
	ActivationBytes int64 `json:"activation_bytes"`
	// InPlace marks layers that torchvision runs in place or as views
	// (ReLU, Dropout, Flatten): their output is not counted again in the
	// report's activation memory.
	InPlace bool `json:"in_place"`
	// Params counts the layer's parameters; Weights leaves out biases, as
	// the lecture's VGG16 walk-through does.
	Params  int64 `json:"params"`
	Weights int64 `json:"weights"`
	// MACs are this call's multiply-accumulates (see layerMACs).
	MACs int64 `json:"macs"`
	// RF is the receptive field (height, width) of one output element in
	// input pixels; Jump is the distance in input pixels between two
	// adjacent outputs.
	RF   [2]int `json:"rf"`
	Jump [2]int `json:"jump"`
	// Formula is the lecture's (W-F+2P)/S+1 with this layer's numbers,
	// for convolutions and poolings with a kernel; empty otherwise.
	Formula string `json:"formula,omitempty"`
}

// Report is the result of Profile.
type Report struct {
	// Input is the traced input shape [N, C, H, W].
	Input  []int   `json:"input"`
	Layers []Layer `json:"layers"`
	// Params counts every trainable parameter of the model, including
	// branches the evaluation pass does not run (Inception v3's auxiliary
	// classifier), as ptflops' get_model_parameters_number does.
	Params int64 `json:"params"`
	// MACs is the sum over layer calls.
	MACs int64 `json:"macs"`
	// ActivationElems is the forward activation memory: the input plus the
	// output of every layer call that is not in place (see Layer.InPlace);
	// keeping them for backward roughly doubles it.
	ActivationElems int64 `json:"activation_elems"`
	ActivationBytes int64 `json:"activation_bytes"`
	// ParamBytes is the float32 size of the parameters.
	ParamBytes int64 `json:"param_bytes"`
	// Separable lists the depthwise-separable pairs found.
	Separable []Separable `json:"separable,omitempty"`
}

// Profile runs a meta forward pass of m on an input of shape
// [N, C, H, W] and reports every leaf layer call. m is switched to
// evaluation mode first, as ptflops does (Inception's auxiliary head and
// Dropout are then inactive). m's weights need not be allocated. Errors
// name the failing layer (an *nn.LayerError), e.g. when the input is too
// small for a kernel.
func Profile(m nn.Module, input []int) (*Report, error) {
	if len(input) != 4 {
		return nil, fmt.Errorf("analysis: input shape must be [N, C, H, W], got %v", input)
	}
	for _, d := range input {
		if d <= 0 {
			return nil, fmt.Errorf("analysis: input shape %v must be positive", input)
		}
	}
	nn.SetTraining(m, false)
	ctx := &autograd.Context{NoGrad: true, KeepGraph: true}
	x := autograd.Input(tensor.Meta(input...), ctx, false)
	t := newTracer(x)
	if _, err := nn.Run(m, x, t); err != nil {
		return nil, err
	}
	r := &Report{Input: append([]int(nil), input...), Layers: t.rows, Params: nn.CountParams(m)}
	r.ActivationElems = numel(input)
	for _, l := range t.rows {
		r.MACs += l.MACs
		if !l.InPlace {
			r.ActivationElems += l.Activations
		}
	}
	r.ActivationBytes = r.ActivationElems * BytesPerElement
	r.ParamBytes = r.Params * BytesPerElement
	r.Separable = t.separable()
	return r, nil
}

// rf is the receptive field state of a value: field size and jump per
// spatial axis (height, width).
type rf struct {
	size, jump [2]int
}

// tracer is the nn.Tracer of Profile.
type tracer struct {
	input *autograd.Value
	rows  []Layer
	// rfs memoises the receptive field of values seen so far.
	rfs map[*autograd.Value]rf
	// rowOf maps a layer call's output to its row; rowIn and rowMod keep
	// each row's input and module.
	rowOf  map[*autograd.Value]int
	rowIn  []*autograd.Value
	rowMod []nn.Module
}

func newTracer(x *autograd.Value) *tracer {
	return &tracer{input: x,
		rfs:   map[*autograd.Value]rf{x: {size: [2]int{1, 1}, jump: [2]int{1, 1}}},
		rowOf: map[*autograd.Value]int{}}
}

// Layer records a leaf layer call; composite modules only pass through.
func (t *tracer) Layer(path string, m nn.Module, in, out *autograd.Value) {
	if hasChildren(m) {
		return
	}
	inShape, outShape := in.Shape(), out.Shape()
	row := Layer{
		Name:        path,
		Type:        nn.TypeName(m),
		Output:      append([]int(nil), outShape...),
		Activations: numel(outShape),
		InPlace:     inPlace(m),
		MACs:        layerMACs(m, inShape, outShape),
	}
	row.ActivationBytes = row.Activations * BytesPerElement
	if hp, ok := m.(nn.HasParams); ok {
		for _, p := range hp.Params() {
			if p.Value == nil {
				continue
			}
			n := int64(p.Value.T.Numel())
			row.Params += n
			if p.Name != "bias" {
				row.Weights += n
			}
		}
	}
	r := t.rfOf(in)
	if w, ok := window(m, inShape, outShape); ok {
		for i := 0; i < 2; i++ {
			r.size[i] += (w.kernel[i] - 1) * w.dilation[i] * r.jump[i]
			r.jump[i] *= w.stride[i]
		}
		if w.formula {
			row.Formula = formula(inShape, outShape, w)
		}
	} else {
		r = collapse(r, inShape, outShape)
	}
	row.RF, row.Jump = r.size, r.jump
	if out != in {
		t.rfs[out] = r
		t.rowOf[out] = len(t.rows)
	}
	t.rows = append(t.rows, row)
	t.rowIn = append(t.rowIn, in)
	t.rowMod = append(t.rowMod, m)
}

// rfOf returns the receptive field of v. Values made by functional
// operations (torch.cat, +, F.relu, flatten) are not layer calls: their
// field is the largest over the inputs that carry one, which is the rule
// at merges (Add, Concat). Weights and other leaves carry none.
func (t *tracer) rfOf(v *autograd.Value) rf {
	r, _ := t.rfWalk(v)
	return r
}

func (t *tracer) rfWalk(v *autograd.Value) (rf, bool) {
	if r, ok := t.rfs[v]; ok {
		return r, true
	}
	out := rf{size: [2]int{1, 1}, jump: [2]int{1, 1}}
	found := false
	for _, p := range v.Parents() {
		if p == nil {
			continue
		}
		pr, ok := t.rfWalk(p)
		if !ok {
			continue
		}
		pr = collapse(pr, p.Shape(), v.Shape())
		for i := 0; i < 2; i++ {
			out.size[i] = max(out.size[i], pr.size[i])
			out.jump[i] = max(out.jump[i], pr.jump[i])
		}
		found = true
	}
	if found {
		t.rfs[v] = out
	}
	return out, found
}

// collapse handles an operation that drops the spatial axes (flatten
// before a classifier): every output then sees the whole input map, as
// if through a kernel as large as the map.
func collapse(r rf, in, out []int) rf {
	if len(in) != 4 || len(out) == 4 {
		return r
	}
	for i := 0; i < 2; i++ {
		r.size[i] += (in[2+i] - 1) * r.jump[i]
		r.jump[i] *= in[2+i]
	}
	return r
}

// hasChildren reports whether m is a composite module.
func hasChildren(m nn.Module) bool {
	p, ok := m.(nn.Parent)
	if !ok {
		return false
	}
	for _, c := range p.Children() {
		if c.Module == nil {
			continue
		}
		if v := reflect.ValueOf(c.Module); v.Kind() == reflect.Pointer && v.IsNil() {
			continue
		}
		return true
	}
	return false
}
