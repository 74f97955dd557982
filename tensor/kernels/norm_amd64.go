//go:build !noasm

package kernels

// The AVX2 BatchNorm rows (norm_amd64.s) work on whole groups of 8; the
// wrappers do the tails with the Go twins.

//go:noescape
func sumRowAVX2(src *float32, n int) float32

//go:noescape
func sumSqDevRowAVX2(src *float32, n int, mu, lo float32) float32

//go:noescape
func sumDotDevRowAVX2(gr, x *float32, n int, mu, lo float32) (sg, sgx float32)

//go:noescape
func normRowAVX2(dst, src *float32, n int, mu, lo, scale, shift float32)

//go:noescape
func bnBackRowAVX2(dst, gr, x *float32, n int, kg, kx, kc, mu, lo float32)

//go:noescape
func reluBackRowAVX2(dst, gr, x *float32, n int)

func normAsmKernels() *normKernels {
	if !cpuAVX2FMA {
		return nil
	}
	return normAVX2
}

var normAVX2 = &normKernels{name: "avx2",
	sum: func(s []float32) float32 {
		n := len(s) &^ 7
		if n == 0 {
			return sumRowGo(s)
		}
		return sumRowAVX2(&s[0], n) + sumRowGo(s[n:])
	},
	sumSq: func(s []float32, mu, lo float32) float32 {
		n := len(s) &^ 7
		if n == 0 {
			return sumSqDevRowGo(s, mu, lo)
		}
		return sumSqDevRowAVX2(&s[0], n, mu, lo) + sumSqDevRowGo(s[n:], mu, lo)
	},
	sumDot: func(g, x []float32, mu, lo float32) (float32, float32) {
		n := len(g) &^ 7
		if n == 0 {
			return sumDotDevRowGo(g, x, mu, lo)
		}
		_ = x[len(g)-1]
		a, b := sumDotDevRowAVX2(&g[0], &x[0], n, mu, lo)
		c, d := sumDotDevRowGo(g[n:], x[n:], mu, lo)
		return a + c, b + d
	},
	norm: func(dst, src []float32, mu, lo, scale, shift float32) {
		n := len(dst) &^ 7
		if n > 0 {
			_ = src[len(dst)-1]
			normRowAVX2(&dst[0], &src[0], n, mu, lo, scale, shift)
		}
		normRowGo(dst[n:], src[n:], mu, lo, scale, shift)
	},
	bnBack: func(dst, g, x []float32, kg, kx, kc, mu, lo float32) {
		n := len(dst) &^ 7
		if n > 0 {
			_, _ = g[len(dst)-1], x[len(dst)-1]
			bnBackRowAVX2(&dst[0], &g[0], &x[0], n, kg, kx, kc, mu, lo)
		}
		bnBackRowGo(dst[n:], g[n:], x[n:], kg, kx, kc, mu, lo)
	},
	reluBack: func(dst, g, x []float32) {
		n := len(dst) &^ 7
		if n > 0 {
			_, _ = g[len(dst)-1], x[len(dst)-1]
			reluBackRowAVX2(&dst[0], &g[0], &x[0], n)
		}
		reluBackRowGo(dst[n:], g[n:], x[n:])
	},
}
