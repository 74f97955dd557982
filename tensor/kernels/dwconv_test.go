package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type dwKernels struct {
	plane dwPlaneFunc
	copy  dwPadCopyFunc
}

func dwImpls() map[string]dwKernels {
	m := map[string]dwKernels{"generic": {dwPlaneGo, dwPadCopyGo}}
	if k, c := dwAsmKernel(), dwAsmPadCopy(); k != nil && c != nil {
		m["avx2"] = dwKernels{k, c}
	}
	return m
}

func dwParams(n, c, h, w, s int) ConvParams {
	return ConvParams{N: n, C: c, H: h, W: w, Cout: c, KH: 3, KW: 3, SH: s, SW: s, PH: 1, PW: 1,
		DH: 1, DW: 1, Groups: c, OH: (h-1)/s + 1, OW: (w-1)/s + 1}
}

// TestDepthwiseConv3x3 binds DepthwiseConv3x3 (each kernel) to the plain
// depthwise kernel and the float64 reference on awkward sizes, strides 1
// and 2 with odd and even H, W, with every epilogue part and guard bands.
func TestDepthwiseConv3x3(t *testing.T) {
	type dcase struct{ n, c, h, w, s int }
	cases := []dcase{
		{1, 1, 1, 1, 1}, {1, 1, 1, 1, 2}, {1, 3, 2, 2, 1}, {1, 3, 2, 3, 2},
		{2, 5, 7, 7, 1}, {2, 5, 7, 7, 2}, {1, 4, 8, 8, 2}, {1, 3, 9, 16, 1},
		{3, 2, 13, 17, 2}, {1, 7, 14, 15, 1}, {1, 2, 31, 9, 2}, {1, 3, 1, 33, 1},
		{1, 3, 33, 1, 2}, {1, 17, 28, 28, 1}, {1, 6, 56, 57, 2}, {2, 33, 7, 7, 1},
	}
	if !testing.Short() {
		cases = append(cases, dcase{1, 32, 112, 112, 1}, dcase{1, 8, 113, 111, 2})
	}
	eps := []struct {
		name      string
		bias, res bool
		act       Activation
		none      bool
	}{
		{name: "none", none: true},
		{name: "bias", bias: true},
		{name: "bias_relu6", bias: true, act: ActReLU6},
		{name: "res_relu", res: true, act: ActReLU},
		{name: "bias_res", bias: true, res: true},
	}
	for ci, c := range cases {
		p := dwParams(c.n, c.c, c.h, c.w, c.s)
		rng := rand.New(rand.NewPCG(uint64(ci), 3))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.C*9)
		bias := convRand(rng, p.C)
		ny := p.N * p.C * p.OH * p.OW
		res := convRand(rng, ny)
		for name, impl := range dwImpls() {
			for _, e := range eps {
				t.Run(fmt.Sprintf("n%d_c%d_%dx%d_s%d/%s/%s", c.n, c.c, c.h, c.w, c.s, name, e.name), func(t *testing.T) {
					var ep *Epilogue
					var b []float32
					if !e.none {
						ep = &Epilogue{Act: e.act}
						if e.bias {
							ep.Bias, b = bias, bias
						}
						if e.res {
							ep.Residual = res
						}
					}
					// The plain kernel, then the epilogue by hand.
					plain := make([]float32, ny)
					depthwiseForward(&p, x, w, b, plain)
					if ep != nil {
						ep2 := *ep
						ep2.Bias = nil
						ep2.Apply(plain, ny, 0, ep2.Residual)
					}
					want := refConvForward(&p, x, w, nil)
					refEpilogue(want, ep, p.C, p.OH*p.OW)
					oldI, oldC := dwImpl, dwCopy
					dwImpl, dwCopy = impl.plane, impl.copy
					ybuf, y := guarded(ny)
					DepthwiseConv3x3(&p, x, w, y, ep)
					dwImpl, dwCopy = oldI, oldC
					checkGuards(t, "DepthwiseConv3x3", ybuf)
					closeTo(t, "vs reference", y, want, 1e-6)
					closeTo(t, "vs plain kernel", y, f64(plain), 1e-6)
				})
			}
		}
	}
}

