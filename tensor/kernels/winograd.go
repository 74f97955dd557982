package kernels

// Winograd minimal filtering for 3x3, stride-1 convolutions (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016).
//
// F(m x m, 3x3) computes an m x m block of outputs from an (m+2) x (m+2)
// input tile d as
//
//	Y = A^T [ (G g G^T) .* (B^T d B) ] A
//
// so that the K x C x 9 multiply-adds per output pixel of the direct
// convolution become K x C x (m+2)^2 / m^2: 2.25x fewer for F(2x2,3x3)
// (4x4 tiles) and 4x fewer for F(4x4,3x3) (6x6 tiles), plus transforms that
// cost O(C + K) per tile instead of O(C K).
//
// The element-wise product, summed over input channels, is (m+2)^2
// independent matrix products, one per transform-domain point xi:
//
//	M[xi] (K x tiles) = U[xi] (K x C) * V[xi] (C x tiles)
//
// Pipeline for one block of tiles (a "slot" range, see below):
//
//  1. input transform: V = B^T d B for every channel and tile, written
//     in the GEMM's packed layout (8 tiles per ymm; see wgLane);
//  2. per chunk of output channels: the (m+2)^2 products with a 6x16
//     register-blocked micro-kernel over packed U and V;
//  3. output transform Y = A^T M A for 8 tiles at a time into a small
//     staging buffer in L1, then the Epilogue (bias, residual, activation)
//     on the way to y, so y is written once.
//
// Slots. Tiles are numbered row by row over (image, tile row, tile column);
// every tile row gets one extra junk slot so that tile columns of all tile
// rows lie at a stride of m floats in one padded row buffer (the transform
// reads 8 neighbouring tiles with 4 (or 2) ymm loads and a transpose; the
// junk slot keeps the last tile's 2 overhanging columns from colliding
// with the next tile row). Junk slots cost 1/(tilesW+1) extra GEMM work,
// and more where they push a block past a multiple of 8 or 16 (ResNet's
// 7x7 layers at batch 1, F(2x2): 20 slots for 16 tiles, so 24 GEMM
// columns). Many shapes need none (junkFree): the overhang then reads the
// next tile row's first columns, harmless where the tile's own columns
// there feed only outputs past the edge, or are zero padding like the
// next row's; 7x7, 13x13, 27x27 and 55x55 outputs at either tile and
// 14x14 at F(4x4) are such.
//
// Accuracy (TestWinogradAccuracy: float32, Kaiming-scaled weights, post-ReLU
// inputs, 64 to 512 channels; max|y - y64| / max|y64| against a float64
// direct convolution, Zen 3):
//
//	                    per layer (C=64..512)   8 layers 64ch @28 + ReLU
//	im2col + GEMM       2e-7 .. 3.4e-7          6e-7
//	F(2x2,3x3)          3.3e-7 .. 6.5e-7        6e-7
//	F(4x4,3x3)          1.6e-6 .. 4.7e-6        2.2e-6
//
// The error grows with the fan-in (about sqrt(C)); the test bounds F(4x4)
// at 8e-6 per layer. With Lavin & Gray's points (0, +-1, +-2) F(4x4) errs
// 2-3x more (emulated 6e-6 .. 1.1e-5). F(6x6,3x3) with the usual points
// (0, +-1, +-2, +-1/2) emulates at 7e-6 .. 1e-5 per layer: within the
// parity budget (1e-4 of the logits' scale), but not implemented yet.

import (
	"fmt"
	"os"
	"strings"
)

// forceGenericKernels is set by CONVNET_KERNELS=generic: the Winograd and
// depthwise kernels then run their pure-Go versions.
var forceGenericKernels = strings.EqualFold(strings.TrimSpace(os.Getenv("CONVNET_KERNELS")), "generic")

// The micro-kernel's register block: wgMR output channels x wgNR tiles
// (12 ymm accumulators on AVX2).
const (
	wgMR = 6
	wgNR = 16
)

