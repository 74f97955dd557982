package infer

import (
	"fmt"
	"math"
	"sort"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/tensor/kernels"
)

// compiler turns a traced graph into a schedule of steps.
type compiler struct {
	g       *graph
	cfg     config
	workers int

	// Steps built by the fusion pass, by the node whose value they produce.
	producer map[*node]pending
	// Concatenations absorbed by the channel shuffle that reads them: their
	// inputs are written interleaved into the shuffle's output.
	absorbed map[*node]*node
	bufs     []*buffer
	sched    []scheduled
}

// pending is a step whose operands are still nodes: lower turns it into a
// step once every value has a location.
type pending interface {
	// strided reports whether the step can write its output with any
	// channel and batch strides (into a concatenation's channel range).
	strided() bool
	lower(c *compiler) step
}

type scheduled struct {
	pos int // topological index of the value it produces
	s   step
}

func (c *compiler) newBuffer(size int) *buffer {
	b := &buffer{size: size, first: math.MaxInt, last: -1}
	c.bufs = append(c.bufs, b)
	return b
}

func (c *compiler) operand(n *node) operand {
	if !n.placed {
		panic(fmt.Sprintf("infer: internal error: %s value %v has no location", n.op, n.shape))
	}
	return operand{l: n.at, shape: n.shape}
}

func (c *compiler) label(n *node) string {
	if n.name != "" {
		return n.name
	}
	return fmt.Sprintf("%%%d", n.id)
}

// activation reports whether n is a ReLU or ReLU6 and which.
func activation(n *node) (kernels.Activation, bool) {
	if n.op != autograd.OpClamp {
		return 0, false
	}
	switch hi := n.attrs.(autograd.ClampAttrs).Max; {
	case hi < 0:
		return kernels.ActReLU, true
	case hi == 6:
		return kernels.ActReLU6, true
	}
	return 0, false
}

// next returns n's only reader when n can be computed past (it has one
// reader and is not the plan's output), else nil.
func next(n *node) *node {
	if n.isOut || len(n.users) != 1 {
		return nil
	}
	return n.users[0]
}

// foldableBN returns the eval-mode BatchNorm's per-channel scale and shift
// (y = x*scale + shift), or ok false when it uses batch statistics.
func foldableBN(n *node) (scale, shift []float64, ok bool) {
	if n.op != autograd.OpBatchNorm2d {
		return nil, nil, false
	}
	o := n.attrs.(autograd.BatchNormOpts)
	if o.Training || o.RunningMean == nil || o.RunningVar == nil || o.RunningMean.Data == nil || o.RunningVar.Data == nil {
		return nil, nil, false
	}
	c := n.shape[1]
	gamma, beta := n.consts[1], n.consts[2]
	scale = make([]float64, c)
	shift = make([]float64, c)
	for i := 0; i < c; i++ {
		s := 1 / math.Sqrt(float64(o.RunningVar.Data[i])+float64(o.Eps))
		if gamma != nil {
			s *= float64(gamma.Data[i])
		}
		scale[i] = s
		shift[i] = -float64(o.RunningMean.Data[i]) * s
		if beta != nil {
			shift[i] += float64(beta.Data[i])
		}
	}
	return scale, shift, true
}