// TestDepthwisePlaneMatchesGo runs the assembly plane kernel on slices
// that start at every alignment, against its Go twin.
func TestDepthwisePlaneMatchesGo(t *testing.T) {
	asm := dwAsmKernel()
	if asm == nil {
		t.Skip("no assembly depthwise kernel on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for _, s := range []int{1, 2} {
		for _, ow := range []int{1, 7, 8, 9, 16, 23} {
			for off := 0; off < 8; off++ {
				oh := 3
				ld := (s*8*((ow+7)/8) + 2 + off + 7) / 8 * 8
				src := convRand(rng, off+(s*(oh-1)+3)*ld)[off:]
				w := convRand(rng, 9)
				res := convRand(rng, off+ow*oh)[off:]
				for _, act := range []Activation{ActNone, ActReLU, ActReLU6} {
					for _, r := range [][]float32{nil, res} {
						gb, got := guarded(ow * oh)
						_, want := guarded(ow * oh)
						// next only prefetches: anywhere, it
						// changes nothing.
						asm(src, ld, got, ow, oh, s, w, 0.5, r, act, []int{0, ow * oh, 1 << 40}[(ow+oh)%3])
						dwPlaneGo(src, ld, want, ow, oh, s, w, 0.5, r, act, 0)
						checkGuards(t, "plane", gb)
						for i := range got {
							if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
								t.Fatalf("s%d ow%d off%d act%d res%v: [%d] = %g, want %g", s, ow, off, act, r != nil, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestDepthwisePadCopy: the assembly copy against the Go one, into a
// plane whose borders and tail columns must end up zero.
func TestDepthwisePadCopy(t *testing.T) {
	c := dwAsmPadCopy()
	if c == nil {
		t.Skip("no assembly depthwise kernel on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for _, w := range []int{1, 3, 7, 8, 9, 15, 16, 17, 56} {
		for _, h := range []int{1, 2, 5} {
			p := dwParams(1, 1, h, w, 1)
			ld := dwLD(&p)
			src := convRand(rng, w*h)
			gb, got := guarded((h + 2) * ld)
			_, want := guarded((h + 2) * ld)
			clear(got)
			clear(want)
			c(got[ld:], ld, src, w, h)
			dwPadCopyGo(want[ld:], ld, src, w, h)
			checkGuards(t, "pad copy", gb)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("w%d h%d: [%d] = %g, want %g", w, h, i, got[i], want[i])
				}
			}
		}
	}
}

// TestInPlaceResidual: Epilogue.Residual may be the output itself.
func TestInPlaceResidual(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, c := range []struct{ h, w, s int }{{7, 7, 1}, {5, 3, 1}, {9, 17, 2}, {1, 1, 1}} {
		p := dwParams(2, 3, c.h, c.w, c.s)
		x, w := convRand(rng, p.N*p.C*p.H*p.W), convRand(rng, p.C*9)
		ny := p.N * p.C * p.OH * p.OW
		res := convRand(rng, ny)
		for name, impl := range dwImpls() {
			oldI, oldC := dwImpl, dwCopy
			dwImpl, dwCopy = impl.plane, impl.copy
			want := make([]float32, ny)
			DepthwiseConv3x3(&p, x, w, want, &Epilogue{Residual: res, Act: ActReLU})
			y := append([]float32(nil), res...)
			DepthwiseConv3x3(&p, x, w, y, &Epilogue{Residual: y, Act: ActReLU})
			dwImpl, dwCopy = oldI, oldC
			closeTo(t, fmt.Sprintf("depthwise %v %s in place", c, name), y, f64(want), 0)
		}
	}
	for _, c := range []wgCase{{1, 5, 7, 7, 4, 1}, {2, 3, 14, 13, 7, 1}, {1, 8, 56, 56, 3, 1}} {
		p := c.params()
		x, w := convRand(rng, p.N*p.C*p.H*p.W), convRand(rng, p.Cout*p.C*9)
		ny := p.N * p.Cout * p.OH * p.OW
		res := convRand(rng, ny)
		for _, tile := range []int{4, 2} {
			wc, err := NewWinogradConv(&p, w, tile)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, ny)
			wc.Forward(x, want, &Epilogue{Residual: res, Act: ActReLU6})
			y := append([]float32(nil), res...)
			wc.Forward(x, y, &Epilogue{Residual: y, Act: ActReLU6})
			closeTo(t, fmt.Sprintf("winograd %v F%d in place", c, tile), y, f64(want), 0)
		}
	}
}

func TestDepthwiseConv3x3NoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool (used by Parallel) drop items")
	}
	p := dwParams(1, 32, 28, 28, 1)
	rng := rand.New(rand.NewPCG(1, 1))
	x, w := convRand(rng, p.C*p.H*p.W), convRand(rng, p.C*9)
	y := make([]float32, p.C*p.OH*p.OW)
	ep := &Epilogue{Bias: convRand(rng, p.C), Act: ActReLU6}
	DepthwiseConv3x3(&p, x, w, y, ep)
	if n := testing.AllocsPerRun(20, func() { DepthwiseConv3x3(&p, x, w, y, ep) }); n != 0 {
		t.Errorf("DepthwiseConv3x3 allocates %v times per call", n)
	}
}

func TestDepthwiseConv3x3Supported(t *testing.T) {
	ok := dwParams(1, 4, 9, 9, 2)
	if !DepthwiseConv3x3Supported(&ok) {
		t.Fatal("stride-2 depthwise not supported")
	}
	for _, edit := range []func(p *ConvParams){
		func(p *ConvParams) { p.Cout = 8 },
		func(p *ConvParams) { p.Groups = 2 },
		func(p *ConvParams) { p.PH = 0 },
		func(p *ConvParams) { p.SW = 1 },
		func(p *ConvParams) { p.SH, p.SW = 3, 3 },
		func(p *ConvParams) { p.KH = 5 },
		func(p *ConvParams) { p.OW++ },
	} {
		p := ok
		edit(&p)
		if DepthwiseConv3x3Supported(&p) {
			t.Errorf("%+v reported supported", p)
		}
	}
}

// TestDepthwiseConv3x3Rows computes layers band by band, from input
// windows that hold just the rows a band reads (or the whole image), into
// outputs and residuals with plane strides of their own, and binds every
// band to DepthwiseConv3x3 on the whole image: the same kernel on the
// same sums, so the values must match exactly.
func TestDepthwiseConv3x3Rows(t *testing.T) {
	for ci, c := range []struct{ c, h, w, s, band int }{
		{3, 7, 7, 1, 1}, {3, 7, 7, 1, 3}, {2, 8, 9, 2, 1}, {2, 9, 8, 2, 2}, {5, 13, 17, 2, 4},
		{4, 14, 15, 1, 5}, {2, 1, 9, 1, 1}, {2, 2, 3, 2, 1}, {6, 56, 57, 2, 3}, {3, 28, 28, 1, 7},
	} {
		p := dwParams(1, c.c, c.h, c.w, c.s)
		rng := rand.New(rand.NewPCG(uint64(ci), 5))
		x := convRand(rng, p.C*p.H*p.W)
		w := convRand(rng, p.C*9)
		res := convRand(rng, p.C*p.OH*p.OW)
		ep := &Epilogue{Bias: convRand(rng, p.C), Residual: res, Act: ActReLU6}
		for name, impl := range dwImpls() {
			t.Run(fmt.Sprintf("c%d_%dx%d_s%d_band%d/%s", c.c, c.h, c.w, c.s, c.band, name), func(t *testing.T) {
				oldI, oldC := dwImpl, dwCopy
				dwImpl, dwCopy = impl.plane, impl.copy
				defer func() { dwImpl, dwCopy = oldI, oldC }()
				want := make([]float32, p.C*p.OH*p.OW)
				DepthwiseConv3x3(&p, x, w, want, ep)
				scratch := make([]float32, DepthwiseRowsScratch(&p, c.band))
				for _, whole := range []bool{false, true} {
					// Outputs and residuals with planes of a band
					// plus 3 floats, windows with planes 5 floats
					// longer than their rows.
					ycs := c.band*p.OW + 3
					for r0 := 0; r0 < p.OH; r0 += c.band {
						r1 := min(r0+c.band, p.OH)
						i0, i1 := max(c.s*r0-1, 0), min(c.s*(r1-1)+2, p.H)
						if whole {
							i0, i1 = 0, p.H
						}
						xcs := (i1-i0)*p.W + 5
						win := make([]float32, p.C*xcs)
						rs := make([]float32, p.C*ycs)
						for ch := 0; ch < p.C; ch++ {
							copy(win[ch*xcs:], x[ch*p.H*p.W+i0*p.W:][:(i1-i0)*p.W])
							copy(rs[ch*ycs:], res[ch*p.OH*p.OW+r0*p.OW:][:(r1-r0)*p.OW])
						}
						y := make([]float32, p.C*ycs)
						bep := &Epilogue{Bias: ep.Bias, Residual: rs, Act: ep.Act}
						DepthwiseConv3x3Rows(&p, r0, r1, win, i0, i1, xcs, w, y, ycs, bep, ycs, scratch)
						for ch := 0; ch < p.C; ch++ {
							for i := 0; i < (r1-r0)*p.OW; i++ {
								got, exp := y[ch*ycs+i], want[ch*p.OH*p.OW+r0*p.OW+i]
								if got != exp {
									t.Fatalf("whole %v: channel %d row %d col %d: %v, want %v", whole, ch, r0+i/p.OW, i%p.OW, got, exp)
								}
							}
						}
					}
				}
			})
		}
	}
}
