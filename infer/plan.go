// Package infer compiles a model into an inference plan: the graph traced
// once for one input shape, rewritten the way ONNX Runtime's CPU path
// rewrites it (BatchNorm folded into the convolution before it; bias,
// ReLU/ReLU6 and a residual Add fused into the convolution's output stage;
// concatenations without copies; views for reshapes and slices), each
// convolution given an algorithm for its shape, and every activation and
// workspace assigned a place in one preplanned arena, so that running the
// plan allocates nothing and spreads its work over kernels' persistent
// worker pool.
package infer

import (
	"fmt"
	"strings"

	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// config holds Compile's options.
type config struct {
	fuse     bool
	winograd bool // kernels.WinogradConv where it applies
	fastDW   bool // kernels.DepthwiseConv3x3 where it applies
}

// Option changes how Compile builds a plan.
type Option func(*config)

// NoFusion turns the graph rewrites off: every BatchNorm, activation, Add
// and concatenation runs as a step of its own, as in the model. It is the
// plan's reference for testing the passes.
func NoFusion() Option { return func(c *config) { c.fuse = false } }

// NoWinograd computes 3x3 stride-1 convolutions with im2col + GEMM
// instead of Winograd's F(4x4, 3x3), which is faster but rounds about ten
// times more (1e-6 of a layer's output range instead of 1e-7).
func NoWinograd() Option { return func(c *config) { c.winograd = false } }

// Plan is a compiled model for one input shape.
//
// A Plan is not safe for concurrent use: Run writes every activation into
// the plan's own arena. Servers give each goroutine its own Clone, which
// shares the (read-only) weights and allocates only a new arena.
type Plan struct {
	input, output []int
	steps         []step
	ws            []*buffer // per step, nil for none
	inLoc, outLoc loc
	size          int // arena floats

	arena []float32
	in    []float32
	out   *tensor.Tensor
}

// Compile traces m on an input of shape input ([N, C, H, W]) and builds its
// inference plan. m is switched to evaluation mode (nn.SetTraining(m,
// false)) and must have its weights (materialised or loaded). The plan keeps
// references to the weights it does not transform: compile again after
// changing them.
func Compile(m nn.Module, input []int, opts ...Option) (*Plan, error) {
	cfg := config{fuse: true, winograd: true, fastDW: true}
	for _, o := range opts {
		o(&cfg)
	}
	if len(input) != 4 {
		return nil, fmt.Errorf("infer: input shape must be [N, C, H, W], got %v", input)
	}
	for _, d := range input {
		if d <= 0 {
			return nil, fmt.Errorf("infer: input shape %v has a non-positive dimension", input)
		}
	}
	if nn.IsMeta(m) {
		return nil, fmt.Errorf("infer: the model has no weights (built with models.Meta?): materialise it or load a state dict first")
	}
	g, err := trace(m, input)
	if err != nil {
		return nil, err
	}
	c := &compiler{g: g, cfg: cfg, workers: kernels.Workers()}
	c.fuse()
	c.place()
	c.copies()
	c.lower()

	p := &Plan{input: append([]int(nil), input...), output: append([]int(nil), g.output.shape...)}
	p.inLoc = g.input.at
	out := g.output
	for _, s := range c.sched {
		p.steps = append(p.steps, s.s)
	}
	p.outLoc = out.at
	if !out.at.dense(out.shape) || out.isInput {
		// The result must be one contiguous tensor.
		buf := c.newBuffer(numel(out.shape))
		p.outLoc = denseLoc(buf, out.shape)
		p.steps = append(p.steps, &copyStep{label: "output", x: operand{out.at, out.shape}, y: operand{p.outLoc, out.shape}})
	}
	// Liveness: the input is written before the first step, the output
	// read after the last.
	p.inLoc.buf.first = -1
	p.outLoc.buf.last = len(p.steps)
	p.ws = make([]*buffer, len(p.steps))
	for i, s := range p.steps {
		for _, l := range s.operands() {
			l.buf.first = min(l.buf.first, i)
			l.buf.last = max(l.buf.last, i)
		}
		if n := s.workspace(); n > 0 {
			b := c.newBuffer(n)
			b.first, b.last = i, i
			p.ws[i] = b
		}
	}
	for _, b := range c.bufs {
		if b.last < b.first {
			// Never used (a value nothing reads): give it a slot anyway.
			b.first, b.last = 0, len(p.steps)
		}
	}
	p.size = planArena(c.bufs)
	p.bind()
	return p, nil
}

// bind allocates the arena and points the steps into it.
func (p *Plan) bind() {
	p.arena = make([]float32, p.size)
	for i, s := range p.steps {
		var ws []float32
		if b := p.ws[i]; b != nil {
			ws = p.arena[b.off : b.off+b.size]
		}
		s.bind(p.arena, ws)
	}
	p.in = p.inLoc.slice(p.arena, p.input)
	p.out = &tensor.Tensor{Shape: p.output, Data: p.outLoc.slice(p.arena, p.output)}
}

// Clone returns a plan that shares p's weights and schedule but has an
// arena of its own, so that it can run concurrently with p.
func (p *Plan) Clone() *Plan {
	c := *p
	c.steps = make([]step, len(p.steps))
	for i, s := range p.steps {
		c.steps[i] = s.clone()
	}
	c.bind()
	return &c
}

// InputShape returns the input shape the plan was compiled for.
func (p *Plan) InputShape() []int { return append([]int(nil), p.input...) }

// OutputShape returns the shape of Run's result.
func (p *Plan) OutputShape() []int { return append([]int(nil), p.output...) }

// ArenaBytes is the size of the plan's activation and workspace memory.
func (p *Plan) ArenaBytes() int64 { return int64(p.size) * 4 }

// Run computes the model on x, which must have the compiled input shape.
// The result lives in the plan's arena: it stays valid until the next Run
// and must not be modified (use RunInto for a copy). Run allocates nothing.
func (p *Plan) Run(x *tensor.Tensor) (*tensor.Tensor, error) {
	if x == nil || !tensor.SameShape(x.Shape, p.input) {
		var got []int
		if x != nil {
			got = x.Shape
		}
		return nil, fmt.Errorf("infer: input shape %v, but the plan was compiled for %v", got, p.input)
	}
	if len(x.Data) != len(p.in) {
		return nil, fmt.Errorf("infer: input has %d values for shape %v (want %d)", len(x.Data), x.Shape, len(p.in))
	}
	copy(p.in, x.Data)
	for _, s := range p.steps {
		if err := s.run(); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

// RunInto is Run followed by a copy of the result into out, which must
// have the plan's output shape.
func (p *Plan) RunInto(x, out *tensor.Tensor) error {
	if out == nil || !tensor.SameShape(out.Shape, p.output) || len(out.Data) != tensor.Numel(p.output) {
		var got []int
		if out != nil {
			got = out.Shape
		}
		return fmt.Errorf("infer: output tensor shape %v, want %v", got, p.output)
	}
	y, err := p.Run(x)
	if err != nil {
		return err
	}
	copy(out.Data, y.Data)
	return nil
}

// String lists the plan's steps, one per line, with the algorithm chosen
// for each convolution and what was fused into it.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan: input %v -> output %v, %d steps, arena %.1f MiB\n", p.input, p.output, len(p.steps), float64(p.ArenaBytes())/(1<<20))
	for i, s := range p.steps {
		fmt.Fprintf(&b, "%4d %s\n", i, s.describe())
	}
	return b.String()
}