// fuse builds the steps: each convolution takes the eval-mode BatchNorm
// that follows it (folded into new weights and bias), then a ReLU/ReLU6, or
// a residual Add and the ReLU after it, as long as every value it computes
// past has no other reader. Linear, BatchNorm, Add and pooling take a
// following activation the same way.
func (c *compiler) fuse() {
	c.producer = map[*node]pending{}
	claimed := map[*node]bool{}
	// take extends a chain from cur to u if u is cur's only reader and
	// free.
	take := func(cur, u *node) bool {
		if !c.cfg.fuse || u == nil || claimed[u] || next(cur) != u {
			return false
		}
		claimed[u] = true
		cur.fusedInto = u
		return true
	}
	takeAct := func(cur *node) (*node, kernels.Activation) {
		if u := next(cur); u != nil {
			if a, ok := activation(u); ok && take(cur, u) {
				return u, a
			}
		}
		return cur, kernels.ActNone
	}
	for _, n := range c.g.nodes {
		if n.isInput || claimed[n] {
			continue
		}
		if !weightsConst(n) {
			c.producer[n] = &pendingGeneric{n: n}
			continue
		}
		switch n.op {
		case autograd.OpConv2d:
			pc := c.fuseConv(n, take, takeAct)
			c.producer[pc.out] = pc
		case autograd.OpLinear:
			if len(n.ins[0].shape) != 2 {
				c.producer[n] = &pendingGeneric{n: n}
				continue
			}
			out, act := takeAct(n)
			pl := &pendingLinear{n: n, out: out, act: act, w: n.consts[1].Data}
			if n.consts[2] != nil {
				pl.b = n.consts[2].Data
			}
			c.producer[out] = pl
		case autograd.OpBatchNorm2d:
			scale, shift, ok := foldableBN(n)
			if !ok {
				c.producer[n] = &pendingGeneric{n: n}
				continue
			}
			out, act := takeAct(n)
			c.producer[out] = &pendingAffine{x: n.ins[0], out: out, scale: f32(scale), shift: f32(shift), act: act}
		case autograd.OpClamp:
			a, ok := activation(n)
			if !ok {
				c.producer[n] = &pendingGeneric{n: n}
				continue
			}
			c.producer[n] = &pendingAffine{x: n.ins[0], out: n, act: a}
		case autograd.OpAdd:
			out, act := takeAct(n)
			c.producer[out] = &pendingAdd{a: n.ins[0], b: n.ins[1], out: out, act: act}
		case autograd.OpMaxPool2d, autograd.OpAvgPool2d, autograd.OpAdaptiveAvgPool2d:
			if n.op == autograd.OpAvgPool2d && c.poolFirst(n, takeAct) {
				continue
			}
			out, act := takeAct(n)
			c.producer[out] = newPendingPool(n, out, act)
		case autograd.OpConcat, autograd.OpNarrow, autograd.OpReshape, autograd.OpDropout:
			// Views and placements; see place.
		case autograd.OpChannelShuffle:
			// A step unless it absorbs its concatenation (place).
		default:
			c.producer[n] = &pendingGeneric{n: n}
		}
	}
}