// wgKernels is one implementation of the Winograd inner loops. The
// transforms work on one group of 8 tiles (a ymm of lanes).
type wgKernels struct {
	name string
	// input transforms a (m+2)-row strip of the padded input (row stride
	// ld floats; tile l of the group starts at column m*l) into V, one
	// lane per tile: dst[xi*xis + wgLane(l)] for xi < (m+2)^2.
	input func(m int, src []float32, ld int, dst []float32, xis int)
	// output transforms M (src[xi*xis + lane]) into m rows of 8*m
	// outputs: dst[r*ldd + m*l + q].
	output func(m int, src []float32, xis int, dst []float32, ldd int)
	// gemm computes m[i*ldm + j] = sum_c u[c*6+i] * v[q*vstride + c*16+j%16]
	// for i < 6, j < n (a multiple of 8), q = j/16, over k >= 1 steps of c.
	gemm func(k int, u, v, m []float32, ldm, n, vstride int)
	// epi stores dst[i] = act(src[i] + bias + res[i]) (res may be nil).
	// next is how many floats past dst the next call will store (the
	// same row of the next output channel), 0 if unknown: the assembly
	// prefetches those lines for writing. A store to a line that is not
	// in cache waits for it, and output rows a few lines long, one plane
	// apart, are streams too short for the hardware prefetchers. On a
	// host whose caches are busy with other tenants this took 10-17% off
	// every Winograd layer of SqueezeNet (whole net -7%), level on a
	// quiet one.
	epi func(dst, src, res []float32, bias float32, act Activation, next int)
}

// wgImpl is the implementation Forward uses, chosen at start-up; tests swap
// it.
var wgImpl = selectWgKernels()

func selectWgKernels() *wgKernels {
	if !forceGenericKernels {
		if k := wgAsmKernels(); k != nil {
			return k
		}
	}
	return wgGeneric
}

// WinogradConv is a 3x3, stride-1 convolution whose weights have been
// transformed once into the Winograd domain. It is safe for concurrent use
// (each call needs its own workspace).
type WinogradConv struct {
	p    ConvParams
	m    int // output tile: 4 or 2
	a    int // input tile: m + 2
	nxi  int // a*a transform-domain points
	kp   int // Cout rounded up to a multiple of wgMR
	u    []float32
	impl *wgKernels

	tilesH, tilesW int
	segSlots       int // slots per tile row: tilesW, + 1 (junk) unless junkFree
	slots          int // N * tilesH * segSlots
	tb             int // slots per block, a multiple of 8
	nb             int // blocks
	npan           int // wgNR-wide panels per block: ceil(tb/16)
	vxis           int // floats between V's planes: npan*C*16, plus 16
	kb             int // output channels per GEMM chunk, a multiple of wgMR
	bw             int // padded input row length: m*tb + 8
	stw            int // staging row length: m*tb
	workers        int
	chanMode       bool // blocks are few: workers split channels, not tiles

	vSize, mSize, inSize, stSize int // floats, each a multiple of 16
	perWorker, wsSize            int

	jobs   chan *wgJob     // free jobs
	wsFree chan *[]float32 // free workspaces of wsSize, for Forward
}

// NewWinogradConv transforms the weights w ([Cout][C][3][3], PyTorch's
// layout) for F(tile x tile, 3x3); tile is 4 (6x6 transform, 4x fewer
// multiplications, the default choice) or 2 (4x4 transform, 2.25x fewer,
// about 5x smaller rounding error). p must describe a 3x3, stride-1,
// dilation-1, single-group convolution.
func NewWinogradConv(p *ConvParams, w []float32, tile int) (*WinogradConv, error) {
	switch {
	case tile != 4 && tile != 2:
		return nil, fmt.Errorf("kernels: winograd: tile %d, want 4 or 2", tile)
	case p.KH != 3 || p.KW != 3:
		return nil, fmt.Errorf("kernels: winograd: kernel %dx%d, want 3x3", p.KH, p.KW)
	case p.SH != 1 || p.SW != 1 || p.DH != 1 || p.DW != 1:
		return nil, fmt.Errorf("kernels: winograd: stride %dx%d dilation %dx%d, want 1", p.SH, p.SW, p.DH, p.DW)
	case p.Groups != 1:
		return nil, fmt.Errorf("kernels: winograd: %d groups, want 1", p.Groups)
	case p.N < 1 || p.C < 1 || p.Cout < 1 || p.H < 1 || p.W < 1 || p.PH < 0 || p.PW < 0:
		return nil, fmt.Errorf("kernels: winograd: bad shape N=%d C=%d Cout=%d %dx%d pad %dx%d", p.N, p.C, p.Cout, p.H, p.W, p.PH, p.PW)
	case p.OH != p.H+2*p.PH-2 || p.OW != p.W+2*p.PW-2 || p.OH < 1 || p.OW < 1:
		return nil, fmt.Errorf("kernels: winograd: output %dx%d does not match input %dx%d with padding %dx%d", p.OH, p.OW, p.H, p.W, p.PH, p.PW)
	case len(w) != p.Cout*p.C*9:
		return nil, fmt.Errorf("kernels: winograd: %d weights, want %d", len(w), p.Cout*p.C*9)
	}
	wc := &WinogradConv{p: *p, m: tile, a: tile + 2, impl: wgImpl}
	wc.nxi = wc.a * wc.a
	wc.kp = (p.Cout + wgMR - 1) / wgMR * wgMR
	wc.u = wgTransformWeights(p.Cout, p.C, wc.kp, tile, w)
	wc.plan(Workers())
	// Free lists, not sync.Pools: a pool is emptied by every GC, and the
	// workspace can be megabytes.
	wc.jobs = make(chan *wgJob, 4)
	wc.wsFree = make(chan *[]float32, 2)
	return wc, nil
}

