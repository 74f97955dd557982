package kernels

// Row kernels: the memory-bound element-wise passes of an inference plan
// (pooling, a BatchNorm that could not be folded, a residual addition, an
// activation) over one contiguous row at a time. Go does not vectorise
// loops, and these loops, written plainly, run at one element per 1-2 ns
// (Go's float max and min handle NaN and signed zeros with several
// instructions each); the AVX2 versions move 8 floats per instruction and
// are limited by memory. Every function has its Go twin, selected by
// CONVNET_KERNELS=generic or on CPUs without AVX2, and tests binding the
// two on odd lengths with guard bands.
//
// NaN: like PyTorch, a NaN input makes a NaN output (the max of a window
// holding NaN, ReLU(NaN)), so the clamps keep the value as the operand
// VMAXPS/VMINPS return on NaN and the maxima OR in an unordered-compare
// mask.

import "math"

// rowKernels is one implementation of the row kernels.
type rowKernels struct {
	name string
	// affine: dst[i] = clamp(src[i]*scale + shift, lo, hi).
	affine func(dst, src []float32, scale, shift, lo, hi float32)
	// max2: dst[i] = max(a[i], b[i]).
	max2 func(dst, a, b []float32)
	// maxS2: dst[o] = max(src[2o : 2o+kw]) for kw = 2 or 3; src holds
	// 2*len(dst)+kw-2 floats.
	maxS2 func(dst, src []float32, kw int)
	// maxS2R3: for rows output rows i, dst[i*ldd+o] = max(r[i*step+2o :
	// i*step+2o+kw]) over the rows r0, r1, r2 (a row may be passed twice),
	// o < n; each r[i*step:] holds 2n+kw-2 floats.
	maxS2R3 func(dst []float32, ldd, n int, r0, r1, r2 []float32, step, rows, kw int)
	// even: dst[i] = src[2i]; src holds at least 2*len(dst)-1 floats.
	even func(dst, src []float32)
	// avg2x2: dst[o] = (a[2o] + a[2o+1] + b[2o] + b[2o+1]) / 4.
	avg2x2 func(dst, a, b []float32)
}

var rowImpl = selectRowKernels()

func selectRowKernels() *rowKernels {
	if !forceGenericKernels {
		if k := rowAsmKernels(); k != nil {
			return k
		}
	}
	return rowGeneric
}

var rowGeneric = &rowKernels{name: "generic", affine: affineRowGo, max2: maxRowGo, maxS2: maxRowS2Go, maxS2R3: maxPoolS2R3Go, even: gatherEvenGo, avg2x2: avgRow2x2Go}

// actBounds returns the clamp of an activation.
func actBounds(a Activation) (lo, hi float32) {
	switch a {
	case ActReLU:
		return 0, float32(math.Inf(1))
	case ActReLU6:
		return 0, 6
	}
	return float32(math.Inf(-1)), float32(math.Inf(1))
}

// EpilogueRow sets dst[i] = act(src[i] + bias + res[i]) for i < len(dst)
// (res may be nil; dst may be src or res). It is Epilogue's output stage
// for one row, vectorised.
func EpilogueRow(dst, src, res []float32, bias float32, act Activation) {
	if len(dst) == 0 {
		return
	}
	src = src[:len(dst)]
	if res != nil {
		res = res[:len(dst)]
	}
	wgImpl.epi(dst, src, res, bias, act, 0)
}

// AffineRow sets dst[i] = act(src[i]*scale + shift) for i < len(dst)
// (dst may be src): an unfolded BatchNorm channel and its activation.
func AffineRow(dst, src []float32, scale, shift float32, act Activation) {
	if len(dst) == 0 {
		return
	}
	lo, hi := actBounds(act)
	rowImpl.affine(dst, src[:len(dst)], scale, shift, lo, hi)
}

// MaxRow sets dst[i] = max(a[i], b[i]) (a NaN wins; dst may be a or b).
func MaxRow(dst, a, b []float32) {
	if len(dst) == 0 {
		return
	}
	rowImpl.max2(dst, a[:len(dst)], b[:len(dst)])
}

// MaxPoolRowS2 sets dst[o] = max(src[2o], ..., src[2o+kw-1]) for kw = 2 or
// 3 (a NaN wins): one output row of a stride-2 max pooling from the row of
// its windows' vertical maxima. src must hold 2*len(dst)+kw-2 floats.
func MaxPoolRowS2(dst, src []float32, kw int) {
	if kw != 2 && kw != 3 {
		panic("kernels: MaxPoolRowS2: window must be 2 or 3 wide")
	}
	n := len(dst)
	if n == 0 {
		return
	}
	rowImpl.maxS2(dst, src[:2*n+kw-2], kw)
}

