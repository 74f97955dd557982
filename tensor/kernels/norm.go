package kernels

import "math"

// Row kernels of training-mode BatchNorm: the per-channel reductions
// (sum, sum of squared deviations, and the two sums of the backward
// pass) and the two element-wise passes. Deviations are taken as
// (x - mu) - lo, with the batch mean split into a float32 pair mu + lo
// so that it keeps float64 precision (see autograd's splitMean).
//
// The reductions return float32 sums of at most normBlock values each,
// in several independent accumulators; callers add the blocks in
// float64, so that 224x224 planes lose no precision.

// NormBlock is the longest row the reductions take at once.
const NormBlock = 256

type normKernels struct {
	name   string
	sum    func(s []float32) float32
	sumSq  func(s []float32, mu, lo float32) float32
	sumDot func(g, x []float32, mu, lo float32) (sg, sgx float32)
	norm   func(dst, src []float32, mu, lo, scale, shift float32)
	bnBack func(dst, g, x []float32, kg, kx, kc, mu, lo float32)
	// reluBack is ReLU's input gradient, here for want of a better home
	// among the training rows.
	reluBack func(dst, g, x []float32)
}

var normGeneric = &normKernels{name: "generic", sum: sumRowGo, sumSq: sumSqDevRowGo, sumDot: sumDotDevRowGo, norm: normRowGo, bnBack: bnBackRowGo, reluBack: reluBackRowGo}

// normImpl is the implementation the exported functions use; tests swap it.
var normImpl = func() *normKernels {
	if !forceGenericKernels {
		if k := normAsmKernels(); k != nil {
			return k
		}
	}
	return normGeneric
}()

// SumRow returns the sum of s (len(s) <= NormBlock).
func SumRow(s []float32) float32 { return normImpl.sum(s) }

// SumSqDevRow returns the sum of ((v - mu) - lo)^2 over s (len(s) <= NormBlock).
func SumSqDevRow(s []float32, mu, lo float32) float32 { return normImpl.sumSq(s, mu, lo) }

// SumDotDevRow returns the sums of g and of g*((x - mu) - lo) (len(g) <=
// NormBlock, len(x) >= len(g)).
func SumDotDevRow(g, x []float32, mu, lo float32) (sg, sgx float32) {
	return normImpl.sumDot(g, x, mu, lo)
}

// NormRow sets dst[i] = ((src[i] - mu) - lo)*scale + shift (BatchNorm's
// forward).
func NormRow(dst, src []float32, mu, lo, scale, shift float32) {
	normImpl.norm(dst, src, mu, lo, scale, shift)
}

// BNBackRow sets dst[i] = kg*g[i] + kx*((x[i] - mu) - lo) + kc (BatchNorm's
// input gradient with batch statistics).
func BNBackRow(dst, g, x []float32, kg, kx, kc, mu, lo float32) {
	normImpl.bnBack(dst, g, x, kg, kx, kc, mu, lo)
}

func sumRowGo(s []float32) float32 {
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= len(s); i += 4 {
		q := s[i : i+4 : i+4]
		a0 += q[0]
		a1 += q[1]
		a2 += q[2]
		a3 += q[3]
	}
	for ; i < len(s); i++ {
		a0 += s[i]
	}
	return (a0 + a1) + (a2 + a3)
}

func sumSqDevRowGo(s []float32, mu, lo float32) float32 {
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= len(s); i += 4 {
		q := s[i : i+4 : i+4]
		d0, d1, d2, d3 := (q[0]-mu)-lo, (q[1]-mu)-lo, (q[2]-mu)-lo, (q[3]-mu)-lo
		a0 += d0 * d0
		a1 += d1 * d1
		a2 += d2 * d2
		a3 += d3 * d3
	}
	for ; i < len(s); i++ {
		d := (s[i] - mu) - lo
		a0 += d * d
	}
	return (a0 + a1) + (a2 + a3)
}

func sumDotDevRowGo(g, x []float32, mu, lo float32) (sg, sgx float32) {
	x = x[:len(g)]
	var a0, a1, c0, c1 float32
	i := 0
	for ; i+2 <= len(g); i += 2 {
		q, r := g[i:i+2:i+2], x[i:i+2:i+2]
		a0 += q[0]
		a1 += q[1]
		c0 += q[0] * ((r[0] - mu) - lo)
		c1 += q[1] * ((r[1] - mu) - lo)
	}
	for ; i < len(g); i++ {
		a0 += g[i]
		c0 += g[i] * ((x[i] - mu) - lo)
	}
	return a0 + a1, c0 + c1
}

func normRowGo(dst, src []float32, mu, lo, scale, shift float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = ((v-mu)-lo)*scale + shift
	}
}

func bnBackRowGo(dst, g, x []float32, kg, kx, kc, mu, lo float32) {
	g, x = g[:len(dst)], x[:len(dst)]
	for i, gv := range g {
		dst[i] = kg*gv + kx*((x[i]-mu)-lo) + kc
	}
}

// ReLUBackRow sets dst[i] = g[i] where x[i] > 0, else 0 (PyTorch's
// threshold_backward; NaN passes nothing).
func ReLUBackRow(dst, g, x []float32) { normImpl.reluBack(dst, g, x) }

func reluBackRowGo(dst, g, x []float32) {
	g, x = g[:len(dst)], x[:len(dst)]
	for i, v := range x {
		// On the bits as integers, a conditional move: a branch would
		// mispredict on about half of the values.
		gb := math.Float32bits(g[i])
		if !(v > 0) {
			gb = 0
		}
		dst[i] = math.Float32frombits(gb)
	}
}
