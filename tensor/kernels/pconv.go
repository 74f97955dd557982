package kernels

// PackedConv: a convolution as one GEMM per image and group, y = W x, with
// the weights W (Cout x Cin*KH*KW) packed once into the micro-kernel's
// panels and the im2col matrix x never built: each 16-column panel of it is
// packed straight from the image, k-row by k-row, into a buffer the size
// of L1/L2 (an "implicit GEMM"). The bias, a residual and the activation
// are applied to each 6x16 tile while it is still in registers.
//
// Why not im2col + Sgemm: im2col writes the input KH*KW times over and the
// GEMM reads it again to pack it; a separate epilogue pass then reads and
// writes the output once more, which for the thin 1x1 layers of MobileNet
// and ShuffleNet (16 to 64 input channels) costs as much as the products.
//
// Reading the image in place. Every k-row of the im2col matrix is, for
// output (oh, ow) of tap (kh, kw) and channel c, the input pixel
// (oh*SH - PH + kh*DH, ow*SW - PW + kw*DW). The input is first copied into
// a zero-bordered buffer split into stride phases (phase (ph, pw) holds the
// padded pixels (h*SH + ph, w*SW + pw), only for the phases some tap
// reads), so that within one output row the pixels of a tap are
// contiguous: tap t of channel c reads src[c*cs + tap[t] + base(oh, ow)]
// with base = oh*wq + ow. A 16-column panel is then at most a few runs
// ("segments") of consecutive pixels, the same for every k-row; packing
// copies each with two (masked) vector moves. Stride-1 convolutions
// without padding (1x1 above all) skip the copy and read x itself.
//
// Blocking (BLIS-like, the weights pre-packed): for each column block of
// ncb columns and each block of whole input channels (about pcKC k-rows),
// pack the B block (L2); for each row block of pcMC output channels, for
// each 16-column panel (L1), for each 6-row panel of weights: the
// micro-kernel. Partial sums stay in y between channel blocks; the last
// block adds the epilogue.

import (
	"fmt"
	"math"
)

// Layout gives the strides of an NCHW operand whose planes are contiguous:
// element (n, c, i) is at n*BS + c*CS + i. A dense tensor of C planes of
// HW floats has CS = HW and BS = C*HW; a slice of a concatenation's
// channels has the concatenation's BS.
type Layout struct{ CS, BS int }

// DenseLayout is the layout of a contiguous c x hw x ... tensor.
func DenseLayout(c, hw int) Layout { return Layout{CS: hw, BS: c * hw} }

// Blocking of PackedConv (Zen 3: 32 KiB L1d, 512 KiB L2 per core): a B
// block pcKC x pcNC (192 KiB) and an A block pcMC x pcKC (96 KiB) in L2, a
// 16-column B panel (16 KiB) in L1.
var (
	pcKC = 256
	pcNC = 192
	pcMC = 96
)

// pcInPlaceRows is the most output channels per task for which a 1x1
// convolution's micro-kernel reads its 16-column B panels from the image
// itself (k rows a plane apart) instead of a packed copy. The copy is a
// read and a write of every input value, worth it when many row panels
// reuse the packed panel; MobileNet's projections (16 to 64 output
// channels) reuse it a few times only. Measured (2 threads, Zen 3, min
// GFLOP/s packed -> in place): 32->16 at 112x112 79-109 -> 115-121,
// 144->24 at 56x56 106-122 -> 167-184, 192->32 at 28x28 122 -> 150,
// 384->64 at 14x14 129 -> 138; with 96 and more rows per task it was
// level or up to 7% slower (16->96 at 112x112, 64->256 at 56x56).
var pcInPlaceRows = 64

const (
	pcMR = 6  // micro-tile rows (output channels)
	pcNR = 16 // micro-tile columns (output pixels)
)

// pcSeg is a run of n consecutive pixels of a panel: panel columns
// [dst, dst+n) read src[base + i] for i < n, base = oh*wq + ow.
type pcSeg struct{ src, dst, n, _ int32 }

// PackedConv is a convolution with packed weights; see the comment at the
// top of pconv.go. It is safe for concurrent use (each call with its own
// workspace).
type PackedConv struct {
	p           ConvParams
	cinG, coutG int
	taps        int // KH*KW
	k           int // cinG*taps
	mp          int // 6-row panels per group
	kcC         int // input channels per k block
	nkb         int // k blocks
	a           []float32
	direct      bool // read x in place (stride 1, no padding)
	inPlace     bool // 1x1, direct, few rows per task: full B panels are x itself
	convGeom
	segs  []pcSeg
	segAt []int32 // panel q's segments are segs[segAt[q]:segAt[q+1]]

	// Parallel grid: per image and group, mw x nw tasks of mb rows and nb
	// columns; slots run at most Workers() of them at once.
	mw, nw, mb, nb int
	total, slots   int
	ncb            int // columns per packed B block
	packSize       int // floats of packed B per slot
	wsSize         int
	impl           *pcKernels
	jobs           chan *pcJob
	pro            *prologue // nil without one
	serial         bool      // planned for one worker (SetSerial)
}