// SetWeights transforms new weights (same shape) in place of the old
// ones, for training, which changes them every step. It must not run
// concurrently with Forward.
func (wc *WinogradConv) SetWeights(w []float32) error {
	if len(w) != wc.p.Cout*wc.p.C*9 {
		return fmt.Errorf("kernels: winograd: %d weights, want %d", len(w), wc.p.Cout*wc.p.C*9)
	}
	// Spread over the workers by output channel: for 64 -> 64 channels
	// the transform is about a third of an F(4x4) forward pass at batch
	// 128 when it runs alone.
	Parallel(wc.p.Cout, 8, func(lo, hi int) {
		wgTransformWeightsRange(wc.u, lo, hi, wc.p.C, wc.kp, wc.m, w)
	})
	return nil
}

// Tile returns m of F(m x m, 3x3).
func (wc *WinogradConv) Tile() int { return wc.m }

// Params returns the convolution's shape.
func (wc *WinogradConv) Params() ConvParams { return wc.p }

// Blocking (tiles per block, output channels per GEMM chunk). Rough
// choices from single-thread profiles on a shared 2-core Zen 3 (the
// differences between 32 and 96 tiles were within its noise): a block's
// GEMM operand V[xi] (C x 64 floats) stays in L2 for any C, and a chunk of
// 48 channels keeps M (48 x nxi x 64 floats) near L2's size. Channel mode
// (too few blocks for the workers) takes up to 96 tiles per block.
var (
	wgJunkFree      = true // junkFree may drop the junk slots (benchmarks turn it off)
	wgTileBlock     = 64
	wgTileBlockChan = 96
	wgKChunk        = 48
)

// plan chooses the block size and the parallel mode for w workers.
func (wc *WinogradConv) plan(w int) {
	p := &wc.p
	m := wc.m
	wc.tilesH = (p.OH + m - 1) / m
	wc.tilesW = (p.OW + m - 1) / m
	wc.segSlots = wc.tilesW + 1
	if wc.junkFree() {
		wc.segSlots = wc.tilesW
	}
	wc.slots = p.N * wc.tilesH * wc.segSlots
	wc.workers = w
	round8 := func(n int) int { return (n + 7) / 8 * 8 }
	nb := (wc.slots + wgTileBlock - 1) / wgTileBlock
	if w > 1 && nb < w {
		// Too few blocks to give each worker one: split channels instead.
		wc.chanMode = true
		wc.tb = round8(min(wc.slots, wgTileBlockChan))
	} else {
		nb = (nb + w - 1) / w * w
		wc.tb = round8((wc.slots + nb - 1) / nb)
	}
	wc.nb = (wc.slots + wc.tb - 1) / wc.tb
	wc.npan = (wc.tb + wgNR - 1) / wgNR
	wc.kb = min(wc.kp, wgKChunk)
	wc.bw = m*wc.tb + 8
	wc.stw = m * wc.tb
	r16 := func(n int) int { return (n + 15) / 16 * 16 }
	// The input transform writes one ymm into each of the nxi planes of V
	// per group; planes a multiple of 4 KiB apart would all map to the same
	// L1 (and a few L2) sets and evict each other, so they are staggered by
	// a cache line.
	wc.vxis = wc.npan*p.C*wgNR + 16
	wc.vSize = r16(wc.nxi * wc.vxis)
	wc.mSize = r16(wc.kb * wc.nxi * wc.tb)
	wc.inSize = r16(wc.a * wc.bw)
	wc.stSize = r16(m * wc.stw)
	if wc.chanMode {
		wc.perWorker = wc.mSize + wc.inSize + wc.stSize
		wc.wsSize = wc.vSize + w*wc.perWorker
	} else {
		wc.perWorker = wc.vSize + wc.mSize + wc.inSize + wc.stSize
		wc.wsSize = w * wc.perWorker
	}
}

