package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// wgImpls returns the Winograd kernel sets this machine runs: the pure-Go
// one and, where the CPU has it, the assembly one.
func wgImpls() []*wgKernels {
	l := []*wgKernels{wgGeneric}
	if k := wgAsmKernels(); k != nil {
		l = append(l, k)
	}
	return l
}

func withWgImpl(k *wgKernels, f func()) {
	old := wgImpl
	wgImpl = k
	defer func() { wgImpl = old }()
	f()
}

// TestWinogradKernelsMatchGo binds each assembly kernel to its Go twin on
// random data, with guard bands around every output.
func TestWinogradKernelsMatchGo(t *testing.T) {
	asm := wgAsmKernels()
	if asm == nil {
		t.Skip("no assembly Winograd kernels on this CPU/build")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{4, 2} {
		a := m + 2
		t.Run(fmt.Sprintf("input%d", m), func(t *testing.T) {
			ld := 8*m + 13
			src := convRand(rng, (a-1)*ld+9*m)
			xis := 11
			n := (a*a-1)*xis + 8
			gb, got := guarded(n)
			wb, want := guarded(n)
			asm.input(m, src, ld, got, xis)
			wgGeneric.input(m, src, ld, want, xis)
			checkGuards(t, "input", gb)
			checkGuards(t, "input (Go)", wb)
			closeTo(t, "input", got, f64(want), 1e-6)
		})
		t.Run(fmt.Sprintf("output%d", m), func(t *testing.T) {
			xis := 13
			src := convRand(rng, (a*a-1)*xis+8)
			ldd := 8*m + 5
			n := (m-1)*ldd + 8*m
			gb, got := guarded(n)
			wb, want := guarded(n)
			asm.output(m, src, xis, got, ldd)
			wgGeneric.output(m, src, xis, want, ldd)
			checkGuards(t, "output", gb)
			checkGuards(t, "output (Go)", wb)
			closeTo(t, "output", got, f64(want), 1e-5)
		})
	}
	for _, n := range []int{8, 16, 24, 48, 56} {
		for _, k := range []int{1, 2, 3, 7, 64, 131} {
			t.Run(fmt.Sprintf("gemm6x%d_k%d", n, k), func(t *testing.T) {
				vstride := k*wgNR + 5
				np := (n + wgNR - 1) / wgNR
				u := convRand(rng, k*wgMR)
				v := convRand(rng, (np-1)*vstride+(k-1)*wgNR+min(n, wgNR))
				ldm := n + 3
				sz := (wgMR-1)*ldm + n
				gb, got := guarded(sz)
				_, want := guarded(sz)
				asm.gemm(k, u, v, got, ldm, n, vstride)
				wgGeneric.gemm(k, u, v, want, ldm, n, vstride)
				checkGuards(t, "gemm", gb)
				closeTo(t, "gemm", got, f64(want), 1e-5)
			})
		}
	}
	for _, n := range []int{0, 1, 7, 8, 9, 31} {
		for _, act := range []Activation{ActNone, ActReLU, ActReLU6} {
			for _, withRes := range []bool{false, true} {
				src := convRand(rng, n)
				for i := range src {
					src[i] *= 5
				}
				if n > 3 {
					src[3] = float32(math.NaN())
				}
				var res []float32
				if withRes {
					res = convRand(rng, n)
				}
				gb, got := guarded(n)
				_, want := guarded(n)
				// next only prefetches: past the buffer, even
				// unmapped, it changes nothing.
				asm.epi(got, src, res, 0.25, act, []int{0, n, 1 << 40}[n%3])
				wgGeneric.epi(want, src, res, 0.25, act, 0)
				checkGuards(t, "epilogue", gb)
				for i := range got {
					if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
						t.Fatalf("epilogue n=%d act=%d res=%v: [%d] = %g, want %g", n, act, withRes, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// raceEnabled is set by winograd_race_test.go under -race.
var raceEnabled bool

func f64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// refEpilogue applies ep to a float64 reference output in place.
func refEpilogue(y []float64, ep *Epilogue, cout, hw int) {
	if ep == nil {
		return
	}
	for i := range y {
		v := y[i]
		if ep.Bias != nil {
			v += float64(ep.Bias[i/hw%cout])
		}
		if ep.Residual != nil {
			v += float64(ep.Residual[i])
		}
		switch ep.Act {
		case ActReLU:
			v = math.Max(v, 0)
		case ActReLU6:
			v = math.Min(math.Max(v, 0), 6)
		}
		y[i] = v
	}
}

type wgCase struct{ n, c, h, w, cout, pad int }

func (c wgCase) params() ConvParams {
	p := ConvParams{N: c.n, C: c.c, H: c.h, W: c.w, Cout: c.cout, KH: 3, KW: 3,
		SH: 1, SW: 1, PH: c.pad, PW: c.pad, DH: 1, DW: 1, Groups: 1}
	p.OH, p.OW = c.h+2*c.pad-2, c.w+2*c.pad-2
	return p
}

func wgCases() []wgCase {
	cs := []wgCase{
		{1, 1, 1, 1, 1, 1},
		{1, 3, 2, 2, 5, 1},
		{3, 1, 5, 7, 2, 0},
		{1, 17, 5, 5, 17, 2},
		{3, 3, 7, 7, 3, 1},
		{1, 3, 13, 14, 7, 1},
		{2, 17, 14, 13, 6, 0},
		{1, 64, 14, 14, 64, 1},
		{3, 17, 7, 28, 13, 2},
		{1, 3, 28, 28, 17, 1},
		{1, 1, 56, 56, 3, 1},
		{3, 5, 13, 1, 4, 1},
		{1, 2, 1, 13, 3, 2},
	}
	if !testing.Short() {
		cs = append(cs,
			wgCase{1, 64, 56, 56, 17, 1},
			wgCase{3, 17, 28, 28, 64, 1},
			wgCase{1, 64, 28, 28, 64, 0},
		)
	}
	return cs
}

// TestWinogradConv binds WinogradConv to the float64 direct convolution on
// awkward sizes, for both tile sizes, every kernel set, both parallel
// modes (small and large blocks) and every epilogue part.
func TestWinogradConv(t *testing.T) {
	eps := []struct {
		name           string
		bias, res      bool
		act            Activation
		noEp, nilSlice bool
	}{
		{name: "none", noEp: true},
		{name: "bias", bias: true},
		{name: "bias_relu", bias: true, act: ActReLU},
		{name: "res_relu6", res: true, act: ActReLU6},
		{name: "bias_res_relu", bias: true, res: true, act: ActReLU},
	}
	blocks := []int{wgTileBlock, 8}
	for ci, c := range wgCases() {
		p := c.params()
		rng := rand.New(rand.NewPCG(uint64(ci), 5))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.Cout*p.C*9)
		ny := p.N * p.Cout * p.OH * p.OW
		bias := convRand(rng, p.Cout)
		res := convRand(rng, ny)
		base := refConvForward(&p, x, w, nil)
		for _, tile := range []int{4, 2} {
			// F(4x4,3x3)'s rounding grows with the fan-in; see the
			// accuracy test for realistic data.
			tol := 2e-6 * math.Sqrt(float64(9*p.C))
			if tile == 4 {
				tol *= 5
			}
			for _, impl := range wgImpls() {
				for _, tbk := range blocks {
					old, oldC := wgTileBlock, wgTileBlockChan
					wgTileBlock, wgTileBlockChan = tbk, tbk
					var wc *WinogradConv
					withWgImpl(impl, func() {
						var err error
						wc, err = NewWinogradConv(&p, w, tile)
						if err != nil {
							t.Fatal(err)
						}
					})
					wgTileBlock, wgTileBlockChan = old, oldC
					for _, e := range eps {
						name := fmt.Sprintf("n%d_c%d_%dx%d_o%d_p%d/F%d_%s_tb%d_chan%v/%s", p.N, p.C, p.H, p.W, p.Cout, c.pad, tile, impl.name, wc.tb, wc.chanMode, e.name)
						t.Run(name, func(t *testing.T) {
							var ep *Epilogue
							if !e.noEp {
								ep = &Epilogue{Act: e.act}
								if e.bias {
									ep.Bias = bias
								}
								if e.res {
									ep.Residual = res
								}
							}
							want := append([]float64(nil), base...)
							refEpilogue(want, ep, p.Cout, p.OH*p.OW)
							ybuf, y := guarded(ny)
							ws := make([]float32, wc.WorkspaceSize())
							for i := range ws {
								ws[i] = float32(math.NaN()) // the workspace needs no initialisation
							}
							wc.ForwardWorkspace(x, y, ep, ws)
							checkGuards(t, "Forward", ybuf)
							closeTo(t, "forward", y, want, tol)
						})
					}
				}
			}
		}
	}
}

func TestWinogradRejects(t *testing.T) {
	ok := wgCase{1, 3, 7, 7, 4, 1}.params()
	w := make([]float32, 4*3*9)
	bad := []struct {
		name string
		edit func(p *ConvParams)
		tile int
	}{
		{"tile3", func(p *ConvParams) {}, 3},
		{"stride2", func(p *ConvParams) { p.SH, p.SW, p.OH, p.OW = 2, 2, 4, 4 }, 4},
		{"kernel5", func(p *ConvParams) { p.KH, p.KW = 5, 5 }, 4},
		{"groups", func(p *ConvParams) { p.Groups = 3 }, 4},
		{"dilation", func(p *ConvParams) { p.DH = 2 }, 4},
		{"output", func(p *ConvParams) { p.OH = 6 }, 4},
		{"empty", func(p *ConvParams) { p.H, p.W, p.PH, p.PW, p.OH, p.OW = 1, 1, 0, 0, -1, -1 }, 4},
	}
	for _, b := range bad {
		p := ok
		b.edit(&p)
		if _, err := NewWinogradConv(&p, w, b.tile); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
	if _, err := NewWinogradConv(&ok, w[1:], 4); err == nil {
		t.Errorf("short weights: no error")
	}
}

// TestWinogradNoAllocs: a steady-state forward allocates nothing, with a
// caller's workspace or the internal pool.
func TestWinogradNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool (used by Parallel) drop items")
	}
	for _, c := range []wgCase{{1, 16, 56, 56, 16, 1}, {1, 32, 7, 7, 32, 1}} {
		p := c.params()
		rng := rand.New(rand.NewPCG(1, 2))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.Cout*p.C*9)
		y := make([]float32, p.N*p.Cout*p.OH*p.OW)
		ep := &Epilogue{Bias: convRand(rng, p.Cout), Act: ActReLU}
		wc, err := NewWinogradConv(&p, w, 4)
		if err != nil {
			t.Fatal(err)
		}
		ws := make([]float32, wc.WorkspaceSize())
		wc.ForwardWorkspace(x, y, ep, ws)
		if n := testing.AllocsPerRun(10, func() { wc.ForwardWorkspace(x, y, ep, ws) }); n != 0 {
			t.Errorf("%v: ForwardWorkspace allocates %v times per call", c, n)
		}
		wc.Forward(x, y, ep)
		if n := testing.AllocsPerRun(10, func() { wc.Forward(x, y, ep) }); n != 0 {
			t.Errorf("%v: Forward allocates %v times per call", c, n)
		}
	}
}

// wgMatrices are the transforms of F(m x m, 3x3) for the accuracy study,
// in float64: B^T (a x a), G (a x 3), A^T (m x a).
type wgMatrices struct {
	m      int
	BT, AT [][]float64
	G      [][3]float64
}

func wgMatricesFor(m int) wgMatrices {
	switch m {
	case 2:
		return wgMatrices{m: 2,
			BT: [][]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
			G:  wgG2[:4],
			AT: [][]float64{{1, 1, 1, 0}, {0, 1, -1, -1}},
		}
	case 4:
		return wgMatrices{m: 4,
			BT: [][]float64{
				{1, 1.5, -2, -1.5, 1, 0},
				{0, -1, -2.5, -0.5, 1, 0},
				{0, 1, 0.5, -2.5, 1, 0},
				{0, -0.5, -1, 0.5, 1, 0},
				{0, 2, -1, -2, 1, 0},
				{0, 1, 1.5, -2, -1.5, 1},
			},
			G: wgG4[:],
			AT: [][]float64{
				{1, 1, 1, 1, 1, 0},
				{0, 1, -1, 2, -0.5, 0},
				{0, 1, 1, 4, 0.25, 0},
				{0, 1, -1, 8, -0.125, 1},
			},
		}
	case -4:
		// Lavin & Gray's F(4x4,3x3), points 0, +-1, +-2, for comparison.
		return wgMatrices{m: 4,
			BT: [][]float64{
				{4, 0, -5, 0, 1, 0},
				{0, -4, -4, 1, 1, 0},
				{0, 4, -4, -1, 1, 0},
				{0, -2, -1, 2, 1, 0},
				{0, 2, -1, -2, 1, 0},
				{0, 4, 0, -5, 0, 1},
			},
			G: [][3]float64{
				{1.0 / 4, 0, 0},
				{-1.0 / 6, -1.0 / 6, -1.0 / 6},
				{-1.0 / 6, 1.0 / 6, -1.0 / 6},
				{1.0 / 24, 1.0 / 12, 1.0 / 6},
				{1.0 / 24, -1.0 / 12, 1.0 / 6},
				{0, 0, 1},
			},
			AT: [][]float64{
				{1, 1, 1, 1, 1, 0},
				{0, 1, -1, 2, -2, 0},
				{0, 1, 1, 4, 4, 0},
				{0, 1, -1, 8, -8, 1},
			},
		}
	}
	// F(6x6,3x3), points 0, +-1, +-2, +-1/2 and infinity (as in NNPACK
	// and wincnn).
	return wgMatrices{m: 6,
		BT: [][]float64{
			{1, 0, -21. / 4, 0, 21. / 4, 0, -1, 0},
			{0, 1, 1, -17. / 4, -17. / 4, 1, 1, 0},
			{0, -1, 1, 17. / 4, -17. / 4, -1, 1, 0},
			{0, 0.5, 0.25, -2.5, -1.25, 2, 1, 0},
			{0, -0.5, 0.25, 2.5, -1.25, -2, 1, 0},
			{0, 2, 4, -2.5, -5, 0.5, 1, 0},
			{0, -2, 4, 2.5, -5, -0.5, 1, 0},
			{0, -1, 0, 21. / 4, 0, -21. / 4, 0, 1},
		},
		G: [][3]float64{
			{1, 0, 0},
			{-2. / 9, -2. / 9, -2. / 9},
			{-2. / 9, 2. / 9, -2. / 9},
			{1. / 90, 1. / 45, 2. / 45},
			{1. / 90, -1. / 45, 2. / 45},
			{32. / 45, 16. / 45, 8. / 45},
			{32. / 45, -16. / 45, 8. / 45},
			{0, 0, 1},
		},
		AT: [][]float64{
			{1, 1, 1, 1, 1, 1, 1, 0},
			{0, 1, -1, 2, -2, 0.5, -0.5, 0},
			{0, 1, 1, 4, 4, 0.25, 0.25, 0},
			{0, 1, -1, 8, -8, 0.125, -0.125, 0},
			{0, 1, 1, 16, 16, 1. / 16, 1. / 16, 0},
			{0, 1, -1, 32, -32, 1. / 32, -1. / 32, 1},
		},
	}
}

// wgEmulate computes a Winograd convolution from the matrices with plain
// loops, rounding every step to float32 when f32 is set (the transforms
// as dense matrix products, the weights transformed in float64). With f32
// unset it must equal the direct convolution to float64 precision, which
// checks the matrices.
func wgEmulate(p *ConvParams, x, w []float32, mt wgMatrices, f32 bool) []float64 {
	m := mt.m
	a := m + 2
	rd := func(v float64) float64 {
		if f32 {
			return float64(float32(v))
		}
		return v
	}
	th, tw := (p.OH+m-1)/m, (p.OW+m-1)/m
	u := make([]float64, p.Cout*p.C*a*a)
	for k := 0; k < p.Cout; k++ {
		for c := 0; c < p.C; c++ {
			g := w[(k*p.C+c)*9:]
			for i := 0; i < a; i++ {
				for j := 0; j < a; j++ {
					var s float64
					for r := 0; r < 3; r++ {
						for q := 0; q < 3; q++ {
							s += mt.G[i][r] * float64(g[r*3+q]) * mt.G[j][q]
						}
					}
					u[((k*p.C+c)*a+i)*a+j] = rd(s)
				}
			}
		}
	}
	y := make([]float64, p.N*p.Cout*p.OH*p.OW)
	v := make([]float64, p.C*a*a)
	d := make([]float64, a*a)
	tmp := make([]float64, a*a)
	for n := 0; n < p.N; n++ {
		for ty := 0; ty < th; ty++ {
			for tx := 0; tx < tw; tx++ {
				for c := 0; c < p.C; c++ {
					for i := 0; i < a; i++ {
						for j := 0; j < a; j++ {
							ih, iw := ty*m-p.PH+i, tx*m-p.PW+j
							d[i*a+j] = 0
							if ih >= 0 && ih < p.H && iw >= 0 && iw < p.W {
								d[i*a+j] = float64(x[((n*p.C+c)*p.H+ih)*p.W+iw])
							}
						}
					}
					for i := 0; i < a; i++ { // tmp = B^T d
						for j := 0; j < a; j++ {
							var s float64
							for l := 0; l < a; l++ {
								s = rd(s + rd(mt.BT[i][l]*d[l*a+j]))
							}
							tmp[i*a+j] = s
						}
					}
					for i := 0; i < a; i++ { // v = tmp B
						for j := 0; j < a; j++ {
							var s float64
							for l := 0; l < a; l++ {
								s = rd(s + rd(tmp[i*a+l]*mt.BT[j][l]))
							}
							v[(c*a+i)*a+j] = s
						}
					}
				}
				mm := make([]float64, a*a)
				for k := 0; k < p.Cout; k++ {
					for xi := 0; xi < a*a; xi++ {
						var s float64
						for c := 0; c < p.C; c++ {
							s = rd(s + u[(k*p.C+c)*a*a+xi]*v[c*a*a+xi]) // one FMA
						}
						mm[xi] = s
					}
					for r := 0; r < m; r++ { // y = A^T mm A
						for q := 0; q < m; q++ {
							oh, ow := ty*m+r, tx*m+q
							if oh >= p.OH || ow >= p.OW {
								continue
							}
							var s float64
							for i := 0; i < a; i++ {
								var t float64
								for j := 0; j < a; j++ {
									t = rd(t + rd(mm[i*a+j]*mt.AT[q][j]))
								}
								s = rd(s + rd(mt.AT[r][i]*t))
							}
							y[((n*p.Cout+k)*p.OH+oh)*p.OW+ow] = s
						}
					}
				}
			}
		}
	}
	return y
}

// relErr is max|got - want| / max|want|.
func relErr(got []float32, want []float64) float64 {
	var e, s float64
	for i, w := range want {
		e = math.Max(e, math.Abs(float64(got[i])-w))
		s = math.Max(s, math.Abs(w))
	}
	return e / s
}

func relErr64(got, want []float64) float64 {
	var e, s float64
	for i, w := range want {
		e = math.Max(e, math.Abs(got[i]-w))
		s = math.Max(s, math.Abs(w))
	}
	return e / s
}

// kaiming returns Kaiming-normal weights (std sqrt(2/fan_in)) for a 3x3
// convolution, and relu returns post-ReLU activations of unit scale.
func kaiming(rng *rand.Rand, cout, cin int) []float32 {
	w := convRand(rng, cout*cin*9)
	s := float32(math.Sqrt(2 / float64(9*cin)))
	for i := range w {
		w[i] *= s
	}
	return w
}

func reluRand(rng *rand.Rand, n int) []float32 {
	x := convRand(rng, n)
	for i := range x {
		x[i] = max(x[i], 0)
	}
	return x
}

// TestWinogradAccuracy measures the error of F(2x2), F(4x4) (ours) and
// F(6x6) (emulated: no kernel is provided) against the float64 direct
// convolution on realistic data: Kaiming weights, post-ReLU inputs, 64 to
// 512 channels; then through a stack of eight 3x3+ReLU layers. It asserts
// the bounds documented in winograd.go. Run with -v to see the numbers.
func TestWinogradAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: float64 reference convolutions")
	}
	for _, mt := range []int{2, 4, -4, 6} {
		p := wgCase{1, 4, 9, 9, 3, 1}.params()
		rng := rand.New(rand.NewPCG(7, 7))
		x, w := convRand(rng, p.C*p.H*p.W), convRand(rng, p.Cout*p.C*9)
		if e := relErr64(wgEmulate(&p, x, w, wgMatricesFor(mt), false), refConvForward(&p, x, w, nil)); e > 1e-12 {
			t.Fatalf("F(%d) matrices wrong: float64 error %.3g", mt, e)
		}
	}
	type layer struct{ c, hw int }
	for _, l := range []layer{{64, 28}, {128, 28}, {256, 14}, {512, 14}} {
		p := wgCase{1, l.c, l.hw, l.hw, l.c, 1}.params()
		rng := rand.New(rand.NewPCG(uint64(l.c), 9))
		x := reluRand(rng, p.C*p.H*p.W)
		w := kaiming(rng, p.Cout, p.C)
		want := refConvForward(&p, x, w, nil)
		y := make([]float32, len(want))
		Conv2dForward(&p, x, w, nil, y)
		msg := fmt.Sprintf("C=K=%d @%d: im2col+GEMM %.2g", l.c, l.hw, relErr(y, want))
		for _, tile := range []int{2, 4} {
			wc, err := NewWinogradConv(&p, w, tile)
			if err != nil {
				t.Fatal(err)
			}
			wc.Forward(x, y, nil)
			e := relErr(y, want)
			msg += fmt.Sprintf(", F(%dx%d) %.2g", tile, tile, e)
			if bound := map[int]float64{2: 2e-6, 4: 8e-6}[tile]; e > bound {
				t.Errorf("C=%d @%d: F(%d) relative error %.3g > %.3g", l.c, l.hw, tile, e, bound)
			}
		}
		if l.c <= 128 {
			e4 := relErr64(wgEmulate(&p, x, w, wgMatricesFor(4), true), want)
			e4l := relErr64(wgEmulate(&p, x, w, wgMatricesFor(-4), true), want)
			e6 := relErr64(wgEmulate(&p, x, w, wgMatricesFor(6), true), want)
			msg += fmt.Sprintf("; emulated: F(4x4) %.2g, Lavin's F(4x4) %.2g, F(6x6) %.2g", e4, e4l, e6)
		}
		t.Log(msg)
	}

	// A deep stack: 8 layers, 64 channels at 28x28 with ReLU, the error of
	// the final output relative to its scale.
	p := wgCase{1, 64, 28, 28, 64, 1}.params()
	rng := rand.New(rand.NewPCG(11, 11))
	x0 := reluRand(rng, p.C*p.H*p.W)
	var ws [][]float32
	for range 8 {
		ws = append(ws, kaiming(rng, p.Cout, p.C))
	}
	ref := f64(x0)
	for _, w := range ws {
		ref = refConv64(&p, ref, w)
		for i := range ref {
			ref[i] = math.Max(ref[i], 0)
		}
	}
	msg := "8-layer stack 64ch @28:"
	for _, tile := range []int{0, 2, 4} {
		x := append([]float32(nil), x0...)
		y := make([]float32, len(x))
		for _, w := range ws {
			if tile == 0 {
				Conv2dForward(&p, x, w, nil, y)
				for i := range y {
					y[i] = max(y[i], 0)
				}
			} else {
				wc, err := NewWinogradConv(&p, w, tile)
				if err != nil {
					t.Fatal(err)
				}
				wc.Forward(x, y, &Epilogue{Act: ActReLU})
			}
			x, y = y, x
		}
		e := relErr(x, ref)
		name := map[int]string{0: "im2col+GEMM", 2: "F(2x2)", 4: "F(4x4)"}[tile]
		msg += fmt.Sprintf(" %s %.2g", name, e)
		if e > 3e-5 {
			t.Errorf("%s: 8-layer relative error %.3g > 3e-5", name, e)
		}
	}
	t.Log(msg)
}

// refConv64 is refConvForward on a float64 input (no bias).
func refConv64(p *ConvParams, x []float64, w []float32) []float64 {
	y := make([]float64, p.N*p.Cout*p.OH*p.OW)
	for n := 0; n < p.N; n++ {
		for o := 0; o < p.Cout; o++ {
			yo := y[(n*p.Cout+o)*p.OH*p.OW:][:p.OH*p.OW]
			for c := 0; c < p.C; c++ {
				xc := x[(n*p.C+c)*p.H*p.W:][:p.H*p.W]
				for kh := 0; kh < 3; kh++ {
					for kw := 0; kw < 3; kw++ {
						wv := float64(w[((o*p.C+c)*3+kh)*3+kw])
						for oh := 0; oh < p.OH; oh++ {
							ih := oh - p.PH + kh
							if ih < 0 || ih >= p.H {
								continue
							}
							for ow := 0; ow < p.OW; ow++ {
								iw := ow - p.PW + kw
								if iw >= 0 && iw < p.W {
									yo[oh*p.OW+ow] += wv * xc[ih*p.W+iw]
								}
							}
						}
					}
				}
			}
		}
	}
	return y
}

// TestWinogradJunkFree pins which shapes drop the junk slot (the
// correctness of both layouts is TestWinogradConv's: its cases include
// both kinds, one image and several, padding 0 to 2).
func TestWinogradJunkFree(t *testing.T) {
	for _, c := range []struct {
		hw, pad, tile int
		free          bool
	}{
		{7, 1, 2, true}, {7, 1, 4, true}, {14, 1, 4, true}, {14, 1, 2, false},
		{13, 1, 2, true}, {13, 1, 4, true}, {27, 1, 4, true}, {55, 1, 4, true},
		{28, 1, 4, false}, {56, 1, 4, false}, {56, 1, 2, false},
		{7, 0, 4, true}, {7, 0, 2, false}, {5, 2, 2, true},
	} {
		p := wgCase{1, 2, c.hw, c.hw, 2, c.pad}.params()
		wc, err := NewWinogradConv(&p, make([]float32, 2*2*9), c.tile)
		if err != nil {
			t.Fatal(err)
		}
		if got := wc.segSlots == wc.tilesW; got != c.free {
			t.Errorf("%dx%d pad %d F%d: junk-free %v, want %v", c.hw, c.hw, c.pad, c.tile, got, c.free)
		}
	}
}