// SetSerial plans the convolution for one worker: one task per image and
// group, its B panels packed once. For a convolution that runs inside a
// parallel task (a band of a fused block), where the pool is busy and a
// grid cut for all workers would run its tasks one after the other, each
// packing its own B panels. It must not run concurrently with Run.
func (pc *PackedConv) SetSerial() {
	pc.serial = true
	pc.plan(1)
}

func (pc *PackedConv) workers() int {
	if pc.serial {
		return 1
	}
	return Workers()
}

// Prologue is what a convolution does to its input as it reads it: x' =
// act(x*Scale[c] + Shift[c]) per input channel c. It is the BatchNorm and
// ReLU in front of a convolution (DenseNet's layers and transitions, a
// pre-activation network), which cannot be folded into the weights past
// the ReLU: applied while the input is packed (or while a strided or
// padded convolution prepares its input), it saves the separate pass
// that would read the input and write a normalised copy. Zero padding
// stays zero, as after a separate BatchNorm and ReLU.
type Prologue struct {
	Scale, Shift []float32 // per input channel; nil Scale is 1, nil Shift 0
	Act          Activation
}

// prologue is a Prologue with the defaults filled in and the clamp bounds.
type prologue struct {
	scale, shift []float32
	lo, hi       float32
}

// SetPrologue makes the convolution apply pro to its input; nil removes
// it. It must not run concurrently with Run.
func (pc *PackedConv) SetPrologue(pro *Prologue) error {
	if pro == nil {
		pc.pro = nil
		pc.plan(pc.workers())
		return nil
	}
	c := pc.p.C
	if pro.Scale != nil && len(pro.Scale) != c || pro.Shift != nil && len(pro.Shift) != c {
		return fmt.Errorf("kernels: packed conv: prologue of %d scales and %d shifts for %d input channels", len(pro.Scale), len(pro.Shift), c)
	}
	q := &prologue{scale: pro.Scale, shift: pro.Shift}
	if q.scale == nil {
		q.scale = make([]float32, c)
		for i := range q.scale {
			q.scale[i] = 1
		}
	}
	if q.shift == nil {
		q.shift = make([]float32, c)
	}
	q.lo, q.hi = actBounds(pro.Act)
	pc.pro = q
	// The input must be packed (through the prologue), not read in place.
	pc.inPlace = false
	return nil
}

// pcKernels is one implementation of the inner loops.
type pcKernels struct {
	name string
	// kernel computes np tiles of 6 x nr (nr = 16, or 8 for a narrow last
	// panel), each over k >= 1 steps from a packed A panel (a[p*6+i],
	// panel t at a[t*k*6:]) and the B panel (b[p*ldb+j]; ldb = 16 when
	// packed, always for nr = 8), and stores rows
	// 0..rows-1 of c (row stride ldc; rows = 6*(np-1) + rowsLast):
	// c = clamp(acc [+ c if load] + bias[i] + res[i*ldr+j], lo, hi), bias
	// and res read for those rows only (res nr floats per row).
	kernel func(nr, k, np int, a, b []float32, ldb int, c []float32, ldc, rowsLast int, load bool, bias, res []float32, ldr int, lo, hi float32)
	// pack packs nc channels of ntap taps each (channel c at src[c*cs:],
	// tap t at tap[t] from it) into nc*ntap rows of 16: row r column
	// s.dst+i = row base [s.src+i] for every segment s, i < s.n; columns
	// no segment covers are zero.
	pack func(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32)
	// packAffine is pack with the prologue applied to each value of
	// channel c: clamp(x*scale[c] + shift[c], lo, hi) (columns no segment
	// covers hold anything).
	packAffine func(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32, scale, shift []float32, lo, hi float32)
	// narrow, where not nil, computes the products of a 6-row A panel
	// with the first ncols (1 to pcNarrow) columns of a packed B panel over
	// k steps into acc (column j's 6 rows at acc[8j:], lanes 6 and 7
	// junk), adding to acc's values if add; it reads a[:6k+2].
	narrow func(ncols, k int, a, b, acc []float32, add bool)
}

// pcNarrow is the most columns a panel may have for the narrow kernel;
// pcNarrowAcc is the floats of one tile's narrow accumulators.
const (
	pcNarrow    = 4
	pcNarrowAcc = 8 * pcNarrow
	// pcAPad floats after the packed weights let the narrow kernel's
	// 8-float loads of the last 6-float row stay inside pc.a.
	pcAPad = 8
)

// pcImpl is the implementation PackedConv uses; tests swap it.
var pcImpl = selectPcKernels()

func selectPcKernels() *pcKernels {
	if !forceGenericKernels {
		if k := pcAsmKernels(); k != nil {
			return k
		}
	}
	return pcGeneric
}

var pcGeneric = &pcKernels{name: "generic", kernel: pcKernelGo, pack: pcPackGo, packAffine: pcPackAffineGo}