// junkFree reports whether tile rows can follow one another in the
// padded row buffer without a junk slot. The last tile of a row then reads
// its 2 columns past m*tilesW from the next tile row's first 2 columns;
// that is exact where such a column feeds only outputs past OW (output o
// reads padded columns o..o+2), or where it is zero padding both in this
// row and in the next. (The Winograd transforms of a tile mix all its
// inputs, but exactly cancel those its outputs do not read: in float32
// the next row's values add rounding of the usual size, as in any tile,
// and an Inf or NaN there reaches the tile's outputs, as one anywhere in
// a tile always does with Winograd.)
func (wc *WinogradConv) junkFree() bool {
	if !wgJunkFree {
		return false
	}
	p := &wc.p
	for i := 0; i < 2; i++ {
		pos := wc.m*wc.tilesW + i // padded column
		if pos > p.OW+1 {
			continue
		}
		own, next := pos-p.PW, i-p.PW // input columns
		if own >= 0 && own < p.W || next >= 0 && next < p.W {
			return false
		}
	}
	return true
}

// WorkspaceSize is the number of floats ForwardWorkspace needs.
func (wc *WinogradConv) WorkspaceSize() int { return wc.wsSize }

// Forward computes y = ep(conv(x, w)) for p.N images (x is N x C x H x W,
// y is N x Cout x OH x OW, both NCHW; they may not overlap). ep may be
// nil; its Residual, if any, has y's layout: it may be y itself (an
// in-place sum) but may not otherwise overlap it. The workspace comes from an
// internal pool, so steady-state calls allocate nothing.
func (wc *WinogradConv) Forward(x, y []float32, ep *Epilogue) {
	var b *[]float32
	select {
	case b = <-wc.wsFree:
	default:
		s := make([]float32, wc.wsSize)
		b = &s
	}
	wc.ForwardWorkspace(x, y, ep, *b)
	select {
	case wc.wsFree <- b:
	default:
	}
}

// ForwardWorkspace is Forward with a caller-owned workspace of at least
// WorkspaceSize floats (its contents need not be initialised and are
// clobbered).
func (wc *WinogradConv) ForwardWorkspace(x, y []float32, ep *Epilogue, ws []float32) {
	p := &wc.p
	if len(x) < p.N*p.C*p.H*p.W || len(y) < p.N*p.Cout*p.OH*p.OW {
		panic("kernels: winograd: x or y too short")
	}
	if len(ws) < wc.wsSize {
		panic("kernels: winograd: workspace too short")
	}
	if ep != nil && ep.Residual != nil && len(ep.Residual) < p.N*p.Cout*p.OH*p.OW {
		panic("kernels: winograd: residual too short")
	}
	if ep != nil && ep.Bias != nil && len(ep.Bias) < p.Cout {
		panic("kernels: winograd: bias too short")
	}
	var j *wgJob
	select {
	case j = <-wc.jobs:
	default:
		j = newWgJob(wc)
	}
	j.x, j.y, j.ep, j.ws = x, y, ep, ws
	if !wc.chanMode {
		Parallel(wc.workers, 1, j.tileFn)
	} else {
		for b := 0; b < wc.nb; b++ {
			j.blk = b
			Parallel(wc.workers, 1, j.inFn)
			Parallel(wc.workers, 1, j.outFn)
		}
	}
	j.x, j.y, j.ep, j.ws = nil, nil, nil, nil
	select {
	case wc.jobs <- j:
	default:
	}
}

// wgJob carries one Forward call's arguments to the pool's workers; its
// function values are bound once, so a call allocates nothing.
type wgJob struct {
	wc                  *WinogradConv
	x, y, ws            []float32
	ep                  *Epilogue
	blk                 int
	tileFn, inFn, outFn func(lo, hi int)
}

