package nn

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/convnet/convnet/autograd"
)

// Tracer observes every layer call of a forward pass (the summary and MAC
// counting use it, like PyTorch's forward hooks).
type Tracer interface {
	Layer(path string, m Module, in, out *autograd.Value)
}

// callState rides in the forward pass's autograd.Context.
type callState struct {
	names  map[Module]string
	tracer Tracer
}

// LayerError is an error raised inside a layer, with the layer's
// state_dict path and type.
type LayerError struct {
	Path string
	Type string
	Err  error
}

func (e *LayerError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %v", e.Type, e.Err)
	}
	return fmt.Sprintf("layer %s (%s): %v", e.Path, e.Type, e.Err)
}

func (e *LayerError) Unwrap() error { return e.Err }

// TypeName returns a module's type name without package ("Conv2d").
func TypeName(m Module) string {
	t := reflect.TypeOf(m)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// Run is the entry point of a forward pass: it runs m on x so that errors
// name the failing layer by its state_dict path and tracer (may be nil)
// sees every layer. x is given a context if it has none.
func Run(m Module, x *autograd.Value, tracer Tracer) (*autograd.Value, error) {
	ctx := x.Ctx()
	if ctx == nil {
		ctx = &autograd.Context{}
		if err := x.SetCtx(ctx); err != nil {
			return nil, err
		}
	}
	names := map[Module]string{}
	Walk(m, func(path string, l Module) {
		if _, dup := names[l]; !dup {
			names[l] = path
		}
	})
	old := ctx.Hook
	ctx.Hook = &callState{names: names, tracer: tracer}
	defer func() { ctx.Hook = old }()
	return Call(m, x)
}

// Infer runs m on x without recording anything for backward (PyTorch's
// torch.no_grad). Like no_grad it does not switch layers to evaluation
// mode: call SetTraining(m, false) first, or BatchNorm uses and updates
// batch statistics and Dropout drops.
func Infer(m Module, x *autograd.Value) (*autograd.Value, error) {
	if err := x.SetCtx(&autograd.Context{NoGrad: true}); err != nil {
		return nil, err
	}
	return Run(m, x, nil)
}

// Call runs a sub-module. Composite modules call their children through
// it so that errors and tracers see each layer.
func Call(m Module, x *autograd.Value) (out *autograd.Value, err error) {
	var st *callState
	if ctx := x.Ctx(); ctx != nil {
		st, _ = ctx.Hook.(*callState)
	}
	out, err = m.Forward(x)
	if err != nil {
		var le *LayerError
		if errors.As(err, &le) {
			return nil, err
		}
		path := ""
		if st != nil {
			path = st.names[m]
		}
		return nil, &LayerError{Path: path, Type: TypeName(m), Err: err}
	}
	if st != nil && st.tracer != nil {
		st.tracer.Layer(st.names[m], m, x, out)
	}
	return out, nil
}