// NewPackedConv packs the weights w ([Cout][C/Groups][KH][KW], PyTorch's
// layout) of the convolution p. p.N is the largest batch Run accepts.
func NewPackedConv(p *ConvParams, w []float32) (*PackedConv, error) {
	switch {
	case p.N < 1 || p.C < 1 || p.Cout < 1 || p.H < 1 || p.W < 1 || p.KH < 1 || p.KW < 1 || p.SH < 1 || p.SW < 1 || p.DH < 1 || p.DW < 1 || p.PH < 0 || p.PW < 0 || p.Groups < 1:
		return nil, fmt.Errorf("kernels: packed conv: bad shape %+v", *p)
	case p.C%p.Groups != 0 || p.Cout%p.Groups != 0:
		return nil, fmt.Errorf("kernels: packed conv: %d groups do not divide %d -> %d channels", p.Groups, p.C, p.Cout)
	case p.OH != (p.H+2*p.PH-p.DH*(p.KH-1)-1)/p.SH+1 || p.OW != (p.W+2*p.PW-p.DW*(p.KW-1)-1)/p.SW+1 || p.OH < 1 || p.OW < 1:
		return nil, fmt.Errorf("kernels: packed conv: output %dx%d does not match %+v", p.OH, p.OW, *p)
	case len(w) != p.Cout*p.C/p.Groups*p.KH*p.KW:
		return nil, fmt.Errorf("kernels: packed conv: %d weights, want %d", len(w), p.Cout*p.C/p.Groups*p.KH*p.KW)
	}
	pc := &PackedConv{p: *p, cinG: p.C / p.Groups, coutG: p.Cout / p.Groups, taps: p.KH * p.KW, impl: pcImpl}
	pc.k = pc.cinG * pc.taps
	pc.mp = (pc.coutG + pcMR - 1) / pcMR
	pc.kcC = max(1, min(pc.cinG, pcKC/pc.taps))
	pc.nkb = (pc.cinG + pc.kcC - 1) / pc.kcC
	pc.packWeights(w)
	pc.geometry()
	pc.plan(pc.workers())
	return pc, nil
}

// packWeights lays w out as [group][k block][6-row panel][k][6], rows past
// coutG zero.
func (pc *PackedConv) packWeights(w []float32) {
	if n := pc.p.Groups*pc.mp*pcMR*pc.k + pcAPad; len(pc.a) != n {
		pc.a = AllocLarge(n)
	}
	for g := 0; g < pc.p.Groups; g++ {
		for kb := 0; kb < pc.nkb; kb++ {
			c0, c1 := kb*pc.kcC, min((kb+1)*pc.kcC, pc.cinG)
			kcb := (c1 - c0) * pc.taps
			for i := 0; i < pc.mp; i++ {
				dst := pc.a[pc.aOff(g, kb, i):][:kcb*pcMR]
				for r := 0; r < pcMR; r++ {
					co := i*pcMR + r
					if co >= pc.coutG {
						continue
					}
					row := w[(g*pc.coutG+co)*pc.k+c0*pc.taps:][:kcb]
					for kk, v := range row {
						dst[kk*pcMR+r] = v
					}
				}
			}
		}
	}
}

// SetWeights packs new weights (same shape) in place of the old ones:
// training repacks every step rather than building a new PackedConv. It
// must not run concurrently with Run.
func (pc *PackedConv) SetWeights(w []float32) error {
	if want := pc.p.Cout * pc.cinG * pc.taps; len(w) != want {
		return fmt.Errorf("kernels: packed conv: %d weights, want %d", len(w), want)
	}
	pc.packWeights(w)
	return nil
}

// aOff is the offset of panel i of k block kb of group g in pc.a.
func (pc *PackedConv) aOff(g, kb, i int) int {
	c0, c1 := kb*pc.kcC, min((kb+1)*pc.kcC, pc.cinG)
	return g*pc.mp*pcMR*pc.k + c0*pc.taps*pc.mp*pcMR + i*(c1-c0)*pc.taps*pcMR
}

// geometry works out the prepared input and the panels' segments.
func (pc *PackedConv) geometry() {
	p := &pc.p
	pc.direct = p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0
	if pc.direct {
		pc.hq, pc.wq = p.H, p.W
		pc.tap = make([]int32, pc.taps)
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				pc.tap[kh*p.KW+kw] = int32(kh*p.DH*p.W + kw*p.DW)
			}
		}
	} else {
		pc.convGeom = newConvGeom(p)
	}
	n := p.OH * p.OW
	np := (n + pcNR - 1) / pcNR
	pc.segAt = make([]int32, np+1)
	for q := 0; q < np; q++ {
		pc.segAt[q] = int32(len(pc.segs))
		for j := q * pcNR; j < min(n, (q+1)*pcNR); {
			oh, ow := j/p.OW, j%p.OW
			src := oh*pc.wq + ow
			d := j - q*pcNR
			// Extend the previous segment while pixels stay consecutive.
			if last := len(pc.segs) - 1; last >= int(pc.segAt[q]) && int(pc.segs[last].src+pc.segs[last].n) == src {
				pc.segs[last].n++
			} else {
				pc.segs = append(pc.segs, pcSeg{src: int32(src), dst: int32(d), n: 1})
			}
			j++
		}
	}
	pc.segAt[np] = int32(len(pc.segs))
}

