package kernels

// A fast depthwise 3x3 convolution (MobileNetV2's and ShuffleNetV2's
// depthwise layers): padding 1, stride 1 or 2, one output channel per input
// channel, with the output stage (bias, residual, activation) fused.
//
// Each plane is first copied into a zero-bordered scratch plane, so the
// inner loop has no edge cases: 8 output columns at a time (one ymm), each
// the sum of 9 multiply-adds over unaligned loads of three padded rows
// (stride 2 de-interleaves even and odd columns with shuffles). The copy
// (8-wide, in assembly too) costs one read and one write per input value,
// small next to the nine multiply-adds per output, and makes planes as
// small as 7x7 run the same code as 112x112 ones. The plain kernel (depthwiseForward) is the
// reference.

// DepthwiseConv3x3Supported reports whether DepthwiseConv3x3 handles p.
func DepthwiseConv3x3Supported(p *ConvParams) bool {
	return p.Groups == p.C && p.Cout == p.C && p.C > 0 &&
		p.KH == 3 && p.KW == 3 && p.PH == 1 && p.PW == 1 && p.DH == 1 && p.DW == 1 &&
		(p.SH == 1 || p.SH == 2) && p.SW == p.SH &&
		p.OH == (p.H-1)/p.SH+1 && p.OW == (p.W-1)/p.SW+1 && p.H > 0 && p.W > 0 && p.N > 0
}

// DepthwiseConv3x3 computes y = ep(conv(x, w)) for a depthwise 3x3
// convolution with padding 1 and stride 1 or 2 (see
// DepthwiseConv3x3Supported; other shapes panic, a programmer error). x is
// N x C x H x W, w is C x 1 x 3 x 3, y is N x C x OH x OW; ep may be nil
// (bias, residual and activation as in Epilogue; the residual may be y
// itself, for an in-place sum, but may not otherwise overlap it).
// Steady-state calls allocate nothing.
func DepthwiseConv3x3(p *ConvParams, x, w, y []float32, ep *Epilogue) {
	if !DepthwiseConv3x3Supported(p) {
		panic("kernels: DepthwiseConv3x3: unsupported shape")
	}
	ny := p.N * p.C * p.OH * p.OW
	if len(x) < p.N*p.C*p.H*p.W || len(w) < p.C*9 || len(y) < ny {
		panic("kernels: DepthwiseConv3x3: x, w or y too short")
	}
	if ep != nil && (ep.Bias != nil && len(ep.Bias) < p.C || ep.Residual != nil && len(ep.Residual) < ny) {
		panic("kernels: DepthwiseConv3x3: bias or residual too short")
	}
	var j *dwJob
	select {
	case j = <-dwJobs:
	default:
		j = new(dwJob)
		j.fn = j.run
	}
	j.p, j.x, j.w, j.y, j.ep = p, x, w, y, ep
	j.impl, j.copy = dwImpl, dwCopy
	// Tasks of at least ~16K outputs, so small planes are batched.
	grain := max(1, (16<<10)/(p.OH*p.OW))
	Parallel(p.N*p.C, grain, j.fn)
	j.p, j.x, j.w, j.y, j.ep = nil, nil, nil, nil, nil
	select {
	case dwJobs <- j:
	default:
	}
}

// dwPlaneFunc computes one output plane (oh rows of ow, contiguous in dst)
// from a zero-bordered input plane src (rows ld floats apart; output
// (r, c) reads src[(s*r+i)*ld + s*c + j] for i, j < 3), with
// dst = act(sum + bias + res) (res nil for none). The padded rows must
// hold at least s*8*ceil(ow/8)+2 readable floats. next is how many floats
// past dst a later call will write (0: none known), which the assembly
// prefetches for writing; see DepthwiseConv3x3.
type dwPlaneFunc func(src []float32, ld int, dst []float32, ow, oh, s int, w []float32, bias float32, res []float32, act Activation, next int)

