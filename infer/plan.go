// Package infer compiles a model into an inference plan: the graph traced
// once for one input shape, rewritten the way ONNX Runtime's CPU path
// rewrites it (BatchNorm folded into the convolution before it; bias,
// ReLU/ReLU6 and a residual Add fused into the convolution's output stage;
// concatenations without copies; views for reshapes and slices), and a few
// rewrites of its own: a BatchNorm and ReLU in front of a convolution
// become the convolution's prologue, a 1x1 convolution followed by a 2x2
// average pooling pools first, a residual that dies with its convolution
// takes the sum in place, a 3x3 stem convolution and the max pooling after
// it run band by band (convpool.go). Each
// convolution given an algorithm for its shape (timed on the machine where
// it is close: tune.go), and every activation and workspace assigned a
// place in one preplanned arena, so that running the plan allocates
// nothing and spreads its work over kernels' persistent worker pool: a
// layer's work split across the workers, or, for a batch, passes of a few
// images each running on a worker of its own (SubBatch).
package infer

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

// config holds Compile's options.
type config struct {
	fuse     bool
	blocks   bool // inverted residual blocks in bands (blockStep), with fuse
	winograd bool // kernels.WinogradConv where it applies
	fastDW   bool // kernels.DepthwiseConv3x3 where it applies
	wgTile   int  // F(m x m, 3x3) for every Winograd layer; 0 chooses per layer
	measure  bool // choose algorithms by timing them (else by rule)
	subBatch int  // images per pass; 0 chooses
}

// Option changes how Compile builds a plan.
type Option func(*config)

// NoFusion turns the graph rewrites off: every BatchNorm, activation, Add
// and concatenation runs as a step of its own, as in the model. It is the
// plan's reference for testing the passes.
func NoFusion() Option { return func(c *config) { c.fuse = false } }

// NoWinograd computes 3x3 stride-1 convolutions with im2col + GEMM
// instead of Winograd, which is faster but rounds more: F(4x4, 3x3) errs by
// 1.6e-6 .. 4.7e-6 of a layer's output range, F(2x2, 3x3) by 3e-7 .. 7e-7,
// im2col + GEMM by 2e-7 .. 3e-7 (kernels' TestWinogradAccuracy).
func NoWinograd() Option { return func(c *config) { c.winograd = false } }

// WinogradTile runs every Winograd layer as F(m x m, 3x3), m = 4 or 2,
// instead of choosing per layer.
func WinogradTile(m int) Option { return func(c *config) { c.wgTile = m } }

// NoMeasure chooses each convolution's algorithm by a fixed rule of its
// shape instead of timing the candidates on it: compiling is faster and
// the plan the same on every run and machine, but where the candidates are
// close the rule can pick the slower one.
func NoMeasure() Option { return func(c *config) { c.measure = false } }

// noBlocks keeps the convolutions of inverted residual blocks as steps
// of their own (tests compare the two plans).
func noBlocks() Option { return func(c *config) { c.blocks = false } }

// SubBatch runs a batch of N images as N/b passes of b images (b divides
// N) through a plan compiled for b; 0 (the default) chooses b, and b = N
// turns passes off.
func SubBatch(b int) Option { return func(c *config) { c.subBatch = b } }

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

	// sub, when set, is the plan of one pass of a batch run in passes
	// (SubBatch); p's own steps and arena are then empty and out holds
	// the whole batch's result. slots are sub and its clones, one per
	// worker running passes at once (slots[0] == sub).
	sub      *Plan
	slots    []*Plan
	slotIn   []*tensor.Tensor // per slot, a view of its pass's images
	outTotal []float32
	run      *passRun
	slotFn   func(lo, hi int)
}

// passRun is the state of one Run of a plan in passes, shared by its
// slots.
type passRun struct {
	x    *tensor.Tensor
	next atomic.Int32
	err  atomic.Pointer[error]
}

// fail records the first error of a Run (in a function of its own, so
// that only a failing pass moves an error to the heap).
func (r *passRun) fail(err error) { r.err.CompareAndSwap(nil, &err) }

