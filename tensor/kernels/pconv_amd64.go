//go:build !noasm

package kernels

// pconvKernel6x16AVX2 is pcKernelGo (see pconv.go) for nr = 16 with load
// as 0 or 1: per row panel, twelve ymm accumulators over k >= 1 steps,
// then the panel's rows (6, rowsLast for the last) of c stored through the
// epilogue. Looping over the panels here rather than in Go matters for
// small k (MobileNet's 16-channel layers: 16 steps per tile). B's rows
// are ldb floats apart.
//
//go:noescape
func pconvKernel6x16AVX2(k, np int, a, b, c *float32, ldc, rowsLast, load int, bias, res *float32, ldr int, lo, hi float32, ldb int)

// pconvKernel6x8AVX2 is pconvKernel6x16AVX2's first 8 columns.
//
//go:noescape
func pconvKernel6x8AVX2(k int, a, b, c *float32, ldc, rows, load int, bias, res *float32, ldr int, lo, hi float32)

// pconvPack16AVX2 is pcPackGo (see pconv.go) for nc, ntap, nseg >= 1:
// each segment is copied with two (masked) 8-float loads and two full
// stores, the segments of a row in order, so a segment's zero tail is
// overwritten by the next one and the last one zeroes the columns no
// segment covers; the last segment of the last row may write up to 16
// floats past the nc*ntap rows. The segments must be in column order, the
// first at column 0.
//
//go:noescape
func pconvPack16AVX2(nc, ntap, cs int, tap *int32, src *float32, segs *pcSeg, nseg int, dst *float32)

func pcAsmKernels() *pcKernels {
	if !cpuAVX2FMA {
		return nil
	}
	return pcAVX2
}

var pcAVX2 = &pcKernels{name: "avx2", kernel: pcKernelAVX2, pack: pcPackAVX2, packAffine: pcPackAffineAVX2, narrow: pcNarrowAVX2}

func pcKernelAVX2(nr, k, np int, a, b []float32, ldb int, c []float32, ldc, rowsLast int, load bool, bias, res []float32, ldr int, lo, hi float32) {
	rows := (np-1)*pcMR + rowsLast
	_ = a[np*k*pcMR-1]
	_ = b[(k-1)*ldb+nr-1]
	_ = c[(rows-1)*ldc+nr-1]
	_ = bias[rows-1]
	_ = res[(rows-1)*ldr+nr-1]
	l := 0
	if load {
		l = 1
	}
	if nr == pcNR {
		pconvKernel6x16AVX2(k, np, &a[0], &b[0], &c[0], ldc, rowsLast, l, &bias[0], &res[0], ldr, lo, hi, ldb)
		return
	}
	if nr != pcNR/2 || ldb != pcNR {
		panic("kernels: packed conv: the 8-wide kernel takes packed panels only")
	}
	for i := 0; i < np; i++ {
		r := pcMR
		if i == np-1 {
			r = rowsLast
		}
		pconvKernel6x8AVX2(k, &a[i*k*pcMR], &b[0], &c[i*pcMR*ldc], ldc, r, l, &bias[i*pcMR], &res[i*pcMR*ldr], ldr, lo, hi)
	}
}

// packChecked reports whether there is anything to pack, after checking
// that the assembly's reads and writes stay inside src, tap and dst: the
// masked loads read exactly the segments' pixels, the stores 16 floats
// per row from each segment's column.
func packChecked(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32) bool {
	if nc <= 0 || ntap <= 0 {
		return false
	}
	if len(segs) == 0 || segs[0].dst != 0 {
		panic("kernels: packed conv: segments must start at column 0")
	}
	_ = tap[ntap-1]
	last := (nc-1)*cs + int(maxTap(tap[:ntap]))
	s := segs[len(segs)-1]
	_ = src[last+int(s.src)+int(s.n)-1]
	_ = dst[nc*ntap*pcNR+pcNR-1]
	return true
}

func pcPackAVX2(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32) {
	if !packChecked(nc, ntap, cs, tap, src, segs, dst) {
		return
	}
	if s := segs[0]; len(segs) == 1 && s.n == pcNR {
		// The usual panel: 16 pixels in a row.
		pconvPack16OneAVX2(nc, ntap, cs, &tap[0], &src[s.src], &dst[0])
		return
	}
	pconvPack16AVX2(nc, ntap, cs, &tap[0], &src[0], &segs[0], len(segs), &dst[0])
}

//go:noescape
func pconvPack16OneAVX2(nc, ntap, cs int, tap *int32, src *float32, dst *float32)

//go:noescape
func pconvPack16AffineAVX2(nc, ntap, cs int, tap *int32, src *float32, segs *pcSeg, nseg int, dst *float32, scale, shift *float32, lo, hi float32)

func pcPackAffineAVX2(nc, ntap, cs int, tap []int32, src []float32, segs []pcSeg, dst []float32, scale, shift []float32, lo, hi float32) {
	if !packChecked(nc, ntap, cs, tap, src, segs, dst) {
		return
	}
	_, _ = scale[nc-1], shift[nc-1]
	pconvPack16AffineAVX2(nc, ntap, cs, &tap[0], &src[0], &segs[0], len(segs), &dst[0], &scale[0], &shift[0], lo, hi)
}

func maxTap(tap []int32) int32 {
	m := tap[0]
	for _, t := range tap {
		m = max(m, t)
	}
	return m
}

//go:noescape
func pconvNarrowAVX2(ncols, k int, a, b, acc *float32, add int)

func pcNarrowAVX2(ncols, k int, a, b, acc []float32, add bool) {
	if ncols < 1 || ncols > pcNarrow || k < 1 {
		panic("kernels: packed conv: narrow kernel takes 1 to 4 columns")
	}
	_ = a[pcMR*k+1] // the last row's 8-float load reads 2 past it
	_ = b[k*pcNR-1]
	_ = acc[pcNarrowAcc-1]
	if ncols == 3 {
		ncols = 4
	}
	l := 0
	if add {
		l = 1
	}
	pconvNarrowAVX2(ncols, k, &a[0], &b[0], &acc[0], l)
}