// plan chooses the parallel grid for w workers and sizes the workspace.
func (pc *PackedConv) plan(w int) {
	p := &pc.p
	n := p.OH * p.OW
	units := p.N * p.Groups
	pc.mw, pc.nw, pc.mb, pc.nb = convGrid(pc.coutG, n, pc.k, units, w)
	pc.inPlace = pc.direct && pc.taps == 1 && pc.mb <= pcInPlaceRows && pc.pro == nil
	pc.total = units * pc.mw * pc.nw
	pc.slots = min(w, pc.total)
	pc.ncb = colBlock(pc.nb, pcNC)
	kcMax := pc.kcC * pc.taps
	pc.packSize = kcMax*((pc.ncb+pcNR-1)/pcNR*pcNR) + pcNR
	pc.wsSize = pc.slots * pc.packSize
	if !pc.direct {
		pc.wsSize += p.N * pc.prepSize
	}
	// Jobs for as many concurrent calls as there are workers (plans run
	// a batch's passes on every worker at once), so that steady-state
	// calls allocate nothing; new ones, as their scratch is sized for
	// the grid.
	pc.jobs = make(chan *pcJob, max(4, Workers()))
	for i := 0; i < Workers(); i++ {
		pc.jobs <- pc.newJob()
	}
}

// convGrid picks mw x nw tiles per unit (image and group) of an m x n
// output with inner dimension k, so that units*mw*nw tasks spread well
// over w workers: the cost of the slowest worker is its number of tasks
// times a tile's multiply-adds plus the packing proportional to the tile's
// rows and columns. Rows come in multiples of 6, columns of 16.
//
// Every task packs the B panels of its columns, so splitting the rows
// packs them twice. Packing a column (k values, one cache line per input
// channel) costs about as much as its products with 24 output rows
// (single-thread profiles, Zen 3: 1x1 256->256 at 56x56 pack 12% kernel
// 84%, 3x3/2 64->128 at 28x28 13% and 68%, both 258 or 132 rows per
// task); with the weight 4 used before, ResNet's 3x3/2 and 1x1/2 64->128
// layers split their rows. In-process A/B of whole plans, batch 1
// (median): resnet50 -3 to -5%, densenet121 -2 to -4%, shufflenet_v2 -3
// to -6%, resnet18 and mobilenet_v2 level to -2%; batch 16 level.
func convGrid(m, n, k, units, w int) (mw, nw, mb, nb int) {
	mp := (m + pcMR - 1) / pcMR
	np := (n + pcNR - 1) / pcNR
	best := -1.0
	for r := 1; r <= min(mp, w); r++ {
		for c := 1; c <= min(np, 4*w); c++ {
			rows := (mp + r - 1) / r * pcMR
			cols := (np + c - 1) / c * pcNR
			tasks := units * r * c
			rounds := (tasks + w - 1) / w
			cost := float64(rounds) * (float64(rows)*float64(cols) + 8*float64(rows) + 24*float64(cols) + 200)
			if best < 0 || cost < best {
				best, mw, nw = cost, r, c
			}
		}
	}
	mb = (mp + mw - 1) / mw * pcMR
	nb = (np + nw - 1) / nw * pcNR
	mw = (m + mb - 1) / mb
	nw = (n + nb - 1) / nb
	return mw, nw, mb, nb
}

// colBlock returns the columns per packed B block for a task of nb
// columns (a multiple of 16), about nc: the number of blocks rounded to
// the nearest, and the columns spread evenly over them. Every block
// streams the task's whole A panel (the weights) through the caches once,
// so a block of a few columns left over (nb = 208 with nc = 192: 192 and
// 16, as for ResNet-50's 14x14 1x1 layers) doubles the weight traffic for
// 8% of the work.
func colBlock(nb, nc int) int {
	blocks := max(1, (nb+nc/2)/nc)
	panels := (nb + pcNR - 1) / pcNR
	return (panels + blocks - 1) / blocks * pcNR
}

// WorkspaceSize is the number of floats Run needs.
func (pc *PackedConv) WorkspaceSize() int { return pc.wsSize }

// Params returns the convolution's shape.
func (pc *PackedConv) Params() ConvParams { return pc.p }

// pcJob carries one Run's arguments to the workers; its function values
// are bound once, so a call allocates nothing.
type pcJob struct {
	pc             *PackedConv
	n              int
	x, y, res, ws  []float32
	xl, yl, rl     Layout
	bias           []float32
	act            Activation
	resInY         bool     // the residual is y: added as y's starting value
	tiles          []pcTile // per slot
	prepFn, slotFn func(lo, hi int)
}