// Compile traces m on an input of shape input ([N, C, H, W]) and builds its
// inference plan. m is switched to evaluation mode (nn.SetTraining(m,
// false)) and must have its weights (materialised or loaded). The plan keeps
// references to the weights it does not transform: compile again after
// changing them. Compiling times some layers' candidate algorithms (about
// 0.1 s per measured shape, remembered for the process; NoMeasure turns
// that off).
func Compile(m nn.Module, input []int, opts ...Option) (*Plan, error) {
	cfg := config{fuse: true, blocks: true, winograd: true, fastDW: true, measure: true}
	for _, o := range opts {
		o(&cfg)
	}
	if len(input) != 4 {
		return nil, fmt.Errorf("infer: input shape must be [N, C, H, W], got %v", input)
	}
	if cfg.wgTile != 0 && cfg.wgTile != 2 && cfg.wgTile != 4 {
		return nil, fmt.Errorf("infer: Winograd tile %d, want 2 or 4", cfg.wgTile)
	}
	for _, d := range input {
		if d <= 0 {
			return nil, fmt.Errorf("infer: input shape %v has a non-positive dimension", input)
		}
	}
	if nn.IsMeta(m) {
		return nil, fmt.Errorf("infer: the model has no weights (built with models.Meta?): materialise it or load a state dict first")
	}
	n := input[0]
	if b := cfg.subBatch; b < 0 || b > n || (b > 0 && n%b != 0) {
		return nil, fmt.Errorf("infer: sub-batch %d does not divide the batch %d", b, n)
	}
	b := cfg.subBatch
	var one *Plan // the batch-1 plan, when the choice compiled it
	if b == 0 {
		var err error
		if b, one, err = chooseSubBatch(m, input, cfg); err != nil {
			return nil, err
		}
	}
	if b == n {
		return compile(m, input, cfg)
	}
	// Passes are only valid if no operation mixes images.
	g, err := trace(m, input)
	if err != nil {
		return nil, err
	}
	if !batchSeparable(g, n) {
		if cfg.subBatch != 0 {
			return nil, fmt.Errorf("infer: the model mixes the images of a batch; it cannot run in sub-batches")
		}
		return compile(m, input, cfg)
	}
	sub := one
	if b != 1 || sub == nil {
		in := append([]int{b}, input[1:]...)
		if sub, err = compile(m, in, cfg); err != nil {
			return nil, err
		}
	}
	p := &Plan{input: append([]int(nil), input...), output: append([]int{n}, sub.output[1:]...), sub: sub}
	p.slots = []*Plan{sub}
	for len(p.slots) < min(kernels.Workers(), n/b) {
		p.slots = append(p.slots, sub.Clone())
	}
	p.bind()
	return p, nil
}