// MaxPoolRowsS2R3 is MaxPoolRowS2 over the element-wise maximum of three
// rows, without writing that row, for rows output rows at once: output
// row i, dst[i*ldd : i*ldd+n], of a stride-2 max pooling whose windows
// are 2 or 3 rows tall (pass a row twice for 2) and kw = 2 or 3 wide, all
// inside the input, from the rows r0[i*step:], r1[i*step:] and
// r2[i*step:], each holding 2n+kw-2 floats (for a 3x3 window of stride 2
// on rows of width w: r1 and r2 start one and two rows after r0, step =
// 2w; for one row, rows = 1 and any step). One call per plane instead of
// one per row: SqueezeNet's first pooling has 55 rows of 55 outputs per
// plane, and the Go around each row cost about as much as the row.
func MaxPoolRowsS2R3(dst []float32, ldd, n int, r0, r1, r2 []float32, step, rows, kw int) {
	if kw != 2 && kw != 3 {
		panic("kernels: MaxPoolRowsS2R3: window must be 2 or 3 wide")
	}
	if n <= 0 || rows <= 0 {
		return
	}
	m := (rows-1)*step + 2*n + kw - 2
	if len(dst) < (rows-1)*ldd+n || len(r0) < m || len(r1) < m || len(r2) < m || ldd < n || step < 0 {
		panic("kernels: MaxPoolRowsS2R3: dst or a row too short")
	}
	rowImpl.maxS2R3(dst, ldd, n, r0, r1, r2, step, rows, kw)
}

// AvgPoolRow2x2 sets dst[o] = (a[2o] + a[2o+1] + b[2o] + b[2o+1]) / 4: one
// output row of a 2x2, stride-2 average pooling without padding from its
// two input rows (a and b hold 2*len(dst) floats).
func AvgPoolRow2x2(dst, a, b []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	rowImpl.avg2x2(dst, a[:2*n], b[:2*n])
}

// nanMax is max(a, b) with a NaN in either winning, as in PyTorch's
// pooling (Go's max does the same, but compiles to a longer sequence).
func nanMax(a, b float32) float32 {
	if a != a || a > b {
		return a
	}
	return b
}

func affineRowGo(dst, src []float32, scale, shift, lo, hi float32) {
	src = src[:len(dst)]
	for i, v := range src {
		v = v*scale + shift
		// The comparisons are false for NaN, which passes through.
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		dst[i] = v
	}
}

func maxRowGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = nanMax(a[i], b[i])
	}
}

func maxRowS2Go(dst, src []float32, kw int) {
	maxRowS2Tail(dst, src, kw, 0)
}

// maxRowS2Tail computes outputs [from, len(dst)) of maxRowS2Go.
func maxRowS2Tail(dst, src []float32, kw, from int) {
	if kw == 2 {
		for o := from; o < len(dst); o++ {
			dst[o] = nanMax(src[2*o], src[2*o+1])
		}
		return
	}
	for o := from; o < len(dst); o++ {
		dst[o] = nanMax(nanMax(src[2*o], src[2*o+1]), src[2*o+2])
	}
}

func maxPoolS2R3Go(dst []float32, ldd, n int, r0, r1, r2 []float32, step, rows, kw int) {
	for i := 0; i < rows; i++ {
		maxPoolS2R3Tail(dst[i*ldd:][:n], r0[i*step:], r1[i*step:], r2[i*step:], kw, 0)
	}
}

// maxPoolS2R3Tail computes outputs [from, len(dst)) of maxPoolS2R3Go.
func maxPoolS2R3Tail(dst, r0, r1, r2 []float32, kw, from int) {
	for o := from; o < len(dst); o++ {
		i := 2 * o
		m := nanMax(nanMax(r0[i], r1[i]), r2[i])
		for k := 1; k < kw; k++ {
			m = nanMax(m, nanMax(nanMax(r0[i+k], r1[i+k]), r2[i+k]))
		}
		dst[o] = m
	}
}

func gatherEvenGo(dst, src []float32) {
	if len(dst) == 0 {
		return
	}
	src = src[:2*len(dst)-1]
	for i := range dst {
		dst[i] = src[2*i]
	}
}

func avgRow2x2Go(dst, a, b []float32) {
	avgRow2x2Tail(dst, a, b, 0)
}

func avgRow2x2Tail(dst, a, b []float32, from int) {
	a, b = a[:2*len(dst)], b[:2*len(dst)]
	for o := from; o < len(dst); o++ {
		dst[o] = ((a[2*o] + a[2*o+1]) + (b[2*o] + b[2*o+1])) * 0.25
	}
}