// pcTile is a slot's scratch for the edge tiles and the epilogue's bias
// (here rather than on the stack: slices of it go to a function value and
// would escape).
type pcTile struct {
	bias6      [pcMR]float32
	tmpC, tmpR [pcMR * pcNR]float32
	narrow     []float32 // the narrow kernel's accumulators, a task's tiles
}

// Run computes y = ep(conv(x, w)) for n images (n <= p.N): x is laid out
// as xl (C planes of H*W), y as yl (Cout planes of OH*OW), ep's residual,
// if any, as rl; ep may be nil. y may not overlap x. The residual may be
// y itself (same first element and layout: the sum is done in place, the
// residual being y's starting value), and may not otherwise overlap y. ws
// must hold WorkspaceSize floats (clobbered).
//
// In place, the output takes the residual's memory: a plan whose residual
// dies at this step (ResNet's bottlenecks, MobileNetV2's inverted
// residuals) then reads and writes one tensor instead of reading one and
// allocating another, a third less memory traffic in the step.
func (pc *PackedConv) Run(n int, x []float32, xl Layout, y []float32, yl Layout, ep *Epilogue, rl Layout, ws []float32) {
	p := &pc.p
	if n < 1 || n > p.N {
		panic("kernels: packed conv: batch out of range")
	}
	span := func(l Layout, c, hw int) int { return (n-1)*l.BS + (c-1)*l.CS + hw }
	if len(x) < span(xl, p.C, p.H*p.W) || len(y) < span(yl, p.Cout, p.OH*p.OW) || xl.CS < p.H*p.W || yl.CS < p.OH*p.OW {
		panic("kernels: packed conv: x or y too short for its layout")
	}
	if len(ws) < pc.wsSize {
		panic("kernels: packed conv: workspace too short")
	}
	var j *pcJob
	select {
	case j = <-pc.jobs:
	default:
		j = pc.newJob()
	}
	j.n, j.x, j.y, j.ws, j.xl, j.yl = n, x, y, ws, xl, yl
	j.res, j.bias, j.act, j.resInY = nil, nil, ActNone, false
	if ep != nil {
		j.bias, j.act = ep.Bias, ep.Act
		if ep.Bias != nil && len(ep.Bias) < p.Cout {
			panic("kernels: packed conv: bias too short")
		}
		if ep.Residual != nil {
			if len(ep.Residual) < span(rl, p.Cout, p.OH*p.OW) || rl.CS < p.OH*p.OW {
				panic("kernels: packed conv: residual too short for its layout")
			}
			j.res, j.rl = ep.Residual, rl
			j.resInY = &ep.Residual[0] == &y[0] && rl == yl
		}
	}
	if !pc.direct {
		units := n * p.C * len(pc.phases)
		Parallel(units, max(1, (16<<10)/pc.planeQ), j.prepFn)
	}
	tasks := n * p.Groups * pc.mw * pc.nw
	Parallel(min(pc.slots, tasks), 1, j.slotFn)
	j.x, j.y, j.res, j.ws, j.bias = nil, nil, nil, nil, nil
	select {
	case pc.jobs <- j:
	default:
	}
}

func (pc *PackedConv) newJob() *pcJob {
	j := &pcJob{pc: pc, tiles: make([]pcTile, pc.slots)}
	if pc.impl.narrow != nil {
		for i := range j.tiles {
			j.tiles[i].narrow = make([]float32, (pc.mb+pcMR-1)/pcMR*pcNarrowAcc)
		}
	}
	j.prepFn, j.slotFn = j.prepare, j.slot
	return j
}

// prepare fills prepared planes [lo, hi) (image, phase, channel).
func (j *pcJob) prepare(lo, hi int) {
	pc := j.pc
	p := &pc.p
	for u := lo; u < hi; u++ {
		c := u % p.C
		pi := u / p.C % len(pc.phases)
		n := u / p.C / len(pc.phases)
		dst := j.ws[n*pc.prepSize+(pi*p.C+c)*pc.planeQ:][:pc.planeQ]
		pc.fillPlane(p, j.x[n*j.xl.BS+c*j.xl.CS:][:p.H*p.W], pi, dst)
		if q := pc.pro; q != nil {
			pc.affinePlane(p, pi, dst, q.scale[c], q.shift[c], q.lo, q.hi)
		}
	}
}

// convGeom is the prepared input of a convolution: the image copied into
// a zero-bordered buffer split into stride phases, so that every tap of
// every output row reads consecutive pixels (see the top of the file).
type convGeom struct {
	hq, wq           int      // rows and row length of a prepared plane
	phases           [][2]int // (ph, pw) of the prepared phases
	planeQ, prepSize int      // floats per prepared plane; per prepared image
	tap              []int32  // per tap: offset from the channel's base
}