func newWgJob(wc *WinogradConv) *wgJob {
	j := &wgJob{wc: wc}
	j.tileFn = func(lo, hi int) {
		for w := lo; w < hi; w++ {
			j.tileWorker(w)
		}
	}
	j.inFn = func(lo, hi int) {
		for w := lo; w < hi; w++ {
			j.chanInput(w)
		}
	}
	j.outFn = func(lo, hi int) {
		for w := lo; w < hi; w++ {
			j.chanOutput(w)
		}
	}
	return j
}

// worker scratch: V (tile mode only), then M, padded input, staging.
func (j *wgJob) scratch(w int) (v, mm, in, st []float32) {
	wc := j.wc
	var base []float32
	if wc.chanMode {
		v = j.ws[:wc.vSize]
		base = j.ws[wc.vSize+w*wc.perWorker:][:wc.perWorker]
	} else {
		base = j.ws[w*wc.perWorker:][:wc.perWorker]
		v, base = base[:wc.vSize], base[wc.vSize:]
	}
	mm, base = base[:wc.mSize], base[wc.mSize:]
	in, st = base[:wc.inSize], base[wc.inSize:][:wc.stSize]
	return v, mm, in, st
}

func (j *wgJob) tileWorker(w int) {
	wc := j.wc
	v, mm, in, st := j.scratch(w)
	b0, b1 := split(wc.nb, wc.workers, w)
	for b := b0; b < b1; b++ {
		s0, ns := wc.block(b)
		for c := 0; c < wc.p.C; c++ {
			wc.inputChannel(j.x, c, s0, ns, in, v)
		}
		for k0 := 0; k0 < wc.kp; k0 += wc.kb {
			wc.outputChunk(j, k0, min(wc.kb, wc.kp-k0), s0, ns, v, mm, st)
		}
	}
}

func (j *wgJob) chanInput(w int) {
	wc := j.wc
	v, _, in, _ := j.scratch(w)
	s0, ns := wc.block(j.blk)
	c0, c1 := split(wc.p.C, wc.workers, w)
	for c := c0; c < c1; c++ {
		wc.inputChannel(j.x, c, s0, ns, in, v)
	}
}

func (j *wgJob) chanOutput(w int) {
	wc := j.wc
	v, mm, _, st := j.scratch(w)
	s0, ns := wc.block(j.blk)
	p0, p1 := split(wc.kp/wgMR, wc.workers, w)
	for k0 := p0 * wgMR; k0 < p1*wgMR; k0 += wc.kb {
		wc.outputChunk(j, k0, min(wc.kb, p1*wgMR-k0), s0, ns, v, mm, st)
	}
}

// block returns block b's first slot and its slot count rounded up to a
// multiple of 8 (slots past wc.slots are zero padding).
func (wc *WinogradConv) block(b int) (s0, ns int) {
	s0 = b * wc.tb
	ns = min(wc.tb, wc.slots-s0)
	return s0, (ns + 7) / 8 * 8
}

// inputChannel gathers channel c of slots [s0, s0+ns) into the padded
// row buffer in (a rows of wc.bw) and transforms it into v.
func (wc *WinogradConv) inputChannel(x []float32, c, s0, ns int, in, v []float32) {
	p := &wc.p
	m, a, bw := wc.m, wc.a, wc.bw
	end := s0 + ns
	for s := s0; s < end; {
		if s >= wc.slots {
			// Padding slots at the end of the last block.
			for r := 0; r < a; r++ {
				clear(in[r*bw+(s-s0)*m : r*bw+bw])
			}
			break
		}
		seg, tx := s/wc.segSlots, s%wc.segSlots
		e := min(end, (seg+1)*wc.segSlots, wc.slots)
		n, ty := seg/wc.tilesH, seg%wc.tilesH
		width := (e-s)*m + 2
		ix0 := tx*m - p.PW
		lo, hi := min(max(0, -ix0), width), min(width, p.W-ix0)
		plane := x[(n*p.C+c)*p.H*p.W:][:p.H*p.W]
		for r := 0; r < a; r++ {
			dst := in[r*bw+(s-s0)*m:][:width]
			ih := ty*m - p.PH + r
			if ih < 0 || ih >= p.H || hi <= lo {
				clear(dst)
				continue
			}
			clear(dst[:lo])
			copy(dst[lo:hi], plane[ih*p.W+ix0+lo:ih*p.W+ix0+hi])
			clear(dst[hi:])
		}
		s = e
	}
	// V[xi][panel][c][16]: group g of 8 slots is panel g/2, lanes 8*(g%2).
	xis := wc.vxis
	for g := 0; g < ns/8; g++ {
		off := (g/2*p.C+c)*wgNR + g%2*8
		wc.impl.input(m, in[g*8*m:], bw, v[off:], xis)
	}
}

