package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Plain reference loops for convolution and pooling, written from the
// definitions (PyTorch's conv2d, max_pool2d, avg_pool2d and
// adaptive_avg_pool2d) rather than from the fast kernels' structure, and
// accumulated in float64. The fast kernels are bound to them on awkward
// sizes, with guard bands around every output to catch stray writes.

const guardVal = float32(-12345.5)

// guarded returns a slice of length n inside a buffer with 16 guard values
// on each side; the slice's capacity reaches into the right guard, so a
// kernel that reslices past len is caught by checkGuards, not by a panic.
func guarded(n int) (buf, s []float32) {
	buf = make([]float32, n+32)
	for i := range buf {
		buf[i] = guardVal
	}
	return buf, buf[16 : 16+n]
}

func checkGuards(t *testing.T, what string, buf []float32) {
	t.Helper()
	n := len(buf) - 32
	for i := 0; i < 16; i++ {
		if buf[i] != guardVal || buf[16+n+i] != guardVal {
			t.Fatalf("%s wrote outside its output", what)
		}
	}
}

func convRand(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func convOut(in, k, s, p, d int) int { return (in+2*p-d*(k-1)-1)/s + 1 }

func refConvForward(p *ConvParams, x, w, bias []float32) []float64 {
	cinG, coutG := p.C/p.Groups, p.Cout/p.Groups
	y := make([]float64, p.N*p.Cout*p.OH*p.OW)
	for n := 0; n < p.N; n++ {
		for o := 0; o < p.Cout; o++ {
			g := o / coutG
			for oh := 0; oh < p.OH; oh++ {
				for ow := 0; ow < p.OW; ow++ {
					var s float64
					if bias != nil {
						s = float64(bias[o])
					}
					for ci := 0; ci < cinG; ci++ {
						c := g*cinG + ci
						for kh := 0; kh < p.KH; kh++ {
							for kw := 0; kw < p.KW; kw++ {
								ih, iw := oh*p.SH-p.PH+kh*p.DH, ow*p.SW-p.PW+kw*p.DW
								if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
									continue
								}
								s += float64(x[((n*p.C+c)*p.H+ih)*p.W+iw]) * float64(w[((o*cinG+ci)*p.KH+kh)*p.KW+kw])
							}
						}
					}
					y[((n*p.Cout+o)*p.OH+oh)*p.OW+ow] = s
				}
			}
		}
	}
	return y
}

