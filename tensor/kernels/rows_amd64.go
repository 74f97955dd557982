//go:build !noasm

package kernels

import "math"

// The AVX2 row kernels; each is its Go twin in rows.go over n >= 1
// floats (or groups of 8 outputs for the pooling rows, the caller doing
// the rest).

//go:noescape
func affineRowAVX2(dst, src *float32, n int, scale, shift, lo, hi float32)

//go:noescape
func maxRowAVX2(dst, a, b *float32, n int)

// maxRowS2AVX2 computes 8*groups outputs of maxRowS2Go, reading src[0 :
// 16*groups] (kw = 2) or src[0 : 16*groups+2] (kw = 3).
//
//go:noescape
func maxRowS2AVX2(dst, src *float32, groups, kw int)

// maxPoolS2R3AVX2 computes maxPoolS2R3Go for n >= 8 outputs per row,
// ldd and step in floats, reading each row's [0 : 2n+kw-2], no further
// than the last window.
//
//go:noescape
func maxPoolS2R3AVX2(dst, r0, r1, r2 *float32, n, kw, rows, ldd, step int)

// gatherEvenAVX2 sets dst[i] = src[2i] for i < n (n >= 1), reading
// src[0 : 2n-1].
//
//go:noescape
func gatherEvenAVX2(dst, src *float32, n int)

// avgRow2x2AVX2 computes 8*groups outputs of avgRow2x2Go.
//
//go:noescape
func avgRow2x2AVX2(dst, a, b *float32, groups int)

func rowAsmKernels() *rowKernels {
	if !cpuAVX2FMA {
		return nil
	}
	return rowAVX2
}

var rowAVX2 = &rowKernels{name: "avx2", affine: affineRowAVX2Go, max2: maxRowAVX2Go, maxS2: maxRowS2AVX2Go, maxS2R3: maxPoolS2R3AVX2Go, even: gatherEvenAVX2Go, avg2x2: avgRow2x2AVX2Go}

func affineRowAVX2Go(dst, src []float32, scale, shift, lo, hi float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = src[n-1]
	affineRowAVX2(&dst[0], &src[0], n, scale, shift, lo, hi)
}

func maxRowAVX2Go(dst, a, b []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_, _ = a[n-1], b[n-1]
	maxRowAVX2(&dst[0], &a[0], &b[0], n)
}

func maxRowS2AVX2Go(dst, src []float32, kw int) {
	n := len(dst)
	// Groups whose loads stay inside src (2n+kw-2 floats): the last
	// group's loads reach 2o+15, and 2o+17 for kw = 3.
	groups := n / 8
	if kw == 3 {
		groups = (n - 1) / 8
	}
	if groups > 0 {
		_ = src[16*groups+2*(kw-2)-1]
		_ = dst[8*groups-1]
		maxRowS2AVX2(&dst[0], &src[0], groups, kw)
	}
	if rem := n - 8*groups; rem > 0 {
		// The rest as one more group, from a copy padded with -Inf.
		var in [18]float32
		var out [8]float32
		k := copy(in[:], src[16*groups:])
		for i := k; i < len(in); i++ {
			in[i] = float32(math.Inf(-1))
		}
		maxRowS2AVX2(&out[0], &in[0], 1, kw)
		copy(dst[8*groups:], out[:rem])
	}
}

func maxPoolS2R3AVX2Go(dst []float32, ldd, n int, r0, r1, r2 []float32, step, rows, kw int) {
	if n < 8 {
		maxPoolS2R3Go(dst, ldd, n, r0, r1, r2, step, rows, kw)
		return
	}
	m := (rows-1)*step + 2*n + kw - 2
	_, _, _, _ = dst[(rows-1)*ldd+n-1], r0[m-1], r1[m-1], r2[m-1]
	maxPoolS2R3AVX2(&dst[0], &r0[0], &r1[0], &r2[0], n, kw, rows, ldd, step)
}

func gatherEvenAVX2Go(dst, src []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	_ = src[2*n-2]
	gatherEvenAVX2(&dst[0], &src[0], n)
}

func avgRow2x2AVX2Go(dst, a, b []float32) {
	n := len(dst)
	groups := n / 8
	if groups > 0 {
		_, _ = a[16*groups-1], b[16*groups-1]
		_ = dst[8*groups-1]
		avgRow2x2AVX2(&dst[0], &a[0], &b[0], groups)
	}
	if rem := n - 8*groups; rem > 0 {
		var ta, tb [16]float32
		var out [8]float32
		copy(ta[:], a[16*groups:])
		copy(tb[:], b[16*groups:])
		avgRow2x2AVX2(&out[0], &ta[0], &tb[0], 1)
		copy(dst[8*groups:], out[:rem])
	}
}
