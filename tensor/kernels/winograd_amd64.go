//go:build !noasm

package kernels

// AVX2+FMA Winograd kernels in winograd_amd64.s. Each has a pure-Go twin
// in winograd.go (wgInputGo, wgOutputGo, wgGemmGo, epiRowGo) with the same
// layout; the wrappers below check the extents the assembly touches, since
// it does not bounds-check.

// wgInput4AVX2 is wgInputGo for m = 4: 8 tiles of 6x6 at a stride of 4
// floats, rows ld floats apart; writes dst[xi*xis : xi*xis+8], xi < 36.
//
//go:noescape
func wgInput4AVX2(src *float32, ld int, dst *float32, xis int)

// wgInput2AVX2 is wgInputGo for m = 2 (4x4 tiles, 16 points).
//
//go:noescape
func wgInput2AVX2(src *float32, ld int, dst *float32, xis int)

// wgOutput4AVX2 is wgOutputGo for m = 4: reads src[xi*xis : xi*xis+8],
// writes 4 rows of 32 floats ldd apart.
//
//go:noescape
func wgOutput4AVX2(src *float32, xis int, dst *float32, ldd int)

// wgOutput2AVX2 is wgOutputGo for m = 2: 2 rows of 16 floats.
//
//go:noescape
func wgOutput2AVX2(src *float32, xis int, dst *float32, ldd int)

// wgGemm6x16AVX2 is wgGemmGo for np >= 1 full panels of 16 (panel q
// reads v[q*vstride:] and writes m[16q:]); wgGemm6x8AVX2 is one panel of 8:
//
//	m[i*ldm+j] = sum_{c<k} u[c*6+i] * v[c*16+j],  i < 6, j < nr; k >= 1.
//
//go:noescape
func wgGemm6x16AVX2(k int, u, v, m *float32, ldm, np, vstride int)

//go:noescape
func wgGemm6x8AVX2(k int, u, v, m *float32, ldm int)

// epiRowAVX2 is epiRowGo over n floats; res may be nil. act is an
// Activation. It prefetches for writing the floats next past each
// stretch of dst it stores (see wgKernels.epi).
//
//go:noescape
func epiRowAVX2(dst, src, res *float32, n int, bias float32, act int, next int)

func wgAsmKernels() *wgKernels {
	if !cpuAVX2FMA {
		return nil
	}
	return wgAVX2
}

var wgAVX2 = &wgKernels{
	name:   "avx2",
	input:  wgInputAVX2,
	output: wgOutputAVX2,
	gemm:   wgGemmAVX2,
	epi:    epiRowAVX2Go,
}

func wgInputAVX2(m int, src []float32, ld int, dst []float32, xis int) {
	a := m + 2
	_ = src[(a-1)*ld+9*m-1] // the last row's loads reach 8m+m floats
	_ = dst[(a*a-1)*xis+7]
	if m == 4 {
		wgInput4AVX2(&src[0], ld, &dst[0], xis)
	} else {
		wgInput2AVX2(&src[0], ld, &dst[0], xis)
	}
}

func wgOutputAVX2(m int, src []float32, xis int, dst []float32, ldd int) {
	a := m + 2
	_ = src[(a*a-1)*xis+7]
	_ = dst[(m-1)*ldd+8*m-1]
	if m == 4 {
		wgOutput4AVX2(&src[0], xis, &dst[0], ldd)
	} else {
		wgOutput2AVX2(&src[0], xis, &dst[0], ldd)
	}
}

func wgGemmAVX2(k int, u, v, m []float32, ldm, n, vstride int) {
	np := n / wgNR
	_ = u[k*wgMR-1]
	_ = v[(np+n%wgNR/8-1)*vstride+(k-1)*wgNR+min(n, wgNR)-1]
	_ = m[(wgMR-1)*ldm+n-1]
	if np > 0 {
		wgGemm6x16AVX2(k, &u[0], &v[0], &m[0], ldm, np, vstride)
	}
	if n%wgNR != 0 {
		wgGemm6x8AVX2(k, &u[0], &v[np*vstride], &m[np*wgNR], ldm)
	}
}

func epiRowAVX2Go(dst, src, res []float32, bias float32, act Activation, next int) {
	n := len(dst)
	if n == 0 {
		return
	}
	src = src[:n]
	var rp *float32
	if res != nil {
		rp = &res[:n][0]
	}
	epiRowAVX2(&dst[0], &src[0], rp, n, bias, int(act), next)
}
