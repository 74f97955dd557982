//go:build !noasm

package kernels

//go:generate go run ./internal/asmgen -out gemm_amd64.s

// Micro-kernels in gemm_amd64.s. Each computes one MR x NR tile of C from a
// packed MR-row panel of A (a[p*MR+i]) and a packed NR-column panel of B
// (b[p*NR+j]) over k >= 1 steps and stores
//
//	C = alpha*A*B + beta*C   (C is not read when beta == 0)
//
// with c pointing at the tile's top-left element and ldc its row stride.

//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel6x8AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel12x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel12x16AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

// The Direct kernels read A unpacked: row i of the tile is
// a[i*lda : i*lda+k] (a non-transposed A needs no packing).

//go:noescape
func sgemmKernel6x16AVX2Direct(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel6x8AVX2Direct(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel12x32AVX512Direct(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel12x16AVX512Direct(k int, a *float32, lda int, b, c *float32, ldc int, alpha, beta float32)

// sgemmPackBW packs np full W-column panels of a row-major operand:
// dst[q*dstride + p*W + j] = src[p*lds + q*W + j] for q < np, p < k, j < W.
// k, np >= 1. AVX.
//
//go:noescape
func sgemmPackB8(k, np int, src *float32, lds int, dst *float32, dstride int)

//go:noescape
func sgemmPackB16(k, np int, src *float32, lds int, dst *float32, dstride int)

//go:noescape
func sgemmPackB32(k, np int, src *float32, lds int, dst *float32, dstride int)

// sgemmPackAMR packs MR rows (lda apart) into an MR-row panel:
// dst[p*MR+i] = src[i*lda+p] for p < k, i < MR; k a positive multiple of 8.
// It may write up to 8 floats past dst[k*MR]. AVX.
//
//go:noescape
func sgemmPackA6(k int, src *float32, lda int, dst *float32)

//go:noescape
func sgemmPackA12(k int, src *float32, lda int, dst *float32)

// sgemmTransPanel8 writes dst[p*ldd+j] = src[j*lds+p] for j < 8 and
// p < k; k must be a positive multiple of 8. AVX.
//
//go:noescape
func sgemmTransPanel8(k int, src *float32, lds int, dst *float32, ldd int)

// fmaPeakAVX2 and fmaPeakAVX512 run n iterations of 12 independent
// VFMADD231PS (ymm: 192 flops, zmm: 384 flops per iteration); the benchmarks
// use them to measure the machine's FMA peak.
//
//go:noescape
func fmaPeakAVX2(n int)

//go:noescape
func fmaPeakAVX512(n int)

// asmGemmImpls lists the assembly GEMMs, best first.
func asmGemmImpls() []*gemmImpl { return asmImpls }

var asmImpls = []*gemmImpl{
	{
		// Zen 4/5 and Intel AVX-512. Not selected unless asked for with
		// CONVNET_KERNELS=avx512: it has only run on an interpreter
		// (internal/asmgen), never on AVX-512 hardware.
		name:      "avx512",
		supported: cpuAVX512,
		auto:      false,
		mr:        12, nr: 32,
		// B micro-panel kc*32*4 = 16 KiB in L1, A block 240 x 128
		// (120 KiB) in L2.
		mc: 240, kc: 128,
		nBudget:        1 << 21,
		l2:             192 << 10,
		kern:           sgemmKernel12x32AVX512,
		kernHalf:       sgemmKernel12x16AVX512,
		kernDirect:     sgemmKernel12x32AVX512Direct,
		kernHalfDirect: sgemmKernel12x16AVX512Direct,
		packBFull:      sgemmPackB32,
		packBHalf:      sgemmPackB16,
		packA:          sgemmPackA12,
		trans8:         sgemmTransPanel8,
	},
	{
		name:      "avx2",
		supported: cpuAVX2FMA,
		auto:      true,
		mr:        6, nr: 16,
		mc: 144, kc: 256,
		nBudget:        1 << 21,
		l2:             96 << 10,
		kern:           sgemmKernel6x16AVX2,
		kernHalf:       sgemmKernel6x8AVX2,
		kernDirect:     sgemmKernel6x16AVX2Direct,
		kernHalfDirect: sgemmKernel6x8AVX2Direct,
		packBFull:      sgemmPackB16,
		packBHalf:      sgemmPackB8,
		packA:          sgemmPackA6,
		trans8:         sgemmTransPanel8,
	},
}

// fmaPeakLoops lists the FMA peak loops this CPU can run.
func fmaPeakLoops() []fmaLoop {
	var l []fmaLoop
	if cpuAVX2FMA {
		l = append(l, fmaLoop{"ymm", fmaPeakAVX2, 12 * 8 * 2})
	}
	if cpuAVX512 {
		l = append(l, fmaLoop{"zmm", fmaPeakAVX512, 12 * 16 * 2})
	}
	return l
}