// compile builds the plan of one pass.
func compile(m nn.Module, input []int, cfg config) (*Plan, error) {
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
	if cfg.fuse {
		p.steps = fuseStems(p.steps)
		if cfg.blocks {
			p.steps = fuseBlocks(p.steps)
		}
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
	if cfg.fuse {
		shareResiduals(p.steps)
	}
	p.size = planArena(c.bufs)
	p.bind()
	return p, nil
}

// shareResiduals lets a convolution that adds a residual write its output
// over the residual when no later step reads the residual (the last
// convolution of a ResNet block or of a MobileNetV2 block adding the
// block's input), as ONNX Runtime reuses an Add's input for its output:
// the step reads and writes one tensor instead of reading one and
// writing another, and the arena holds one tensor less (ResNet-50 batch
// 1: 8.4 -> 7.4 MB). Time, in-process A/B on 2 Zen 3 cores: level
// (ResNet-50, ResNet-18, MobileNetV2 within +-1.5%). The packed and
// Winograd kernels take a residual that is the output itself.
func shareResiduals(steps []step) {
	for i, st := range steps {
		s, ok := st.(*convStep)
		if !ok || s.res == nil || (s.algo != algoPacked && s.algo != algoWinograd) {
			continue
		}
		y, r := s.y.l, s.res.l
		rb := r.buf.root()
		switch {
		case y.buf.alias != nil || y.buf.first != i || rb.first < 0 || rb.last != i:
			// y written before, the residual is the plan's input, or
			// read later.
			continue
		case y.off != 0 || r.off != 0 || y.cs != r.cs || y.bs != r.bs || y.buf.size != rb.size:
			// Only whole buffers with one layout.
			continue
		case s.x.l.buf.root() == rb:
			continue
		}
		y.buf.alias = rb
		rb.last = max(rb.last, y.buf.last)
	}
}

// bind allocates the arena and points the steps into it.
func (p *Plan) bind() {
	if p.sub != nil {
		p.outTotal = make([]float32, tensor.Numel(p.output))
		p.out = &tensor.Tensor{Shape: p.output, Data: p.outTotal}
		p.slotIn = make([]*tensor.Tensor, len(p.slots))
		for i := range p.slotIn {
			p.slotIn[i] = &tensor.Tensor{Shape: p.sub.input}
		}
		p.run = new(passRun)
		p.slotFn = p.runSlots
		return
	}
	p.arena = kernels.AllocLarge(p.size)
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
	if p.sub != nil {
		c := &Plan{input: p.input, output: p.output}
		for _, s := range p.slots {
			c.slots = append(c.slots, s.Clone())
		}
		c.sub = c.slots[0]
		c.bind()
		return c
	}
	c := *p
	c.steps = make([]step, len(p.steps))
	for i, s := range p.steps {
		c.steps[i] = s.clone()
	}
	c.bind()
	return &c
}

// pass returns the plan of one pass: p itself unless it runs in passes.
func (p *Plan) pass() *Plan {
	if p.sub != nil {
		return p.sub
	}
	return p
}

// InputShape returns the input shape the plan was compiled for.
func (p *Plan) InputShape() []int { return append([]int(nil), p.input...) }

// OutputShape returns the shape of Run's result.
func (p *Plan) OutputShape() []int { return append([]int(nil), p.output...) }

// ArenaBytes is the size of the plan's activation and workspace memory.
func (p *Plan) ArenaBytes() int64 {
	if p.sub != nil {
		return int64(len(p.slots))*p.sub.ArenaBytes() + int64(len(p.outTotal))*4
	}
	return int64(p.size) * 4
}

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
	if len(x.Data) != tensor.Numel(p.input) {
		return nil, fmt.Errorf("infer: input has %d values for shape %v (want %d)", len(x.Data), x.Shape, tensor.Numel(p.input))
	}
	if p.sub != nil {
		return p.runPasses(x)
	}
	copy(p.in, x.Data)
	for _, s := range p.steps {
		if err := s.run(); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

// runPasses runs the batch through p.sub a pass at a time, on every slot
// at once: each slot takes the next pass until none is left (a slot that a
// busy machine slows down just takes fewer). The kernels of a pass then
// find the other workers busy and run inline, without a synchronisation
// per layer; the last pass may still get help from slots that finished.
func (p *Plan) runPasses(x *tensor.Tensor) (*tensor.Tensor, error) {
	r := p.run
	r.x = x
	r.next.Store(0)
	r.err.Store(nil)
	if len(p.slots) == 1 {
		p.runSlots(0, 1)
	} else {
		kernels.Parallel(len(p.slots), 1, p.slotFn)
	}
	r.x = nil
	if e := r.err.Load(); e != nil {
		return nil, *e
	}
	return p.out, nil
}

// runSlots runs passes on slots [lo, hi).
func (p *Plan) runSlots(lo, hi int) {
	in, out := tensor.Numel(p.sub.input), tensor.Numel(p.sub.output)
	passes := int32(p.input[0] / p.sub.input[0])
	for k := lo; k < hi; k++ {
		view := p.slotIn[k]
		for {
			i := int(p.run.next.Add(1) - 1)
			if i >= int(passes) {
				break
			}
			view.Data = p.run.x.Data[i*in : (i+1)*in]
			y, err := p.slots[k].Run(view)
			if err != nil {
				p.run.fail(err)
				break
			}
			copy(p.outTotal[i*out:(i+1)*out], y.Data)
		}
		view.Data = nil
	}
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
	if p.sub != nil {
		return fmt.Sprintf("plan: input %v -> output %v in %d passes of %d images on %d workers\n%s", p.input, p.output, p.input[0]/p.sub.input[0], p.sub.input[0], len(p.slots), p.sub)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "plan: input %v -> output %v, %d steps, arena %.1f MiB\n", p.input, p.output, len(p.steps), float64(p.ArenaBytes())/(1<<20))
	for i, s := range p.steps {
		fmt.Fprintf(&b, "%4d %s\n", i, s.describe())
	}
	return b.String()
}
