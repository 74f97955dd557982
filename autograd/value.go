// Package autograd is convnet's reverse-mode automatic differentiation: a
// Value wraps a tensor, operations on Values record how to send gradients
// back to their inputs, and Backward walks that graph once in reverse
// topological order, so branches and merges (Inception branches, ResNet
// shortcuts, DenseNet concatenations) accumulate correctly.
//
// Operations also run without recording (a Context with NoGrad), which is
// the inference path: nothing is kept for backward, and each activation
// becomes garbage as soon as the next layer has read it. On meta tensors
// (shape only) operations check and propagate shapes without computing.
package autograd

import (
	"errors"
	"fmt"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// Context is shared by the Values of one forward pass. Outputs inherit the
// context of their first input that has one.
type Context struct {
	// NoGrad disables recording: outputs never require gradients.
	NoGrad bool
	// Hook is opaque to autograd; the nn package keeps its forward hooks
	// here (layer tracing for summaries).
	Hook any
	// KeepGraph makes operations on meta (shape-only) tensors remember
	// their inputs, so that analyses can walk the graph (receptive fields
	// through branches and merges). It never enables backward.
	KeepGraph bool
}

// Value is a tensor in a computation graph.
type Value struct {
	T    *tensor.Tensor
	Grad *tensor.Tensor

	requiresGrad bool
	node         *node
	ctx          *Context
	op           Op
	attrs        any
}

type node struct {
	parents  []*Value
	backward func(g *tensor.Tensor)
}

// Op names the operation that produced a Value. With Attrs (its
// hyper-parameters) and Parents it lets a compiler (the inference plan)
// rebuild the graph from one traced pass.
type Op string

// The operations. Attrs holds, per op: OpConv2d kernels.ConvParams,
// OpMaxPool2d kernels.PoolParams, OpAvgPool2d AvgPoolAttrs,
// OpAdaptiveAvgPool2d [2]int, OpBatchNorm2d BatchNormOpts, OpClamp
// ClampAttrs, OpLocalResponseNorm LRNAttrs, OpSoftmax SoftmaxAttrs,
// OpChannelShuffle int (groups), OpNarrow [2]int (start, length),
// OpScale float32, OpDropout float32; nil for the others.
const (
	OpLeaf              Op = ""
	OpConv2d            Op = "Conv2d"
	OpLinear            Op = "Linear"
	OpClamp             Op = "Clamp"
	OpAdd               Op = "Add"
	OpScale             Op = "Scale"
	OpMul               Op = "Mul"
	OpSum               Op = "Sum"
	OpReshape           Op = "Reshape"
	OpConcat            Op = "Concat"
	OpChannelShuffle    Op = "ChannelShuffle"
	OpNarrow            Op = "Narrow"
	OpSoftmax           Op = "Softmax"
	OpCrossEntropy      Op = "CrossEntropy"
	OpBatchNorm2d       Op = "BatchNorm2d"
	OpLocalResponseNorm Op = "LocalResponseNorm"
	OpDropout           Op = "Dropout"
	OpMaxPool2d         Op = "MaxPool2d"
	OpAvgPool2d         Op = "AvgPool2d"
	OpAdaptiveAvgPool2d Op = "AdaptiveAvgPool2d"
)

// ClampAttrs: ReLU is Max < 0 (no upper bound), ReLU6 is Max 6.
type ClampAttrs struct{ Max float32 }

// SoftmaxAttrs are softmax's dimension and whether it is log-softmax.
type SoftmaxAttrs struct {
	Dim int
	Log bool
}

// LRNAttrs are LocalResponseNorm's hyper-parameters.
type LRNAttrs struct {
	Size           int
	Alpha, Beta, K float32
}

// AvgPoolAttrs are AvgPool2d's window and padding rule.
type AvgPoolAttrs struct {
	Params          kernels.PoolParams
	CountIncludePad bool
}

// Param returns a leaf that accumulates gradients (a trainable parameter).
func Param(t *tensor.Tensor) *Value { return &Value{T: t, requiresGrad: true} }

// Const returns a leaf without gradient.
func Const(t *tensor.Tensor) *Value { return &Value{T: t} }

// Input returns a leaf in the given context (nil for a plain leaf). With
// requiresGrad the leaf collects its gradient, as for input-gradient checks.
func Input(t *tensor.Tensor, ctx *Context, requiresGrad bool) *Value {
	return &Value{T: t, ctx: ctx, requiresGrad: requiresGrad && (ctx == nil || !ctx.NoGrad)}
}

// RequiresGrad reports whether gradients flow to or through v.
func (v *Value) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad marks a leaf as trainable or frozen.
func (v *Value) SetRequiresGrad(b bool) { v.requiresGrad = b }

// Ctx returns v's context, or nil.
func (v *Value) Ctx() *Context { return v.ctx }

// Shape returns the shape of v's tensor.
func (v *Value) Shape() []int { return v.T.Shape }

// ZeroGrad drops the accumulated gradient.
func (v *Value) ZeroGrad() { v.Grad = nil }

// Detach returns a leaf sharing v's tensor, cut from the graph.
func (v *Value) Detach() *Value { return &Value{T: v.T, ctx: v.ctx} }

// record makes the output Value of an operation. The backward closure is
// kept only if gradients are enabled and some input requires them.
func record(op Op, attrs any, out *tensor.Tensor, backward func(g *tensor.Tensor), parents ...*Value) *Value {
	v := &Value{T: out, op: op, attrs: attrs}
	need := false
	for _, p := range parents {
		if p == nil {
			continue
		}
		if v.ctx == nil && p.ctx != nil {
			v.ctx = p.ctx
		}
		need = need || p.requiresGrad
	}
	if v.ctx != nil && v.ctx.NoGrad {
		need = false
	}
	if need && !out.IsMeta() && backward != nil {
		v.requiresGrad = true
		v.node = &node{parents: parents, backward: backward}
	} else if out.IsMeta() && v.ctx != nil && v.ctx.KeepGraph {
		v.node = &node{parents: parents}
	}
	return v
}

// Op returns the operation that produced v and its attributes (OpLeaf
// for leaves).
func (v *Value) Op() (Op, any) { return v.op, v.attrs }

// Parents returns the inputs of the operation that produced v, when they
// were recorded (gradients enabled, or a meta pass with KeepGraph).
func (v *Value) Parents() []*Value {
	if v.node == nil {
		return nil
	}
	return v.node.parents
}

// isMeta reports whether any input is shape-only.
func isMeta(vs ...*Value) bool {
	for _, v := range vs {
		if v != nil && v.T.IsMeta() {
			return true
		}
	}
	return false
}

// accumulate adds g into v.Grad. owned says g may be kept as is; otherwise
// it is copied, since the same gradient tensor can reach several parents.
func accumulate(v *Value, g *tensor.Tensor, owned bool) {
	if v == nil || !v.requiresGrad {
		return
	}
	if v.Grad == nil {
		if owned {
			v.Grad = g
			return
		}
		c := tensor.Empty(g.Shape...)
		src, dst := g.Data, c.Data
		kernels.Parallel(len(dst), ewGrain, func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
		v.Grad = c
		return
	}
	// Values used twice (a residual block's input) sum their gradients
	// here: full activation-sized adds, so spread over the workers.
	dst, src := v.Grad.Data, g.Data[:len(v.Grad.Data)]
	kernels.Parallel(len(dst), ewGrain, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// ErrNotScalar is returned by Backward on a non-scalar root.
var ErrNotScalar = errors.New("autograd: backward needs a scalar (one element) or an explicit gradient")

// Backward computes gradients of v (a one-element tensor) with respect to
// every Value that requires them. Leaves accumulate into Grad; the graph is
// released afterwards, as PyTorch does without retain_graph.
func (v *Value) Backward() error {
	if v.T.Numel() != 1 {
		return ErrNotScalar
	}
	return v.BackwardWith(tensor.Full(1, v.T.Shape...))
}

// BackwardWith runs backward from v seeded with gradient g (v's shape).
func (v *Value) BackwardWith(g *tensor.Tensor) error { return v.backward(g, false, nil) }

// BackwardRelease is Backward for a caller that is done with the graph,
// a training step: besides releasing the graph it hands the storage of
// every intermediate value and gradient back to tensor.Empty for the next
// step (see tensor.Recycle). Only v, the values in keep and the leaves
// (parameters, inputs) stay readable; any other Value of the graph that
// the caller still holds may be left empty.
func (v *Value) BackwardRelease(keep ...*Value) error {
	if v.T.Numel() != 1 {
		return ErrNotScalar
	}
	return v.backward(tensor.Full(1, v.T.Shape...), true, keep)
}

func (v *Value) backward(g *tensor.Tensor, release bool, keep []*Value) error {
	if !tensor.SameShape(v.T.Shape, g.Shape) {
		return fmt.Errorf("autograd: seed gradient shape %v does not match output %v", g.Shape, v.T.Shape)
	}
	if !v.requiresGrad {
		return errors.New("autograd: output does not require grad (no parameter or input reaches it, or NoGrad is set)")
	}
	order := topoOrder(v)
	for _, n := range order {
		// An operation's output without its node was released by an
		// earlier backward: going on would silently drop the gradients
		// that should flow through it (PyTorch raises here too).
		if n.node == nil && n.op != OpLeaf {
			return fmt.Errorf("autograd: backward through a graph already released by an earlier backward (at a %s output %v); run the forward pass again, or sum the losses and call backward once", n.op, n.T.Shape)
		}
	}
	accumulate(v, g, false)
	// With release: storage that must survive (leaves, inputs that need no
	// gradient, kept values), by the address of its first element so that
	// views of it are recognised too.
	var held map[*float32]bool
	if release {
		held = map[*float32]bool{}
		hold := func(t *tensor.Tensor) {
			if t != nil && len(t.Data) > 0 {
				held[&t.Data[0]] = true
			}
		}
		hold(v.T)
		for _, k := range keep {
			if k != nil {
				hold(k.T)
			}
		}
		for _, n := range order {
			if n.node == nil {
				hold(n.T) // a leaf
				continue
			}
			for _, p := range n.node.parents {
				if p != nil && !p.requiresGrad {
					hold(p.T)
				}
			}
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if n.node == nil {
			continue
		}
		if n.Grad != nil {
			n.node.backward(n.Grad)
			if release && len(n.Grad.Data) > 0 && !adopted(n) {
				tensor.Recycle(n.Grad)
			}
		}
		// Interior gradients and the graph are not needed any more.
		n.Grad = nil
		n.node = nil
		if release {
			// Every reader of n's output has run its backward (they come
			// after n in topological order), and n's own just ran: its
			// storage can serve the gradients still to come. Storage is
			// recycled once, by address (an in-place ReLU shares its
			// input's).
			recycleOutput(n, held)
		}
	}
	return nil
}

func recycleOutput(n *Value, held map[*float32]bool) {
	if n.op == OpLeaf || n.T == nil || len(n.T.Data) == 0 || held[&n.T.Data[0]] {
		return
	}
	held[&n.T.Data[0]] = true
	tensor.Recycle(n.T)
}

// adopted reports whether a parent of n took n's gradient (or a view of
// it) as its own: then that storage is still in use.
func adopted(n *Value) bool {
	p0 := &n.Grad.Data[0]
	for _, p := range n.node.parents {
		if p != nil && p.Grad != nil && len(p.Grad.Data) > 0 && &p.Grad.Data[0] == p0 {
			return true
		}
	}
	return false
}

// topoOrder returns the Values reachable from root that require grad,
// parents before children, using an explicit stack (graphs of deep nets
// are thousands of nodes long).
func topoOrder(root *Value) []*Value {
	var order []*Value
	seen := map[*Value]bool{}
	type frame struct {
		v *Value
		i int
	}
	stack := []frame{{root, 0}}
	seen[root] = true
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.v.node != nil && f.i < len(f.v.node.parents) {
			p := f.v.node.parents[f.i]
			f.i++
			if p != nil && p.requiresGrad && !seen[p] {
				seen[p] = true
				stack = append(stack, frame{p, 0})
			}
			continue
		}
		order = append(order, f.v)
		stack = stack[:len(stack)-1]
	}
	return order
}

// SetCtx attaches a context to a leaf (an input) so that every Value
// computed from it shares that context.
func (v *Value) SetCtx(ctx *Context) error {
	if v.node != nil {
		return errors.New("autograd: SetCtx on a non-leaf value")
	}
	v.ctx = ctx
	if ctx != nil && ctx.NoGrad {
		v.requiresGrad = false
	}
	return nil
}