// dwPadCopyFunc copies h rows of w floats (contiguous in src) into dst at
// column 1 of rows ld apart; it may write zeros up to column 1+8*ceil(w/8)
// of each row.
type dwPadCopyFunc func(dst []float32, ld int, src []float32, w, h int)

// dwImpl and dwCopy are the kernels DepthwiseConv3x3 uses; tests swap them.
var dwImpl, dwCopy = selectDwKernels()

func selectDwKernels() (dwPlaneFunc, dwPadCopyFunc) {
	if !forceGenericKernels {
		if k, c := dwAsmKernel(), dwAsmPadCopy(); k != nil && c != nil {
			return k, c
		}
	}
	return dwPlaneGo, dwPadCopyGo
}

func dwPadCopyGo(dst []float32, ld int, src []float32, w, h int) {
	for r := 0; r < h; r++ {
		copy(dst[r*ld+1:][:w], src[r*w:][:w])
	}
}

type dwJob struct {
	p       *ConvParams
	x, w, y []float32
	ep      *Epilogue
	impl    dwPlaneFunc
	copy    dwPadCopyFunc
	fn      func(lo, hi int)
}

// Free lists of jobs and of zero-bordered scratch planes (one per running
// task). Channels rather than sync.Pools, which every GC empties.
var (
	dwJobs    = make(chan *dwJob, 8)
	dwScratch = make(chan *[]float32, 32)
)

// dwLD is the padded row length for p: the W+2 padded columns, what the
// last 8-column block reads, and what the copy writes, rounded up to 8.
func dwLD(p *ConvParams) int {
	nch := (p.OW + 7) / 8
	return (max(p.W+2, p.SW*8*nch+2, 8*((p.W+7)/8)+1) + 7) / 8 * 8
}

func (j *dwJob) run(lo, hi int) {
	p := j.p
	ld := dwLD(p)
	n := (p.H+2)*ld + 8
	var b *[]float32
	select {
	case b = <-dwScratch:
	default:
	}
	if b == nil || cap(*b) < n {
		s := make([]float32, n)
		b = &s
	}
	pad := (*b)[:n]
	clear(pad) // the border stays zero; planes overwrite the interior
	ohw := p.OH * p.OW
	var bias []float32
	var res []float32
	act := ActNone
	if j.ep != nil {
		bias, res, act = j.ep.Bias, j.ep.Residual, j.ep.Act
	}
	for u := lo; u < hi; u++ {
		c := u % p.C
		j.copy(pad[ld:], ld, j.x[u*p.H*p.W:][:p.H*p.W], p.W, p.H)
		var b float32
		if bias != nil {
			b = bias[c]
		}
		var rs []float32
		if res != nil {
			rs = res[u*ohw:][:ohw]
		}
		// Small planes are short write streams, one after another,
		// which the hardware prefetchers do not follow: a store waits
		// for its line, for long when another core holds it or the
		// host's caches are busy. The kernel prefetches the plane two
		// ahead, if this task writes it (another task's lines would be
		// taken from its core). In-process A/B (prefetch on alternate
		// passes, 1200 each, passes split by speed): on a host slowed by
		// its other tenants the 7x7 and 14x14 depthwise layers of
		// MobileNetV2 1.6-2x faster, whole net -6%, ShuffleNetV2 -6%;
		// on a quiet host both level.
		next := 0
		if ohw <= dwPrefetchPlane && u+2 < hi {
			next = 2 * ohw
		}
		j.impl(pad, ld, j.y[u*ohw:][:ohw], p.OW, p.OH, p.SH, j.w[c*9:][:9], b, rs, act, next)
	}
	select {
	case dwScratch <- b:
	default:
	}
}

// dwPrefetchPlane is the largest output plane, in floats, whose writes
// are prefetched two planes ahead (28x28); larger ones are long enough
// for the hardware prefetchers.
const dwPrefetchPlane = 28 * 28

