//go:build !noasm

package kernels

// dwConv3x3AVX2 is dwPlaneGo (see dwconv.go) for s = 1 or 2, over
// zero-bordered rows; res may be nil and act is an Activation. The last
// partial block of 8 columns of the last tm rows is stored with a mask
// (tm = ceil(8/ow)): earlier rows store 8 wide into the rows after them,
// which are written later, so nothing past dst[ow*oh-1] is written.
//
//go:noescape
func dwConv3x3AVX2(src *float32, ld int, dst *float32, ow, oh, s int, w *float32, bias float32, res *float32, act, tm int)

func dwAsmKernel() dwPlaneFunc {
	if !cpuAVX2FMA {
		return nil
	}
	return dwPlaneAVX2
}

func dwPlaneAVX2(src []float32, ld int, dst []float32, ow, oh, s int, w []float32, bias float32, res []float32, act Activation) {
	if ow <= 0 || oh <= 0 {
		return
	}
	// The last row's reads reach s*8*ceil(ow/8)+2 floats; see dwLD.
	_ = src[(s*(oh-1)+2)*ld+s*8*((ow+7)/8)+1]
	_ = dst[ow*oh-1]
	_ = w[8]
	var rp *float32
	if res != nil {
		rp = &res[:ow*oh][0]
	}
	dwConv3x3AVX2(&src[0], ld, &dst[0], ow, oh, s, &w[0], bias, rp, int(act), (8+ow-1)/ow)
}
