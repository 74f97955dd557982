package infer

import (
	"fmt"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// node is one value of the traced graph: the graph input, or the output of
// one autograd operation. Parameters are not nodes: they are the constant
// operands (consts) of the operation that reads them, at their position in
// the operation's parents.
type node struct {
	id    int // topological index
	op    autograd.Op
	attrs any
	shape []int
	name  string // the layer that produced the value, when known

	// args are the parents in the operation's order: for each, either an
	// activation (ins[i] != nil) or a constant tensor (consts[i] != nil);
	// both nil for an absent optional operand (a conv without bias).
	ins    []*node
	consts []*tensor.Tensor

	users   []*node // operations reading this value, each once
	isInput bool
	isOut   bool

	// Set by the passes.
	fusedInto *node // this value is never materialised: node fusedInto's operation computes past it
	at        loc   // where the value lives, once placed
	placed    bool
}

// inputs returns the activation operands.
func (n *node) inputs() []*node {
	var out []*node
	for _, in := range n.ins {
		if in != nil {
			out = append(out, in)
		}
	}
	return out
}

// sole reports whether n's only reader is u (and n is not the plan's
// output), the condition for computing past n without storing it.
func (n *node) sole(u *node) bool {
	return !n.isOut && len(n.users) == 1 && n.users[0] == u
}

// dims splits a shape into batch, channels and the size of one channel
// plane; a value of rank below 2 is one plane.
func dims(shape []int) (n, c, inner int) {
	switch len(shape) {
	case 0:
		return 1, 1, 1
	case 1:
		return 1, 1, shape[0]
	}
	return shape[0], shape[1], tensor.Numel(shape[2:])
}

// graph is a traced model.
type graph struct {
	nodes  []*node // topological order; nodes[0] is the input
	input  *node
	output *node
}

// nameTracer remembers which layer produced each value: the innermost
// layer call reports first, so the first name recorded is the most
// specific one.
type nameTracer map[*autograd.Value]string

func (t nameTracer) Layer(path string, _ nn.Module, _, out *autograd.Value) {
	if _, ok := t[out]; !ok && path != "" {
		t[out] = path
	}
}

// trace switches m to evaluation mode, runs one meta forward pass on an
// input of the given shape, and rebuilds the graph from the output back to
// the input.
func trace(m nn.Module, input []int) (*graph, error) {
	nn.SetTraining(m, false)
	ctx := &autograd.Context{NoGrad: true, KeepGraph: true}
	x := autograd.Input(tensor.Meta(input...), ctx, false)
	names := nameTracer{}
	y, err := nn.Run(m, x, names)
	if err != nil {
		return nil, fmt.Errorf("infer: tracing the model on input %v: %w", input, err)
	}
	g := &graph{}
	byValue := map[*autograd.Value]*node{}
	// An explicit stack: deep nets (resnet152, densenet264) have graphs
	// thousands of values long.
	type frame struct {
		v *autograd.Value
		i int
	}
	visit := func(root *autograd.Value) (*node, error) {
		stack := []frame{{root, 0}}
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if _, done := byValue[f.v]; done {
				stack = stack[:len(stack)-1]
				continue
			}
			ps := f.v.Parents()
			if f.v != x && f.i < len(ps) {
				p := ps[f.i]
				f.i++
				if p != nil && !isConst(p, x) {
					if _, done := byValue[p]; !done {
						stack = append(stack, frame{p, 0})
					}
				}
				continue
			}
			n, err := newNode(f.v, x, byValue)
			if err != nil {
				return nil, err
			}
			n.id = len(g.nodes)
			n.name = names[f.v]
			byValue[f.v] = n
			g.nodes = append(g.nodes, n)
			stack = stack[:len(stack)-1]
		}
		return byValue[root], nil
	}
	// The input comes first even if the output does not read it.
	if _, err := visit(x); err != nil {
		return nil, err
	}
	out, err := visit(y)
	if err != nil {
		return nil, err
	}
	g.input, g.output = byValue[x], out
	out.isOut = true
	for _, n := range g.nodes {
		seen := map[*node]bool{}
		for _, in := range n.ins {
			if in != nil && !seen[in] {
				seen[in] = true
				in.users = append(in.users, n)
			}
		}
	}
	return g, nil
}

// isConst reports whether v is a parameter or other constant leaf (not
// the traced input).
func isConst(v, input *autograd.Value) bool {
	op, _ := v.Op()
	return v != input && op == autograd.OpLeaf
}

func newNode(v, input *autograd.Value, byValue map[*autograd.Value]*node) (*node, error) {
	op, attrs := v.Op()
	n := &node{op: op, attrs: attrs, shape: append([]int(nil), v.T.Shape...)}
	if v == input {
		n.isInput = true
		return n, nil
	}
	if op == autograd.OpLeaf {
		return nil, fmt.Errorf("infer: the output does not depend on the input (a constant of shape %v)", v.T.Shape)
	}
	ps := v.Parents()
	if ps == nil {
		return nil, fmt.Errorf("infer: a %s output %v has no recorded inputs (was the trace made with KeepGraph?)", op, v.T.Shape)
	}
	n.ins = make([]*node, len(ps))
	n.consts = make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		switch {
		case p == nil:
		case isConst(p, input):
			if p.T.IsMeta() {
				return nil, fmt.Errorf("infer: a %s operand of shape %v has no data: materialise the model or load its weights before compiling", op, p.T.Shape)
			}
			n.consts[i] = p.T
		default:
			n.ins[i] = byValue[p]
		}
	}
	return n, nil
}