// outputChunk computes output channels [k0, k0+kn) of slots [s0, s0+ns):
// the nxi GEMMs into mm, then the output transform and epilogue into y.
func (wc *WinogradConv) outputChunk(j *wgJob, k0, kn, s0, ns int, v, mm, st []float32) {
	wc.gemmOnly(k0, kn, ns, v, mm)
	wc.outOnly(j, k0, kn, s0, ns, mm, st)
}

// gemmOnly runs the nxi products for output channels [k0, k0+kn) of a
// block of ns slots: mm[(i*nxi+xi)*tb + s] = sum_c U[xi][k0+i][c] V[xi][c][s].
func (wc *WinogradConv) gemmOnly(k0, kn, ns int, v, mm []float32) {
	impl := wc.impl
	nxi, tb, C := wc.nxi, wc.tb, wc.p.C
	kpan := wc.kp / wgMR
	ldm := nxi * tb
	for xi := 0; xi < nxi; xi++ {
		vx := v[xi*wc.vxis:]
		for i := 0; i < kn; i += wgMR {
			u := wc.u[(xi*kpan+(k0+i)/wgMR)*C*wgMR:][:C*wgMR]
			impl.gemm(C, u, vx, mm[i*ldm+xi*tb:], ldm, ns, C*wgNR)
		}
	}
}

// outOnly transforms channels [k0, k0+kn) of mm back and stores them.
func (wc *WinogradConv) outOnly(j *wgJob, k0, kn, s0, ns int, mm, st []float32) {
	p := &wc.p
	m, tb := wc.m, wc.tb
	ldm := wc.nxi * tb
	ep := j.ep
	for i := 0; i < kn && k0+i < p.Cout; i++ {
		k := k0 + i
		src := mm[i*ldm:]
		for g := 0; g < ns/8; g++ {
			wc.impl.output(m, src[g*8:], tb, st[g*8*m:], wc.stw)
		}
		var bias float32
		act := ActNone
		var res []float32
		if ep != nil {
			if ep.Bias != nil {
				bias = ep.Bias[k]
			}
			act, res = ep.Act, ep.Residual
		}
		wc.store(j.y, res, k, s0, ns, st, bias, act)
	}
}

// store copies the valid outputs of channel k in slots [s0, s0+ns) from
// the staging rows st to y, through the epilogue.
func (wc *WinogradConv) store(y, res []float32, k, s0, ns int, st []float32, bias float32, act Activation) {
	p := &wc.p
	m := wc.m
	end := min(s0+ns, wc.slots)
	next := p.OH * p.OW // the row of channel k+1, which comes next
	if k+1 == p.Cout {
		next = 0 // past the tensor: nothing of ours
	}
	for s := s0; s < end; {
		seg, tx := s/wc.segSlots, s%wc.segSlots
		e := min(end, (seg+1)*wc.segSlots)
		n, ty := seg/wc.tilesH, seg%wc.tilesH
		ox0, ox1 := tx*m, min((e-seg*wc.segSlots)*m, p.OW)
		if ox1 > ox0 {
			for r := 0; r < m && ty*m+r < p.OH; r++ {
				o := ((n*p.Cout+k)*p.OH+ty*m+r)*p.OW + ox0
				src := st[r*wc.stw+(s-s0)*m:][:ox1-ox0]
				var rs []float32
				if res != nil {
					rs = res[o : o+ox1-ox0]
				}
				wc.impl.epi(y[o:o+ox1-ox0], src, rs, bias, act, next)
			}
		}
		s = e
	}
}

// wgTransformWeights returns U = G g G^T for every (k, c), in float64 and
// rounded once, laid out [xi][k/6][c][k%6] with kp-K zero rows.
func wgTransformWeights(K, C, kp, m int, w []float32) []float32 {
	a := m + 2
	u := AllocLarge(a * a * kp * C)
	wgTransformWeightsInto(u, K, C, kp, m, w)
	return u
}

// wgTransformWeightsInto is wgTransformWeights writing into u (a*a*kp*C
// floats; the padding rows k >= K are left as they are, zero).
func wgTransformWeightsInto(u []float32, K, C, kp, m int, w []float32) {
	wgTransformWeightsRange(u, 0, K, C, kp, m, w)
}