func newConvGeom(p *ConvParams) convGeom {
	var g convGeom
	g.hq = p.OH + (p.KH-1)*p.DH/p.SH
	g.wq = p.OW + (p.KW-1)*p.DW/p.SW
	g.planeQ = g.hq * g.wq
	g.tap = make([]int32, p.KH*p.KW)
	index := map[[2]int]int{}
	for kh := 0; kh < p.KH; kh++ {
		for kw := 0; kw < p.KW; kw++ {
			ph := [2]int{kh * p.DH % p.SH, kw * p.DW % p.SW}
			pi, ok := index[ph]
			if !ok {
				pi = len(g.phases)
				index[ph] = pi
				g.phases = append(g.phases, ph)
			}
			g.tap[kh*p.KW+kw] = int32(pi*p.C*g.planeQ + kh*p.DH/p.SH*g.wq + kw*p.DW/p.SW)
		}
	}
	g.prepSize = len(g.phases) * p.C * g.planeQ
	return g
}

// fillPlane writes phase pi of one channel's H*W pixels src into dst
// (planeQ floats): phase (ph, pw) holds padded pixel (h*SH + ph, w*SW + pw)
// at h*wq + w, zero outside the input.
func (g *convGeom) fillPlane(p *ConvParams, src []float32, pi int, dst []float32) {
	ph, pw := g.phases[pi][0], g.phases[pi][1]
	// Columns w with 0 <= w*SW + pw - PW < W.
	w0 := max(0, (p.PW-pw+p.SW-1)/p.SW)
	w1 := min(g.wq, max(w0, (p.W-1+p.PW-pw)/p.SW+1))
	if p.W-1+p.PW-pw < 0 {
		w1 = w0
	}
	for h := 0; h < g.hq; h++ {
		row := dst[h*g.wq:][:g.wq]
		ih := h*p.SH + ph - p.PH
		if ih < 0 || ih >= p.H || w0 >= w1 {
			clear(row)
			continue
		}
		// The borders are a column or two: stores, not memclr calls.
		for i := range w0 {
			row[i] = 0
		}
		for i := w1; i < len(row); i++ {
			row[i] = 0
		}
		xr := src[ih*p.W:][:p.W]
		iw := w0*p.SW + pw - p.PW
		seg := row[w0:w1]
		if p.SW == 1 {
			copy(seg, xr[iw:])
			continue
		}
		gatherStride(seg, xr[iw:], p.SW)
	}
}

// affinePlane applies a prologue channel's affine map and clamp to the
// input pixels of a prepared plane (phase pi), leaving the zero padding.
func (g *convGeom) affinePlane(p *ConvParams, pi int, dst []float32, scale, shift, lo, hi float32) {
	ph, pw := g.phases[pi][0], g.phases[pi][1]
	w0 := max(0, (p.PW-pw+p.SW-1)/p.SW)
	w1 := min(g.wq, max(w0, (p.W-1+p.PW-pw)/p.SW+1))
	if p.W-1+p.PW-pw < 0 || w0 >= w1 {
		return
	}
	for h := 0; h < g.hq; h++ {
		if ih := h*p.SH + ph - p.PH; ih < 0 || ih >= p.H {
			continue
		}
		seg := dst[h*g.wq+w0 : h*g.wq+w1]
		rowImpl.affine(seg, seg, scale, shift, lo, hi)
	}
}

// gatherStride does dst[i] = src[i*s] (src may run past the last one
// read).
func gatherStride(dst, src []float32, s int) {
	if len(dst) == 0 {
		return
	}
	if s == 2 {
		// The first layers' stride-2 convolutions split their input
		// into phases: half of a small layer's time as a scalar loop.
		rowImpl.even(dst, src)
		return
	}
	src = src[:(len(dst)-1)*s+1]
	for i := range dst {
		dst[i] = src[i*s]
	}
}

// slot runs slot k's share of the tasks.
func (j *pcJob) slot(lo, hi int) {
	pc := j.pc
	tasks := j.n * pc.p.Groups * pc.mw * pc.nw
	slots := min(pc.slots, tasks)
	prep := 0
	if !pc.direct {
		prep = pc.p.N * pc.prepSize
	}
	for k := lo; k < hi; k++ {
		bp := j.ws[prep+k*pc.packSize:][:pc.packSize]
		t0, t1 := split(tasks, slots, k)
		for t := t0; t < t1; t++ {
			j.task(t, bp, &j.tiles[k])
		}
	}
}

// pcZeros stands in for the bias and the residual before the last k
// block (the residual with row stride 0): the bias of up to a row block of
// pcMC rows.
var pcZeros [512]float32