// refConvBackward returns dx, dw and db for upstream gradient dy: every
// forward product x*w sends dy*w to x and dy*x to w.
func refConvBackward(p *ConvParams, x, w, dy []float32) (dx, dw, db []float64) {
	cinG, coutG := p.C/p.Groups, p.Cout/p.Groups
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, p.Cout)
	for n := 0; n < p.N; n++ {
		for o := 0; o < p.Cout; o++ {
			g := o / coutG
			for oh := 0; oh < p.OH; oh++ {
				for ow := 0; ow < p.OW; ow++ {
					gy := float64(dy[((n*p.Cout+o)*p.OH+oh)*p.OW+ow])
					db[o] += gy
					for ci := 0; ci < cinG; ci++ {
						c := g*cinG + ci
						for kh := 0; kh < p.KH; kh++ {
							for kw := 0; kw < p.KW; kw++ {
								ih, iw := oh*p.SH-p.PH+kh*p.DH, ow*p.SW-p.PW+kw*p.DW
								if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
									continue
								}
								xi := ((n*p.C+c)*p.H+ih)*p.W + iw
								wi := ((o*cinG+ci)*p.KH+kh)*p.KW + kw
								dx[xi] += gy * float64(w[wi])
								dw[wi] += gy * float64(x[xi])
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

// closeTo checks max|got-want| <= tol * max(1, max|want|): float32
// accumulation over K terms of O(1) values errs by about sqrt(K)*6e-8
// relative to the result's scale, far below 1e-5 for these sizes.
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxRef, maxErr float64
	at := -1
	for i, w := range want {
		maxRef = math.Max(maxRef, math.Abs(w))
		if e := math.Abs(float64(got[i]) - w); e > maxErr || math.IsNaN(e) {
			maxErr, at = e, i
		}
	}
	if !(maxErr <= tol*math.Max(1, maxRef)) {
		t.Errorf("%s: max error %.3g at %d (got %g, want %g), bound %.3g", what, maxErr, at, got[at], want[at], tol*math.Max(1, maxRef))
	}
}

type convCase struct {
	n, c, h, w, cout, kh, kw, s, p, d, g int
	sh, sw, ph, pw                       int // when non-zero, override s and p per axis
	bias                                 bool
}

func (c convCase) params() ConvParams {
	p := ConvParams{N: c.n, C: c.c, H: c.h, W: c.w, Cout: c.cout, KH: c.kh, KW: c.kw,
		SH: c.s, SW: c.s, PH: c.p, PW: c.p, DH: c.d, DW: c.d, Groups: c.g}
	if c.sh > 0 {
		p.SH, p.SW = c.sh, c.sw
	}
	if c.ph > 0 || c.pw > 0 {
		p.PH, p.PW = c.ph, c.pw
	}
	p.OH = convOut(p.H, p.KH, p.SH, p.PH, p.DH)
	p.OW = convOut(p.W, p.KW, p.SW, p.PW, p.DW)
	return p
}

func (c convCase) String() string {
	p := c.params()
	return fmt.Sprintf("n%d_c%d_%dx%d_o%d_k%dx%d_s%dx%d_p%dx%d_d%d_g%d_b%v", p.N, p.C, p.H, p.W, p.Cout, p.KH, p.KW, p.SH, p.SW, p.PH, p.PW, p.DH, p.Groups, c.bias)
}

func convCases() []convCase {
	cs := []convCase{
		// 1x1 (pointwise GEMM path), with and without stride.
		{n: 1, c: 1, h: 1, w: 1, cout: 1, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		{n: 2, c: 7, h: 7, w: 5, cout: 3, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		{n: 1, c: 3, h: 31, w: 7, cout: 5, kh: 1, kw: 1, s: 2, d: 1, g: 1},
		{n: 3, c: 4, h: 7, w: 7, cout: 6, kh: 1, kw: 1, s: 1, d: 1, g: 2, bias: true},
		// 3x3 with padding and strides that do not divide evenly.
		{n: 1, c: 3, h: 7, w: 7, cout: 4, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		{n: 2, c: 3, h: 31, w: 31, cout: 7, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1, bias: true},
		{n: 1, c: 5, h: 8, w: 9, cout: 3, kh: 3, kw: 3, s: 3, p: 2, d: 1, g: 1},
		{n: 3, c: 2, h: 7, w: 6, cout: 2, kh: 3, kw: 3, s: 1, p: 0, d: 1, g: 1, bias: true},
		{n: 1, c: 1, h: 1, w: 1, cout: 2, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		// Large kernels and stride 4 (AlexNet conv1 in miniature).
		{n: 1, c: 3, h: 31, w: 29, cout: 4, kh: 11, kw: 11, s: 4, p: 2, d: 1, g: 1, bias: true},
		{n: 2, c: 2, h: 7, w: 7, cout: 3, kh: 5, kw: 5, s: 4, p: 3, d: 1, g: 1},
		// Dilation.
		{n: 1, c: 3, h: 9, w: 11, cout: 4, kh: 3, kw: 3, s: 1, p: 2, d: 2, g: 1, bias: true},
		{n: 2, c: 2, h: 13, w: 7, cout: 2, kh: 3, kw: 3, s: 2, p: 0, d: 3, g: 1},
		// Rectangular kernels and per-axis stride/padding.
		{n: 1, c: 4, h: 7, w: 9, cout: 3, kh: 1, kw: 7, s: 1, ph: 0, pw: 3, d: 1, g: 1, bias: true},
		{n: 2, c: 3, h: 9, w: 7, cout: 5, kh: 7, kw: 1, s: 1, ph: 3, pw: 0, d: 1, g: 1},
		{n: 1, c: 2, h: 11, w: 8, cout: 3, kh: 3, kw: 2, sh: 2, sw: 3, ph: 1, pw: 0, d: 1, g: 1, bias: true},
		// Groups.
		{n: 2, c: 4, h: 7, w: 7, cout: 6, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 2, bias: true},
		{n: 1, c: 6, h: 9, w: 8, cout: 3, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 3},
		// Depthwise (groups == C), multiplier 1 and 2, strides, dilation.
		{n: 2, c: 7, h: 7, w: 7, cout: 7, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 7, bias: true},
		{n: 1, c: 3, h: 31, w: 31, cout: 3, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 3, bias: true},
		{n: 2, c: 3, h: 8, w: 9, cout: 6, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 3, bias: true},
		{n: 1, c: 4, h: 13, w: 10, cout: 8, kh: 5, kw: 5, s: 4, p: 2, d: 1, g: 4},
		{n: 3, c: 2, h: 9, w: 9, cout: 4, kh: 3, kw: 3, s: 2, p: 2, d: 2, g: 2, bias: true},
		{n: 1, c: 5, h: 1, w: 7, cout: 5, kh: 1, kw: 3, s: 1, ph: 0, pw: 1, d: 1, g: 5},
		// Batch large enough for the per-worker paths on any machine.
		{n: 9, c: 3, h: 7, w: 5, cout: 4, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		// Enough channels for the Winograd training path; odd sizes,
		// padding 0 and 2, an odd channel count (taps straddle the
		// 8-row transposes of the weight gradient).
		{n: 3, c: 8, h: 9, w: 11, cout: 8, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		{n: 2, c: 9, h: 7, w: 6, cout: 10, kh: 3, kw: 3, s: 1, p: 0, d: 1, g: 1},
		{n: 5, c: 12, h: 5, w: 5, cout: 8, kh: 3, kw: 3, s: 1, p: 2, d: 1, g: 1, bias: true},
		{n: 9, c: 4, h: 5, w: 5, cout: 4, kh: 1, kw: 1, s: 1, d: 1, g: 1},
	}
	if !testing.Short() {
		cs = append(cs,
			convCase{n: 2, c: 16, h: 31, w: 31, cout: 33, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
			convCase{n: 1, c: 32, h: 29, w: 29, cout: 32, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 32, bias: true},
		)
	}
	return cs
}

// TestConvKernels binds Conv2dForward, Conv2dBackwardData and
// Conv2dBackwardWeight to the reference loops, on each of their paths:
// packed implicit GEMM with Winograd for 3x3 stride-1 layers (the
// default), packed alone, and im2col + GEMM (pointwise and depthwise
// cases have paths of their own in all three).
func TestConvKernels(t *testing.T) {
	defer func(p, w bool) { useTrainPacked, trainWinograd = p, w }(useTrainPacked, trainWinograd)
	for _, mode := range []struct {
		name          string
		packed, wgrad bool
	}{{"packed+winograd", true, true}, {"packed", true, false}, {"im2col", false, false}} {
		useTrainPacked, trainWinograd = mode.packed, mode.wgrad
		t.Run(mode.name, testConvKernels)
	}
}

func testConvKernels(t *testing.T) {
	for i, c := range convCases() {
		t.Run(c.String(), func(t *testing.T) {
			p := c.params()
			if p.OH <= 0 || p.OW <= 0 {
				t.Fatalf("bad case: output %dx%d", p.OH, p.OW)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 77))
			x := convRand(rng, p.N*p.C*p.H*p.W)
			w := convRand(rng, p.Cout*(p.C/p.Groups)*p.KH*p.KW)
			var bias []float32
			if c.bias {
				bias = convRand(rng, p.Cout)
			}
			ny := p.N * p.Cout * p.OH * p.OW
			dy := convRand(rng, ny)

			ybuf, y := guarded(ny)
			Conv2dForward(&p, x, w, bias, y)
			checkGuards(t, "Conv2dForward", ybuf)
			closeTo(t, "forward", y, refConvForward(&p, x, w, bias), 1e-5)

			rdx, rdw, rdb := refConvBackward(&p, x, w, dy)
			dxbuf, dx := guarded(len(x))
			Conv2dBackwardData(&p, dy, w, dx)
			checkGuards(t, "Conv2dBackwardData", dxbuf)
			closeTo(t, "backward data", dx, rdx, 1e-5)

			dwbuf, dw := guarded(len(w))
			dbbuf, db := guarded(p.Cout)
			Conv2dBackwardWeight(&p, x, dy, dw, db)
			checkGuards(t, "Conv2dBackwardWeight dw", dwbuf)
			checkGuards(t, "Conv2dBackwardWeight db", dbbuf)
			closeTo(t, "backward weight", dw, rdw, 1e-5)
			closeTo(t, "backward bias", db, rdb, 1e-5)

			// Without a bias gradient the weight gradient is the same.
			dw2 := make([]float32, len(w))
			Conv2dBackwardWeight(&p, x, dy, dw2, nil)
			closeTo(t, "backward weight (no db)", dw2, rdw, 1e-5)
		})
	}
}

type poolCase struct {
	n, c, h, w, k, s, p, d int
	ceil                   bool
}

func (c poolCase) params() PoolParams {
	p := PoolParams{N: c.n, C: c.c, H: c.h, W: c.w, KH: c.k, KW: c.k, SH: c.s, SW: c.s, PH: c.p, PW: c.p, DH: c.d, DW: c.d}
	out := func(in int) int {
		// PyTorch's pooling_output_shape.
		num := in + 2*c.p - c.d*(c.k-1) - 1
		if c.ceil {
			num += c.s - 1
		}
		o := num/c.s + 1
		if c.ceil && (o-1)*c.s >= in+c.p {
			o--
		}
		return o
	}
	p.OH, p.OW = out(c.h), out(c.w)
	return p
}

func poolCases() []poolCase {
	return []poolCase{
		{n: 1, c: 1, h: 1, w: 1, k: 1, s: 1, d: 1},
		{n: 2, c: 3, h: 8, w: 8, k: 2, s: 2, d: 1},
		{n: 2, c: 3, h: 7, w: 9, k: 2, s: 2, d: 1, ceil: true},
		{n: 1, c: 2, h: 31, w: 31, k: 3, s: 2, d: 1},
		{n: 1, c: 2, h: 31, w: 30, k: 3, s: 2, d: 1, ceil: true},
		{n: 2, c: 2, h: 7, w: 6, k: 3, s: 1, p: 1, d: 1},
		{n: 1, c: 3, h: 9, w: 10, k: 3, s: 2, p: 1, d: 1, ceil: true},
		{n: 1, c: 2, h: 6, w: 7, k: 3, s: 2, p: 1, d: 1, ceil: true},
		{n: 2, c: 1, h: 10, w: 9, k: 4, s: 3, p: 2, d: 1, ceil: true},
		{n: 1, c: 2, h: 7, w: 11, k: 3, s: 3, d: 1, ceil: true},
		{n: 1, c: 2, h: 9, w: 8, k: 3, s: 1, d: 2},
		{n: 2, c: 2, h: 10, w: 11, k: 3, s: 2, p: 1, d: 2, ceil: true},
		{n: 1, c: 1, h: 9, w: 10, k: 2, s: 4, d: 1, ceil: true},
		{n: 5, c: 7, h: 5, w: 5, k: 5, s: 1, p: 2, d: 1},
	}
}

// refMaxPool returns the maxima and the flat in-plane index of each, the
// first maximum in window order winning ties (PyTorch's CPU rule).
func refMaxPool(p *PoolParams, x []float32) ([]float32, []int) {
	y := make([]float32, p.N*p.C*p.OH*p.OW)
	arg := make([]int, len(y))
	for u := 0; u < p.N*p.C; u++ {
		for oh := 0; oh < p.OH; oh++ {
			for ow := 0; ow < p.OW; ow++ {
				best, bi := float32(math.Inf(-1)), -1
				for kh := 0; kh < p.KH; kh++ {
					for kw := 0; kw < p.KW; kw++ {
						ih, iw := oh*p.SH-p.PH+kh*p.DH, ow*p.SW-p.PW+kw*p.DW
						if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
							continue
						}
						if v := x[(u*p.H+ih)*p.W+iw]; bi < 0 || v > best {
							best, bi = v, ih*p.W+iw
						}
					}
				}
				o := (u*p.OH+oh)*p.OW + ow
				y[o], arg[o] = best, bi
			}
		}
	}
	return y, arg
}

// refAvgPool follows avg_pool2d's definition: the window's in-bounds sum
// divided by the number of window positions inside the padded input
// (count_include_pad) or inside the input itself.
func refAvgPool(p *PoolParams, x []float32, include bool) []float64 {
	y := make([]float64, p.N*p.C*p.OH*p.OW)
	for u := 0; u < p.N*p.C; u++ {
		for oh := 0; oh < p.OH; oh++ {
			for ow := 0; ow < p.OW; ow++ {
				var s float64
				cnt := 0
				for kh := 0; kh < p.KH; kh++ {
					for kw := 0; kw < p.KW; kw++ {
						ih, iw := oh*p.SH-p.PH+kh, ow*p.SW-p.PW+kw
						inPad := ih >= -p.PH && ih < p.H+p.PH && iw >= -p.PW && iw < p.W+p.PW
						in := ih >= 0 && ih < p.H && iw >= 0 && iw < p.W
						if in {
							s += float64(x[(u*p.H+ih)*p.W+iw])
						}
						if in || include && inPad {
							cnt++
						}
					}
				}
				if cnt > 0 {
					s /= float64(cnt)
				}
				y[(u*p.OH+oh)*p.OW+ow] = s
			}
		}
	}
	return y
}

func dot64(a []float32, b []float64) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * b[i]
	}
	return s
}

// adjointCheck verifies <A x, g> == <x, A^T g> for a linear operator,
// which binds a backward kernel to its forward one independently of how
// either is written.
func adjointCheck(t *testing.T, what string, ax, g, x, atg []float32) {
	t.Helper()
	var lhs, rhs, scale float64
	for i := range ax {
		lhs += float64(ax[i]) * float64(g[i])
		scale += math.Abs(float64(ax[i]) * float64(g[i]))
	}
	for i := range x {
		rhs += float64(x[i]) * float64(atg[i])
		scale += math.Abs(float64(x[i]) * float64(atg[i]))
	}
	if math.Abs(lhs-rhs) > 1e-5*scale {
		t.Errorf("%s: <Ax,g> = %.9g but <x,A^T g> = %.9g", what, lhs, rhs)
	}
}

func TestMaxPoolKernels(t *testing.T) {
	for i, c := range poolCases() {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			p := c.params()
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			for _, ties := range []bool{false, true} {
				x := convRand(rng, p.N*p.C*p.H*p.W)
				if ties {
					// Small integers: many ties, where the first maximum
					// in window order must win.
					for j := range x {
						x[j] = float32(rng.IntN(3))
					}
				}
				ny := p.N * p.C * p.OH * p.OW
				ybuf, y := guarded(ny)
				idx := make([]int32, ny)
				MaxPool2dForward(&p, x, y, idx)
				checkGuards(t, "MaxPool2dForward", ybuf)
				ry, rarg := refMaxPool(&p, x)
				for j := range ry {
					if y[j] != ry[j] || int(idx[j]) != rarg[j] {
						t.Fatalf("ties=%v output %d: got %g at %d, want %g at %d", ties, j, y[j], idx[j], ry[j], rarg[j])
					}
				}
				// Backward: every gradient goes to its argmax, summed
				// where windows overlap.
				dy := convRand(rng, ny)
				want := make([]float64, len(x))
				for j, g := range dy {
					u := j / (p.OH * p.OW)
					want[u*p.H*p.W+rarg[j]] += float64(g)
				}
				dxbuf, dx := guarded(len(x))
				MaxPool2dBackward(&p, dy, idx, dx)
				checkGuards(t, "MaxPool2dBackward", dxbuf)
				closeTo(t, "maxpool backward", dx, want, 1e-6)
			}
			// Without idx the forward still works (inference).
			x := convRand(rng, p.N*p.C*p.H*p.W)
			y := make([]float32, p.N*p.C*p.OH*p.OW)
			MaxPool2dForward(&p, x, y, nil)
			ry, _ := refMaxPool(&p, x)
			for j := range ry {
				if y[j] != ry[j] {
					t.Fatalf("no-index forward %d: got %g, want %g", j, y[j], ry[j])
				}
			}
		})
	}
}

func TestMaxPoolNaN(t *testing.T) {
	p := poolCase{n: 1, c: 1, h: 4, w: 4, k: 2, s: 2, d: 1}.params()
	x := make([]float32, 16)
	x[5] = float32(math.NaN())
	y := make([]float32, 4)
	idx := make([]int32, 4)
	MaxPool2dForward(&p, x, y, idx)
	if y[0] == y[0] || idx[0] != 5 {
		t.Fatalf("a NaN in the window must win (PyTorch): got %g at %d", y[0], idx[0])
	}
}

func TestAvgPoolKernels(t *testing.T) {
	for i, c := range poolCases() {
		if c.d != 1 || c.p > c.k/2 {
			continue // avg_pool2d has no dilation
		}
		for _, include := range []bool{true, false} {
			t.Run(fmt.Sprintf("%+v_incl%v", c, include), func(t *testing.T) {
				p := c.params()
				rng := rand.New(rand.NewPCG(uint64(i), 101))
				x := convRand(rng, p.N*p.C*p.H*p.W)
				ny := p.N * p.C * p.OH * p.OW
				ybuf, y := guarded(ny)
				AvgPool2dForward(&p, x, y, include)
				checkGuards(t, "AvgPool2dForward", ybuf)
				closeTo(t, "avgpool forward", y, refAvgPool(&p, x, include), 1e-6)
				dy := convRand(rng, ny)
				dxbuf, dx := guarded(len(x))
				AvgPool2dBackward(&p, dy, dx, include)
				checkGuards(t, "AvgPool2dBackward", dxbuf)
				adjointCheck(t, "avgpool", y, dy, x, dx)
			})
		}
	}
}

func TestAdaptiveAvgPoolKernels(t *testing.T) {
	for i, c := range [][4]int{{1, 1, 1, 1}, {7, 5, 1, 1}, {13, 13, 6, 6}, {5, 5, 6, 6}, {9, 11, 7, 7}, {31, 7, 3, 2}, {1, 7, 3, 3}} {
		h, w, oh, ow := c[0], c[1], c[2], c[3]
		t.Run(fmt.Sprintf("%dx%d_to_%dx%d", h, w, oh, ow), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 103))
			n, ch := 2, 3
			x := convRand(rng, n*ch*h*w)
			ybuf, y := guarded(n * ch * oh * ow)
			AdaptiveAvgPool2dForward(n, ch, h, w, oh, ow, x, y)
			checkGuards(t, "AdaptiveAvgPool2dForward", ybuf)
			// Reference: window i is [floor(i*in/out), ceil((i+1)*in/out)),
			// computed with floating point rather than integer tricks.
			want := make([]float64, len(y))
			for u := 0; u < n*ch; u++ {
				for i := 0; i < oh; i++ {
					h0, h1 := int(math.Floor(float64(i*h)/float64(oh))), int(math.Ceil(float64((i+1)*h)/float64(oh)))
					for j := 0; j < ow; j++ {
						w0, w1 := int(math.Floor(float64(j*w)/float64(ow))), int(math.Ceil(float64((j+1)*w)/float64(ow)))
						var s float64
						for a := h0; a < h1; a++ {
							for b := w0; b < w1; b++ {
								s += float64(x[(u*h+a)*w+b])
							}
						}
						want[(u*oh+i)*ow+j] = s / float64((h1-h0)*(w1-w0))
					}
				}
			}
			closeTo(t, "adaptive forward", y, want, 1e-6)
			dy := convRand(rng, len(y))
			dxbuf, dx := guarded(len(x))
			AdaptiveAvgPool2dBackward(n, ch, h, w, oh, ow, dy, dx)
			checkGuards(t, "AdaptiveAvgPool2dBackward", dxbuf)
			adjointCheck(t, "adaptive avgpool", y, dy, x, dx)
		})
	}
}

// TestIm2colCol2imAdjoint: Col2im must be the exact transpose of Im2col
// (backward-data relies on it).
func TestIm2colCol2imAdjoint(t *testing.T) {
	for i, c := range convCases() {
		p := c.params()
		cin := p.C / p.Groups
		rng := rand.New(rand.NewPCG(uint64(i), 107))
		x := convRand(rng, cin*p.H*p.W)
		colN := cin * p.KH * p.KW * p.OH * p.OW
		col := make([]float32, colN)
		Im2col(&p, x, cin, col)
		g := convRand(rng, colN)
		back := make([]float32, len(x))
		Col2im(&p, g, cin, back)
		adjointCheck(t, c.String(), col, g, x, back)
	}
}

// TestConvKernelsDeterministic: the weight gradient, summed per worker and
// then across workers, must be the same bits on every run.
func TestConvKernelsDeterministic(t *testing.T) {
	c := convCase{n: 8, c: 4, h: 9, w: 9, cout: 6, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true}
	p := c.params()
	rng := rand.New(rand.NewPCG(5, 5))
	x := convRand(rng, p.N*p.C*p.H*p.W)
	dy := convRand(rng, p.N*p.Cout*p.OH*p.OW)
	dw1 := make([]float32, p.Cout*p.C*9)
	dw2 := make([]float32, len(dw1))
	Conv2dBackwardWeight(&p, x, dy, dw1, nil)
	Conv2dBackwardWeight(&p, x, dy, dw2, nil)
	for i := range dw1 {
		if dw1[i] != dw2[i] {
			t.Fatalf("two runs differ at %d: %g vs %g", i, dw1[i], dw2[i])
		}
	}
}