// wgTransformWeightsRange transforms output channels [k0, k1).
func wgTransformWeightsRange(u []float32, k0, k1, C, kp, m int, w []float32) {
	a := m + 2
	G := wgG4
	if m == 2 {
		G = wgG2
	}
	kpan := kp / wgMR
	var tmp [6][3]float64
	for k := k0; k < k1; k++ {
		for c := 0; c < C; c++ {
			g := w[(k*C+c)*9:][:9]
			for i := 0; i < a; i++ {
				for j := 0; j < 3; j++ {
					tmp[i][j] = G[i][0]*float64(g[j]) + G[i][1]*float64(g[3+j]) + G[i][2]*float64(g[6+j])
				}
			}
			for i := 0; i < a; i++ {
				for j := 0; j < a; j++ {
					v := tmp[i][0]*G[j][0] + tmp[i][1]*G[j][1] + tmp[i][2]*G[j][2]
					xi := i*a + j
					u[((xi*kpan+k/wgMR)*C+c)*wgMR+k%wgMR] = float32(v)
				}
			}
		}
	}
}

// Transform matrices (Toom-Cook: row j of G is (1, p, p^2)/prod(p - p_l)
// over the other points, row j of B^T the coefficients of
// prod(x - p_l)/(x - p), A^T the powers of the points; the point at infinity
// adds the last rows).
//
// F(4x4,3x3) uses the points 0, 1, -1, 2, -1/2 rather than Lavin & Gray's
// 0, +-1, +-2: the same operation count, and 2-3x less rounding error
// (TestWinogradAccuracy; Barabasz et al., "Error analysis and improving the
// accuracy of Winograd convolution for deep neural networks", 2020, find
// the same set best). F(2x2,3x3) uses 0, +-1.
var (
	wgG4 = [6][3]float64{
		{1, 0, 0},
		{-1.0 / 3, -1.0 / 3, -1.0 / 3},
		{1.0 / 3, -1.0 / 3, 1.0 / 3},
		{1.0 / 15, 2.0 / 15, 4.0 / 15},
		{-16.0 / 15, 8.0 / 15, -4.0 / 15},
		{0, 0, 1},
	}
	wgG2 = [6][3]float64{
		{1, 0, 0},
		{0.5, 0.5, 0.5},
		{0.5, -0.5, 0.5},
		{0, 0, 1},
	}
)

// wgLane returns the ymm lane that holds tile l (0..7) of a group. The
// assembly transforms read 8 tiles with unpack/shuffle instructions that
// work within 128-bit halves, which interleaves them; V and M keep that
// order, the output transform undoes it, and the Go twins follow it so
// both implementations share one layout.
func wgLane(m, l int) int {
	if m == 4 {
		return l&1*4 + l>>1 // lanes hold tiles 0 2 4 6 1 3 5 7
	}
	return l&4>>1 | l&2<<1 | l&1 // lanes hold tiles 0 1 4 5 2 3 6 7
}

// The pure-Go kernels: the reference for the assembly ones (same layout,
// same order of operations up to fused multiply-adds), and the fallback.
var wgGeneric = &wgKernels{
	name:   "generic",
	input:  wgInputGo,
	output: wgOutputGo,
	gemm:   wgGemmGo,
	epi:    epiRowGo,
}

// wgBT4 is B^T d for F(4x4,3x3) with the points 0, 1, -1, 2, -1/2:
//
//	B^T = [1  3/2   -2  -3/2    1 0]
//	      [0   -1 -5/2  -1/2    1 0]
//	      [0    1  1/2  -5/2    1 0]
//	      [0 -1/2   -1   1/2    1 0]
//	      [0    2   -1    -2    1 0]
//	      [0    1  3/2    -2 -3/2 1]
func wgBT4(d *[6]float32) (v [6]float32) {
	f, h := d[4]-d[2], d[3]-d[1]
	v[0] = d[0] + d[4] - 2*d[2] - 1.5*h
	v[1] = d[4] - d[1] - 2.5*d[2] - 0.5*d[3]
	v[2] = d[4] + d[1] + 0.5*d[2] - 2.5*d[3]
	v[3] = f + 0.5*h
	v[4] = f - 2*h
	v[5] = d[5] + d[1] - 2*d[3] - 1.5*f
	return v
}