// task computes output channels [r0, r1) of one group and columns
// [j0, j1) of one image.
func (j *pcJob) task(t int, bp []float32, tile *pcTile) {
	pc := j.pc
	p := &pc.p
	cb := t % pc.nw
	t /= pc.nw
	rb := t % pc.mw
	t /= pc.mw
	g := t % p.Groups
	n := t / p.Groups
	r0, r1 := rb*pc.mb, min((rb+1)*pc.mb, pc.coutG)
	ncols := p.OH * p.OW
	j0, j1 := cb*pc.nb, min((cb+1)*pc.nb, ncols)
	if r0 >= r1 || j0 >= j1 {
		return
	}
	var src []float32
	cs := pc.planeQ
	if pc.direct {
		cs = j.xl.CS
		src = j.x[n*j.xl.BS+g*pc.cinG*cs:]
	} else {
		src = j.ws[n*pc.prepSize+g*pc.cinG*cs:]
	}
	ycs := j.yl.CS
	ybase := n*j.yl.BS + g*pc.coutG*ycs
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	switch j.act {
	case ActReLU:
		lo = 0
	case ActReLU6:
		lo, hi = 0, 6
	}
	bias6, tmpC, tmpR := tile.bias6[:], tile.tmpC[:], tile.tmpR[:]
	impl := pc.impl
	for jc := j0; jc < j1; jc += pc.ncb {
		jn := min(pc.ncb, j1-jc)
		npan := (jn + pcNR - 1) / pcNR
		for kb := 0; kb < pc.nkb; kb++ {
			c0, c1 := kb*pc.kcC, min((kb+1)*pc.kcC, pc.cinG)
			kcb := (c1 - c0) * pc.taps
			for q := 0; q < npan; q++ {
				if pc.inPlace && jc+(q+1)*pcNR <= j1 {
					continue // read in place below
				}
				qq := jc/pcNR + q
				if pro := pc.pro; pro != nil && pc.direct {
					cg := g*pc.cinG + c0
					impl.packAffine(c1-c0, pc.taps, cs, pc.tap, src[c0*cs:], pc.segs[pc.segAt[qq]:pc.segAt[qq+1]], bp[q*kcb*pcNR:], pro.scale[cg:], pro.shift[cg:], pro.lo, pro.hi)
					continue
				}
				impl.pack(c1-c0, pc.taps, cs, pc.tap, src[c0*cs:], pc.segs[pc.segAt[qq]:pc.segAt[qq+1]], bp[q*kcb*pcNR:])
			}
			// In place, the residual is the starting value of y, which
			// the first k block loads like a partial sum.
			load, last := kb > 0 || j.resInY, kb == pc.nkb-1
			tlo, thi := float32(math.Inf(-1)), float32(math.Inf(1))
			if last {
				tlo, thi = lo, hi
			}
			for ic := r0; ic < r1; ic += pcMC {
				ie := min(ic+pcMC, r1)
				np := (ie - ic + pcMR - 1) / pcMR
				rowsLast := ie - ic - (np-1)*pcMR
				a := pc.a[pc.aOff(g, kb, ic/pcMR):][:np*kcb*pcMR]
				// The epilogue's bias and residual rows for [ic, ie),
				// zeros before the last k block.
				bias := pcZeros[:]
				if last && j.bias != nil {
					bias = j.bias[g*pc.coutG+ic:]
				}
				for q := 0; q < npan; q++ {
					col := jc + q*pcNR
					cols := min(pcNR, j1-col)
					b := bp[q*kcb*pcNR:][:kcb*pcNR]
					res, ldr := pcZeros[:pcNR], 0
					if last && j.res != nil && !j.resInY {
						res, ldr = j.res[n*j.rl.BS+(g*pc.coutG+ic)*j.rl.CS+col:], j.rl.CS
					}
					c := j.y[ybase+ic*ycs+col:]
					if cols == pcNR {
						if pc.inPlace {
							impl.kernel(pcNR, kcb, np, a, src[c0*cs+col:], cs, c, ycs, rowsLast, load, bias, res, ldr, tlo, thi)
							continue
						}
						impl.kernel(pcNR, kcb, np, a, b, pcNR, c, ycs, rowsLast, load, bias, res, ldr, tlo, thi)
						continue
					}
					if cols <= pcNarrow && impl.narrow != nil {
						j.narrowPanel(tile.narrow[(ic-r0)/pcMR*pcNarrowAcc:], pc.a[pc.aOff(g, kb, ic/pcMR):], b, kcb, np, rowsLast, cols, kb > 0, last, c, ycs, bias, res, ldr, tlo, thi)
						continue
					}
					// A partial panel: each 6-row tile through a 6 x 16
					// tile, 8 wide where that covers it.
					nr := pcNR
					if cols <= pcNR/2 {
						nr = pcNR / 2
					}
					for t := 0; t < np; t++ {
						rows := pcMR
						if t == np-1 {
							rows = rowsLast
						}
						ct := c[t*pcMR*ycs:]
						for r := 0; r < rows; r++ {
							if load {
								copy(tmpC[r*pcNR:][:cols], ct[r*ycs:][:cols])
							}
							if ldr != 0 {
								copy(tmpR[r*pcNR:][:cols], res[(t*pcMR+r)*ldr:][:cols])
							}
						}
						tres, tldr := pcZeros[:pcNR], 0
						if ldr != 0 {
							tres, tldr = tmpR, pcNR
						}
						tb := bias6
						copy(tb, bias[t*pcMR:][:rows])
						impl.kernel(nr, kcb, 1, a[t*kcb*pcMR:], b, pcNR, tmpC, pcNR, rows, load, tb, tres, tldr, tlo, thi)
						for r := 0; r < rows; r++ {
							copy(ct[r*ycs:][:cols], tmpC[r*pcNR:][:cols])
						}
					}
				}
			}
		}
	}
}