// weightsConst reports whether the operands after the first of a
// convolution, linear layer or BatchNorm (weight, bias) are constants, as
// the specialised steps assume; a weight computed from the input sends the
// operation to the generic step.
func weightsConst(n *node) bool {
	switch n.op {
	case autograd.OpConv2d, autograd.OpLinear, autograd.OpBatchNorm2d:
		if n.ins[0] == nil {
			return false
		}
		for i, in := range n.ins[1:] {
			if in != nil {
				return false
			}
			if i == 0 && n.op != autograd.OpBatchNorm2d && n.consts[1] == nil {
				return false
			}
		}
	}
	return true
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func (c *compiler) fuseConv(n *node, take func(cur, u *node) bool, takeAct func(*node) (*node, kernels.Activation)) *pendingConv {
	p := n.attrs.(kernels.ConvParams)
	w := n.consts[1].Data
	var bias []float32
	if n.consts[2] != nil {
		bias = n.consts[2].Data
	}
	pc := &pendingConv{n: n, p: p, w: w, bias: bias}
	cur := n
	if u := next(cur); u != nil {
		if scale, shift, ok := foldableBN(u); ok && take(cur, u) {
			pc.w, pc.bias = foldBN(p, w, bias, scale, shift)
			pc.folded = true
			cur = u
		}
	}
	if u := next(cur); u != nil && u.op == autograd.OpAdd && u.ins[0] != u.ins[1] && take(cur, u) {
		other := u.ins[0]
		if other == cur {
			other = u.ins[1]
		}
		pc.res = other
		cur = u
	}
	cur, pc.act = takeAct(cur)
	pc.out = cur
	pc.algo = c.chooseAlgo(&pc.p)
	// A BatchNorm (and activation) whose only reader is this packed
	// convolution becomes its prologue: DenseNet normalises the block's
	// whole concatenation in front of every layer, a pass over memory per
	// layer that the convolution can do while packing its input.
	if x := n.ins[0]; c.cfg.fuse && pc.algo == algoPacked && !x.isOut && next(x) == n {
		if pa, ok := c.producer[x].(*pendingAffine); ok && pa.out == x {
			delete(c.producer, x)
			x.fusedInto = n
			pc.in = pa.x
			pc.pro = &kernels.Prologue{Scale: pa.scale, Shift: pa.shift, Act: pa.act}
		}
	}
	return pc
}

// poolFirst computes a 1x1 convolution followed by a 2x2 average pooling
// of stride 2 (DenseNet's transitions) as the pooling followed by the
// convolution: both are linear and the convolution acts on each pixel
// alone, so avgpool(conv(x)) = conv(avgpool(x)) (up to rounding), and
// the convolution then multiplies a quarter of the pixels. The
// convolution's prologue (the transition's BatchNorm and ReLU) moves to
// the pooling, which applies it before averaging. DenseNet-121 batch 1 on
// 2 Zen 3 cores: the three transitions took 4.1 ms of 38.
func (c *compiler) poolFirst(n *node, takeAct func(*node) (*node, kernels.Activation)) bool {
	if !c.cfg.fuse {
		return false
	}
	a := n.attrs.(autograd.AvgPoolAttrs)
	q := a.Params
	x := n.ins[0]
	pcv, ok := c.producer[x].(*pendingConv)
	if !ok || pcv.out != x || x.isOut || next(x) != n || pcv.res != nil || pcv.act != kernels.ActNone || pcv.algo != algoPacked {
		return false
	}
	p := pcv.p
	if p.KH != 1 || p.KW != 1 || p.SH != 1 || p.SW != 1 || p.PH != 0 || p.PW != 0 || p.Groups != 1 {
		return false
	}
	if q.KH != 2 || q.KW != 2 || q.SH != 2 || q.SW != 2 || q.PH != 0 || q.PW != 0 || 2*q.OH > q.H || 2*q.OW > q.W {
		return false
	}
	out, act := takeAct(n)
	in := pcv.input()
	// The pooled input takes the place of the convolution's output in
	// the schedule (its id), between the input and the convolution.
	pooled := &node{id: x.id, op: autograd.OpAvgPool2d, attrs: n.attrs, shape: []int{p.N, p.C, q.OH, q.OW}, name: n.name, ins: []*node{in}, users: []*node{x}}
	c.g.nodes = append(c.g.nodes, pooled)
	pp := &pendingPool{n: n, in: in, out: pooled}
	pp.s.kind, pp.s.p, pp.s.countIncludePad, pp.s.pro = poolAvg, q, a.CountIncludePad, pcv.pro
	pp.s.p.C = p.C
	c.producer[pooled] = pp

	delete(c.producer, x)
	x.fusedInto = n
	pcv.in, pcv.pro = pooled, nil
	pcv.p.H, pcv.p.W, pcv.p.OH, pcv.p.OW = q.OH, q.OW, q.OH, q.OW
	pcv.out, pcv.act = out, act
	c.producer[out] = pcv
	return true
}

// foldBN returns the weights and bias of conv followed by y*scale + shift:
// w'[o] = w[o]*scale[o], b'[o] = b[o]*scale[o] + shift[o], computed in
// float64 and stored anew (the model's tensors are not touched).
func foldBN(p kernels.ConvParams, w, bias []float32, scale, shift []float64) ([]float32, []float32) {
	k := len(w) / p.Cout
	nw := make([]float32, len(w))
	nb := make([]float32, p.Cout)
	for o := 0; o < p.Cout; o++ {
		s := scale[o]
		for i, v := range w[o*k : (o+1)*k] {
			nw[o*k+i] = float32(float64(v) * s)
		}
		b := shift[o]
		if bias != nil {
			b += float64(bias[o]) * s
		}
		nb[o] = float32(b)
	}
	return nw, nb
}

// chooseAlgo picks a convolution's algorithm from its shape; lower may
// still send a Winograd candidate to the packed GEMM.
func (c *compiler) chooseAlgo(p *kernels.ConvParams) algo {
	switch {
	case p.Depthwise():
		return algoDepthwise
	case c.useWinograd(p):
		return algoWinograd
	}
	return algoPacked
}

// place gives every materialised value a location. A concatenation's
// inputs are written straight into channel ranges of its buffer (nested
// concatenations inside the outer one's range; DenseNet's growing
// concatenations as prefixes of the block's last one), a concatenation
// followed only by a channel shuffle of as many groups as it has equal
// inputs is absorbed (each input written with a channel stride of groups
// planes), and Narrow, Reshape and Dropout are views. Values that cannot be
// written in place are copied by a step of the concatenation.
func (c *compiler) place() {
	c.absorbed = map[*node]*node{}
	nodes := c.g.nodes
	// Consumers first, so that the outermost concatenation decides.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if n.fusedInto != nil {
			continue
		}
		switch n.op {
		case autograd.OpConcat:
			if c.absorbed[n] != nil {
				continue
			}
			c.region(n)
			off := 0
			for _, in := range n.ins {
				c.placeInto(in, n.at.channel(off))
				off += in.shape[1]
			}
		case autograd.OpChannelShuffle:
			k := n.ins[0]
			groups := n.attrs.(int)
			if !c.cfg.fuse || k.op != autograd.OpConcat || k.fusedInto != nil || next(k) != n || len(k.ins) != groups || !equalChannels(k.ins) {
				continue
			}
			c.absorbed[k] = n
			c.region(n)
			for i, in := range k.ins {
				c.placeInto(in, loc{buf: n.at.buf, off: n.at.off + i*n.at.cs, cs: groups * n.at.cs, bs: n.at.bs})
			}
		}
	}
	// Producers first: views follow their input, everything else gets a
	// buffer of its own.
	for _, n := range nodes {
		if n.fusedInto != nil || n.placed || c.absorbed[n] != nil {
			continue
		}
		switch {
		case n.op == autograd.OpNarrow:
			r := n.attrs.([2]int)
			n.at, n.placed = n.ins[0].at.channel(r[0]), true
			continue
		case n.op == autograd.OpDropout:
			n.at, n.placed = n.ins[0].at, true
			continue
		case n.op == autograd.OpReshape:
			if l, ok := reshapeView(n.ins[0], n.shape); ok {
				n.at, n.placed = l, true
				continue
			}
			c.producer[n] = &pendingCopy{x: n.ins[0], out: n}
		}
		n.at, n.placed = denseLoc(c.newBuffer(numel(n.shape)), n.shape), true
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func equalChannels(ns []*node) bool {
	for _, n := range ns {
		if len(n.shape) != 4 || n.shape[1] != ns[0].shape[1] {
			return false
		}
	}
	return true
}

// region gives a concatenation (or an absorbing shuffle) its location if
// no consumer placed it: a view when its inputs already lie side by side
// in one buffer, else a buffer of its own.
func (c *compiler) region(n *node) {
	if n.placed {
		return
	}
	if n.op == autograd.OpConcat && c.cfg.fuse {
		if l, ok := adjacent(n.ins); ok {
			n.at, n.placed = l, true
			return
		}
	}
	n.at, n.placed = denseLoc(c.newBuffer(numel(n.shape)), n.shape), true
}

// adjacent reports whether the values are placed one after the other along
// the channels of one buffer, and returns the location of the whole.
func adjacent(ins []*node) (loc, bool) {
	if len(ins) == 0 || !ins[0].placed {
		return loc{}, false
	}
	l := ins[0].at
	next := l.off
	for _, in := range ins {
		if !in.placed || in.at.buf != l.buf || in.at.cs != l.cs || in.at.bs != l.bs || in.at.off != next {
			return loc{}, false
		}
		next += in.shape[1] * l.cs
	}
	return l, true
}

// placeInto puts value v at target if nothing has placed it yet and its
// producer can write there.
func (c *compiler) placeInto(v *node, target loc) {
	if v.placed || !c.cfg.fuse || v.isInput || v.fusedInto != nil {
		return
	}
	_, _, inner := dims(v.shape)
	switch {
	case v.op == autograd.OpConcat && c.absorbed[v] == nil:
	case v.op == autograd.OpChannelShuffle && c.absorbedBy(v):
	default:
		p, ok := c.producer[v]
		if !ok || (!p.strided() && target.cs != inner) {
			return
		}
	}
	v.at, v.placed = target, true
}

func (c *compiler) absorbedBy(shuffle *node) bool {
	return c.absorbed[shuffle.ins[0]] == shuffle
}

// reshapeView returns the location of a reshape of x as a view, when x's
// layout allows one: the batch dimension kept and each image contiguous,
// or x contiguous altogether.
func reshapeView(x *node, shape []int) (loc, bool) {
	xn, _, _ := dims(x.shape)
	_, c, inner := dims(shape)
	switch {
	case len(shape) >= 1 && shape[0] == xn && x.at.imageDense(x.shape):
		return loc{buf: x.at.buf, off: x.at.off, cs: inner, bs: x.at.bs}, true
	case x.at.dense(x.shape):
		return loc{buf: x.at.buf, off: x.at.off, cs: inner, bs: c * inner}, true
	}
	return loc{}, false
}

// copies adds the steps that move values which could not be written in
// place into their concatenation's (or absorbed shuffle's) channel range,
// and the channel shuffles that absorbed nothing.
func (c *compiler) copies() {
	for _, n := range c.g.nodes {
		if n.fusedInto != nil {
			continue
		}
		switch n.op {
		case autograd.OpConcat:
			if c.absorbed[n] != nil {
				continue
			}
			off := 0
			for _, in := range n.ins {
				if t := n.at.channel(off); in.at != t {
					c.schedule(n.id, &copyStep{label: c.label(n), x: c.operand(in), y: operand{l: t, shape: in.shape}})
				}
				off += in.shape[1]
			}
		case autograd.OpChannelShuffle:
			k := n.ins[0]
			groups := n.attrs.(int)
			if c.absorbed[k] != n {
				c.schedule(n.id, &copyStep{label: c.label(n), x: c.operand(k), y: c.operand(n), groups: groups})
				continue
			}
			for i, in := range k.ins {
				t := loc{buf: n.at.buf, off: n.at.off + i*n.at.cs, cs: groups * n.at.cs, bs: n.at.bs}
				if in.at != t {
					c.schedule(n.id, &copyStep{label: c.label(n), x: c.operand(in), y: operand{l: t, shape: in.shape}})
				}
			}
		}
	}
}

func (c *compiler) schedule(pos int, s step) { c.sched = append(c.sched, scheduled{pos, s}) }

// lower turns the fused operations into steps and orders the schedule.
func (c *compiler) lower() {
	for out, p := range c.producer {
		c.schedule(out.id, p.lower(c))
	}
	sort.SliceStable(c.sched, func(i, j int) bool { return c.sched[i].pos < c.sched[j].pos })
}

// ---------------------------------------------------------------------------
// Pending steps.

type pendingConv struct {
	n, out, res *node
	in          *node             // the input, when a prologue computes n's input from it
	pro         *kernels.Prologue // nil without one
	p           kernels.ConvParams
	w, bias     []float32
	folded      bool
	act         kernels.Activation
	algo        algo
}

// input is the value the convolution reads: n's input, or the one its
// prologue computes n's input from.
func (pc *pendingConv) input() *node {
	if pc.in != nil {
		return pc.in
	}
	return pc.n.ins[0]
}

// strided: the external kernels (Winograd, depthwise 3x3) write images
// with contiguous channels only.
func (pc *pendingConv) strided() bool {
	return pc.algo != algoWinograd && !(pc.algo == algoDepthwise && kernels.DepthwiseConv3x3Supported(&pc.p))
}

func (pc *pendingConv) lower(c *compiler) step {
	s := &convStep{label: c.label(pc.n), algo: pc.algo, p: pc.p, w: pc.w, folded: pc.folded,
		ep: kernels.Epilogue{Bias: pc.bias, Act: pc.act}, x: c.operand(pc.input()), y: c.operand(pc.out), pro: pc.pro}
	if pc.res != nil {
		r := c.operand(pc.res)
		s.res = &r
	}
	switch s.algo {
	case algoWinograd:
		c.lowerWinograd(s)
	case algoDepthwise:
		if c.cfg.fastDW {
			s.useDW3x3()
		}
	}
	if s.algo == algoPacked && s.pc == nil {
		s.usePacked()
	}
	return s
}

type pendingLinear struct {
	n, out *node
	w, b   []float32
	act    kernels.Activation
}

func (pl *pendingLinear) strided() bool { return true }

func (pl *pendingLinear) lower(c *compiler) step {
	x, y := c.operand(pl.n.ins[0]), c.operand(pl.out)
	if x.l.cs != 1 {
		// Features must be contiguous per row for the GEMM.
		panic("infer: internal error: linear input with strided features")
	}
	return &linearStep{label: c.label(pl.out), x: x, y: y, w: pl.w, b: pl.b, act: pl.act,
		direct: y.shape[0] == 1 && y.l.cs == 1}
}

type pendingAffine struct {
	x, out       *node
	scale, shift []float32
	act          kernels.Activation
}

func (pa *pendingAffine) strided() bool { return true }

func (pa *pendingAffine) lower(c *compiler) step {
	return &affineStep{label: c.label(pa.out), x: c.operand(pa.x), y: c.operand(pa.out), scale: pa.scale, shift: pa.shift, act: pa.act}
}

type pendingAdd struct {
	a, b, out *node
	act       kernels.Activation
}

func (pa *pendingAdd) strided() bool { return true }

func (pa *pendingAdd) lower(c *compiler) step {
	return &addStep{label: c.label(pa.out), a: c.operand(pa.a), b: c.operand(pa.b), y: c.operand(pa.out), act: pa.act}
}

type pendingPool struct {
	n, out *node
	in     *node // the input when not n's (poolFirst)
	s      poolStep
}

func newPendingPool(n, out *node, act kernels.Activation) *pendingPool {
	pp := &pendingPool{n: n, out: out}
	pp.s.act = act
	switch n.op {
	case autograd.OpMaxPool2d:
		pp.s.kind, pp.s.p = poolMax, n.attrs.(kernels.PoolParams)
	case autograd.OpAvgPool2d:
		a := n.attrs.(autograd.AvgPoolAttrs)
		pp.s.kind, pp.s.p, pp.s.countIncludePad = poolAvg, a.Params, a.CountIncludePad
	default:
		o := n.attrs.([2]int)
		s := n.ins[0].shape
		pp.s.kind = poolAdaptive
		pp.s.p = kernels.PoolParams{N: s[0], C: s[1], H: s[2], W: s[3], OH: o[0], OW: o[1]}
	}
	return pp
}

func (pp *pendingPool) strided() bool { return true }

func (pp *pendingPool) lower(c *compiler) step {
	s := pp.s
	in := pp.in
	if in == nil {
		in = pp.n.ins[0]
	}
	s.label, s.x, s.y = c.label(pp.out), c.operand(in), c.operand(pp.out)
	return &s
}

type pendingCopy struct{ x, out *node }

func (pc *pendingCopy) strided() bool { return false }

func (pc *pendingCopy) lower(c *compiler) step {
	// A reshape that needs its input contiguous: copy it densely, then the
	// output's buffer holds it in the new shape.
	x := c.operand(pc.x)
	return &copyStep{label: c.label(pc.out), x: x, y: operand{l: denseLoc(pc.out.at.buf, pc.x.shape), shape: pc.x.shape}}
}

type pendingGeneric struct{ n *node }

func (pg *pendingGeneric) strided() bool { return false }

func (pg *pendingGeneric) lower(c *compiler) step {
	s := &genericStep{label: c.label(pg.n), n: pg.n, ins: make([]operand, len(pg.n.ins)), y: c.operand(pg.n)}
	for i, in := range pg.n.ins {
		if in != nil {
			s.ins[i] = c.operand(in)
		}
	}
	return s
}