// wgAT4 is A^T m for F(4x4,3x3) with the points 0, 1, -1, 2, -1/2:
//
//	A^T = [1 1  1 1    1 0]
//	      [0 1 -1 2 -1/2 0]
//	      [0 1  1 4  1/4 0]
//	      [0 1 -1 8 -1/8 1]
func wgAT4(m *[6]float32) (o [4]float32) {
	s12, d12 := m[1]+m[2], m[1]-m[2]
	o[0] = m[0] + s12 + m[3] + m[4]
	o[1] = d12 + 2*m[3] - 0.5*m[4]
	o[2] = s12 + 4*m[3] + 0.25*m[4]
	o[3] = d12 + m[5] + 8*m[3] - 0.125*m[4]
	return o
}

// wgBT2 is B^T d for F(2x2,3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
func wgBT2(d *[6]float32) (v [6]float32) {
	v[0] = d[0] - d[2]
	v[1] = d[1] + d[2]
	v[2] = d[2] - d[1]
	v[3] = d[1] - d[3]
	return v
}

// wgAT2 is A^T m for F(2x2,3x3): A^T = [1 1 1 0; 0 1 -1 -1].
func wgAT2(m *[6]float32) (o [4]float32) {
	o[0] = m[0] + m[1] + m[2]
	o[1] = m[1] - m[2] - m[3]
	return o
}

func wgInputGo(m int, src []float32, ld int, dst []float32, xis int) {
	a := m + 2
	// Direct calls (not a function value) keep the arrays on the stack.
	bt := func(d *[6]float32) [6]float32 {
		if m == 4 {
			return wgBT4(d)
		}
		return wgBT2(d)
	}
	var t [6][6]float32
	var d, col [6]float32
	for l := 0; l < 8; l++ {
		lane := wgLane(m, l)
		for r := 0; r < a; r++ {
			copy(d[:a], src[r*ld+m*l:][:a])
			t[r] = bt(&d)
		}
		for j := 0; j < a; j++ {
			for r := 0; r < a; r++ {
				col[r] = t[r][j]
			}
			v := bt(&col)
			for i := 0; i < a; i++ {
				dst[(i*a+j)*xis+lane] = v[i]
			}
		}
	}
}

func wgOutputGo(m int, src []float32, xis int, dst []float32, ldd int) {
	a := m + 2
	at := func(v *[6]float32) [4]float32 {
		if m == 4 {
			return wgAT4(v)
		}
		return wgAT2(v)
	}
	var t [6][4]float32
	var row, col [6]float32
	for l := 0; l < 8; l++ {
		lane := wgLane(m, l)
		for i := 0; i < a; i++ {
			for j := 0; j < a; j++ {
				row[j] = src[(i*a+j)*xis+lane]
			}
			t[i] = at(&row)
		}
		for q := 0; q < m; q++ {
			for i := 0; i < a; i++ {
				col[i] = t[i][q]
			}
			y := at(&col)
			for r := 0; r < m; r++ {
				dst[r*ldd+m*l+q] = y[r]
			}
		}
	}
}

func wgGemmGo(k int, u, v, m []float32, ldm, n, vstride int) {
	var acc [wgMR][wgNR]float32
	u = u[:k*wgMR]
	for q := 0; q*wgNR < n; q++ {
		nr := min(wgNR, n-q*wgNR)
		vq := v[q*vstride:][:(k-1)*wgNR+nr]
		acc = [wgMR][wgNR]float32{}
		for c := 0; c < k; c++ {
			uc := u[c*wgMR:][:wgMR]
			vc := vq[c*wgNR:][:nr]
			for i, a := range uc {
				row := acc[i][:nr]
				for j, b := range vc {
					row[j] += a * b
				}
			}
		}
		for i := 0; i < wgMR; i++ {
			copy(m[i*ldm+q*wgNR:][:nr], acc[i][:nr])
		}
	}
}

// epiRowGo stores dst[i] = act(src[i] + bias + res[i]); res may be nil.
func epiRowGo(dst, src, res []float32, bias float32, act Activation, _ int) {
	src = src[:len(dst)]
	if res != nil {
		res = res[:len(dst)]
		for i := range dst {
			dst[i] = activate(src[i]+bias+res[i], act)
		}
		return
	}
	for i := range dst {
		dst[i] = activate(src[i]+bias, act)
	}
}