// dwPlaneGo is the pure-Go plane kernel.
func dwPlaneGo(src []float32, ld int, dst []float32, ow, oh, s int, w []float32, bias float32, res []float32, act Activation, _ int) {
	w = w[:9]
	dst = dst[:ow*oh]
	for r := 0; r < oh; r++ {
		r0 := src[s*r*ld:][:s*ow+2]
		r1 := src[(s*r+1)*ld:][:s*ow+2]
		r2 := src[(s*r+2)*ld:][:s*ow+2]
		d := dst[r*ow:][:ow]
		for c := range d {
			i := s * c
			a := bias + w[0]*r0[i] + w[1]*r0[i+1] + w[2]*r0[i+2]
			a += w[3]*r1[i] + w[4]*r1[i+1] + w[5]*r1[i+2]
			a += w[6]*r2[i] + w[7]*r2[i+1] + w[8]*r2[i+2]
			if res != nil {
				a += res[r*ow+c]
			}
			d[c] = activate(a, act)
		}
	}
}

// DepthwiseRowsScratch is the scratch, in floats, that
// DepthwiseConv3x3Rows needs for bands of up to rows output rows of p.
func DepthwiseRowsScratch(p *ConvParams, rows int) int {
	return (p.SH*(rows-1)+3)*dwLD(p) + 8
}

// DepthwiseConv3x3Rows computes output rows [r0, r1) of every channel of
// one image of the depthwise convolution p (p.N is not used), on the
// calling goroutine: a layer computed band by band inside a parallel task
// (a fused MobileNetV2 block). x holds the image's input rows [i0, i1) of
// every channel, planes xcs floats apart (row i of channel c at
// x[c*xcs+(i-i0)*p.W]); they must include the rows the band reads,
// s*r0-1 ... s*(r1-1)+1 inside the image. Row r of channel c goes to
// y[c*ycs+(r-r0)*p.OW], and ep's residual, if any, is read at the same
// offsets with plane stride rcs. scratch holds at least
// DepthwiseRowsScratch(p, r1-r0) floats.
func DepthwiseConv3x3Rows(p *ConvParams, r0, r1 int, x []float32, i0, i1, xcs int, w, y []float32, ycs int, ep *Epilogue, rcs int, scratch []float32) {
	if !DepthwiseConv3x3Supported(p) || r0 < 0 || r1 > p.OH || r0 >= r1 {
		panic("kernels: DepthwiseConv3x3Rows: unsupported shape or rows")
	}
	s := p.SH
	top := s*r0 - 1
	lo, hi := max(top, 0), min(s*(r1-1)+2, p.H)
	if i0 > lo || i1 < hi {
		panic("kernels: DepthwiseConv3x3Rows: the input rows do not cover the band")
	}
	rows, orows := s*(r1-r0-1)+3, r1-r0
	ld := dwLD(p)
	n := rows*ld + 8
	if len(scratch) < n || len(w) < p.C*9 ||
		len(x) < (p.C-1)*xcs+(i1-i0)*p.W || len(y) < (p.C-1)*ycs+orows*p.OW {
		panic("kernels: DepthwiseConv3x3Rows: x, w, y or scratch too short")
	}
	var bias, res []float32
	act := ActNone
	if ep != nil {
		bias, res, act = ep.Bias, ep.Residual, ep.Act
		if bias != nil && len(bias) < p.C || res != nil && len(res) < (p.C-1)*rcs+orows*p.OW {
			panic("kernels: DepthwiseConv3x3Rows: bias or residual too short")
		}
	}
	// The rows above and below the image stay zero from this clear, as do
	// the border columns: every plane copies the same rows.
	pad := scratch[:n]
	clear(pad)
	k0 := lo - top // pad row of input row lo
	for c := 0; c < p.C; c++ {
		dwCopy(pad[k0*ld:], ld, x[c*xcs+(lo-i0)*p.W:][:(hi-lo)*p.W], p.W, hi-lo)
		var b float32
		if bias != nil {
			b = bias[c]
		}
		var rs []float32
		if res != nil {
			rs = res[c*rcs:][:orows*p.OW]
		}
		dwImpl(pad, ld, y[c*ycs:][:orows*p.OW], p.OW, orows, s, w[c*9:][:9], b, rs, act, 0)
	}
}
