//go:build !noasm

package kernels

// dwConv3x3AVX2 is dwPlaneGo (see dwconv.go) for s = 1 or 2, over
// zero-bordered rows; res may be nil and act is an Activation. The last
// partial block of 8 columns of the last tm rows is stored with a mask
// (tm = ceil(8/ow)): earlier rows store 8 wide into the rows after them,
// which are written later, so nothing past dst[ow*oh-1] is written. Each
// row and block of 8 first prefetches for writing the line next floats
// past where it stores (see dwPlaneFunc).
//
//go:noescape
func dwConv3x3AVX2(src *float32, ld int, dst *float32, ow, oh, s int, w *float32, bias float32, res *float32, act, tm, next int)

// dwPadCopyAVX2 is dwPadCopyGo for h >= 1 rows; the rows of dst must
// have room for 1 + 8*ceil(w/8) floats.
//
//go:noescape
func dwPadCopyAVX2(dst *float32, ld int, src *float32, w, h int)

func dwAsmKernel() dwPlaneFunc {
	if !cpuAVX2FMA {
		return nil
	}
	return dwPlaneAVX2
}

func dwAsmPadCopy() dwPadCopyFunc {
	if !cpuAVX2FMA {
		return nil
	}
	return dwPadCopyAVX2Go
}

func dwPadCopyAVX2Go(dst []float32, ld int, src []float32, w, h int) {
	if w <= 0 || h <= 0 {
		return
	}
	_ = dst[(h-1)*ld+8*((w+7)/8)]
	_ = src[w*h-1]
	dwPadCopyAVX2(&dst[0], ld, &src[0], w, h)
}

func dwPlaneAVX2(src []float32, ld int, dst []float32, ow, oh, s int, w []float32, bias float32, res []float32, act Activation, next int) {
	if ow <= 0 || oh <= 0 {
		return
	}
	// The last row's reads reach s*8*ceil(ow/8)+2 floats; see dwLD.
	_ = src[(s*(oh-1)+2)*ld+s*8*((ow+7)/8)+1]
	_ = dst[ow*oh-1]
	_ = w[8]
	var rp *float32
	tm := (8 + ow - 1) / ow
	if res != nil {
		rp = &res[:ow*oh][0]
		if rp == &dst[0] {
			// In place: an 8-wide tail would overwrite the next row's
			// residual before it is read.
			tm = oh
		}
	}
	dwConv3x3AVX2(&src[0], ld, &dst[0], ow, oh, s, &w[0], bias, rp, int(act), tm, next)
}