// narrowPanel computes a panel of at most pcNarrow columns (the last of
// a 7x7 or 14x14 output) for np 6-row tiles with the narrow kernel: the
// sums build up in the slot's accumulators over the k blocks (add after
// the first), and the last block applies the epilogue on the way to c.
// In place (resInY), the residual is c's value before the store.
func (j *pcJob) narrowPanel(acc, a, b []float32, k, np, rowsLast, cols int, add, last bool, c []float32, ldc int, bias, res []float32, ldr int, lo, hi float32) {
	impl := j.pc.impl
	for t := 0; t < np; t++ {
		at := acc[t*pcNarrowAcc:][:pcNarrowAcc]
		impl.narrow(cols, k, a[t*k*pcMR:], b, at, add)
		if !last {
			continue
		}
		rows := pcMR
		if t == np-1 {
			rows = rowsLast
		}
		for i := 0; i < rows; i++ {
			r := t*pcMR + i
			cr := c[r*ldc:][:cols]
			for jj := range cr {
				v := at[jj*8+i] + bias[r] + res[r*ldr+jj]
				if j.resInY {
					v += cr[jj]
				}
				// NaN passes the clamp, as in the micro-kernels.
				if !(v >= lo) && v == v {
					v = lo
				}
				if !(v <= hi) && v == v {
					v = hi
				}
				cr[jj] = v
			}
		}
	}
}

// pcNarrowGo is the narrow kernel in Go (see pcKernels.narrow), the
// assembly's twin in its tests.
func pcNarrowGo(ncols, k int, a, b, acc []float32, add bool) {
	for j := 0; j < ncols; j++ {
		for i := 0; i < pcMR; i++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[p*pcMR+i] * b[p*pcNR+j]
			}
			if add {
				s += acc[j*8+i]
			}
			acc[j*8+i] = s
		}
	}
}

// pcKernelGo is the pure-Go micro-kernel (see pcKernels.kernel).
func pcKernelGo(nr, k, np int, a, b []float32, ldb int, c []float32, ldc, rowsLast int, load bool, bias, res []float32, ldr int, lo, hi float32) {
	for t := 0; t < np; t++ {
		rows := pcMR
		if t == np-1 {
			rows = rowsLast
		}
		pcTileGo(nr, k, a[t*k*pcMR:], b, ldb, c[t*pcMR*ldc:], ldc, rows, load, bias[t*pcMR:], res[t*pcMR*ldr:], ldr, lo, hi)
	}
}

// pcTileGo is one 6 x nr tile of pcKernelGo.
func pcTileGo(nr, k int, a, b []float32, ldb int, c []float32, ldc, rows int, load bool, bias, res []float32, ldr int, lo, hi float32) {
	var acc [pcMR][pcNR]float32
	a = a[:k*pcMR]
	b = b[:(k-1)*ldb+nr]
	for p := 0; p < k; p++ {
		ap := a[p*pcMR:][:pcMR]
		bp := b[p*ldb:][:nr]
		for i, av := range ap {
			for jj, bv := range bp {
				acc[i][jj] += av * bv
			}
		}
	}
	for i := 0; i < rows; i++ {
		cr := c[i*ldc:][:nr]
		rr := res[i*ldr:][:nr]
		for jj := range cr {
			v := acc[i][jj]
			if load {
				v += cr[jj]
			}
			v += bias[i]
			v += rr[jj]
			// max/min with v second: NaN passes through, as in the
			// assembly (VMAXPS returns its second operand on NaN).
			if !(v >= lo) && !math.IsNaN(float64(v)) {
				v = lo
			}
			if !(v <= hi) && !math.IsNaN(float64(v)) {
				v = hi
			}
			cr[jj] = v
		}
	}
}

// pcPackAffineGo is the pure-Go packing with a prologue (see
// pcKernels.packAffine).
func pcPackAffineGo(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32, scale, shift []float32, lo, hi float32) {
	pcPackGo(nc, ntap, cs, tap, src, segs, dst)
	for c := 0; c < nc; c++ {
		for t := 0; t < ntap; t++ {
			row := dst[(c*ntap+t)*pcNR:][:pcNR]
			for _, s := range segs {
				affineRowGo(row[s.dst:s.dst+s.n], row[s.dst:s.dst+s.n], scale[c], shift[c], lo, hi)
			}
		}
	}
}

// pcPackGo is the pure-Go packing (see pcKernels.pack).
func pcPackGo(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32) {
	dst = dst[:nc*ntap*pcNR]
	clear(dst)
	for c := 0; c < nc; c++ {
		for t := 0; t < ntap; t++ {
			row := dst[(c*ntap+t)*pcNR:][:pcNR]
			base := c*cs + int(tap[t])
			for _, s := range segs {
				copy(row[s.dst:s.dst+s.n], src[base+int(s.src):][:s.n])
			}
		}
	}
}
