package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func pcImpls() []*pcKernels {
	impls := []*pcKernels{pcGeneric}
	if k := pcAsmKernels(); k != nil {
		impls = append(impls, k)
	}
	return impls
}

func withPcImpl(k *pcKernels, f func()) {
	old := pcImpl
	pcImpl = k
	defer func() { pcImpl = old }()
	f()
}

// withPcBlocking runs f with small blocks, so that small shapes take the
// k-block, column-block and row-block loops.
func withPcBlocking(kc, nc, mc int, f func()) {
	okc, onc, omc := pcKC, pcNC, pcMC
	pcKC, pcNC, pcMC = kc, nc, mc
	defer func() { pcKC, pcNC, pcMC = okc, onc, omc }()
	f()
}

// pcCases are the shapes of convCases that are not depthwise (PackedConv
// takes any groups, but the plans send depthwise layers elsewhere), the
// zoo's awkward ones (C = 3 stems, 7x7 outputs), and sizes around the
// 6 x 16 tile.
func pcCases() []convCase {
	var cs []convCase
	for _, c := range convCases() {
		cs = append(cs, c)
	}
	cs = append(cs,
		convCase{n: 1, c: 3, h: 23, w: 21, cout: 7, kh: 7, kw: 7, s: 2, p: 3, d: 1, g: 1, bias: true},
		convCase{n: 2, c: 3, h: 17, w: 17, cout: 13, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 9, h: 7, w: 7, cout: 17, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		convCase{n: 2, c: 31, h: 4, w: 4, cout: 12, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 5, h: 16, w: 16, cout: 6, kh: 1, kw: 1, s: 1, d: 1, g: 1},
		convCase{n: 2, c: 20, h: 9, w: 7, cout: 14, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 70, h: 5, w: 13, cout: 8, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 12, h: 14, w: 14, cout: 25, kh: 1, kw: 1, s: 2, d: 1, g: 1, bias: true},
		convCase{n: 3, c: 2, h: 1, w: 33, cout: 7, kh: 1, kw: 3, s: 1, ph: 0, pw: 1, d: 1, g: 1},
		convCase{n: 1, c: 40, h: 9, w: 9, cout: 129, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		// Outputs of 16k + 1 to 4 pixels: the narrow kernel's last panel
		// (a 7x7 output is 49).
		convCase{n: 2, c: 37, h: 7, w: 7, cout: 20, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 9, h: 14, w: 14, cout: 13, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 6, h: 3, w: 6, cout: 8, kh: 1, kw: 1, s: 1, d: 1, g: 1},
		convCase{n: 1, c: 70, h: 2, w: 9, cout: 7, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		convCase{n: 1, c: 11, h: 1, w: 19, cout: 9, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
		convCase{n: 2, c: 5, h: 4, w: 5, cout: 31, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 1, bias: true},
		// Rows split over two workers, a narrow last panel: planned for
		// one worker (SetSerial), a task has twice the rows.
		convCase{n: 1, c: 64, h: 14, w: 14, cout: 384, kh: 1, kw: 1, s: 1, d: 1, g: 1, bias: true},
	)
	return cs
}

// TestPackedConv binds PackedConv (each kernel, default and tiny
// blocking) to the float64 reference on awkward sizes, with every
// epilogue part, strided layouts (a concatenation's channel range) and
// guard bands around every output.
func TestPackedConv(t *testing.T) {
	eps := []struct {
		name      string
		bias, res bool
		inPlace   bool // the residual is y itself
		act       Activation
	}{
		{name: "none"},
		{name: "bias_relu", bias: true, act: ActReLU},
		{name: "res_relu6", res: true, act: ActReLU6},
		{name: "bias_res", bias: true, res: true},
		{name: "bias_res_in_place_relu", bias: true, res: true, inPlace: true, act: ActReLU},
	}
	// serial: planned for one worker after construction (SetSerial), as
	// a fused block's bands run it.
	blockings := []struct {
		name       string
		kc, nc, mc int
		serial     bool
	}{{"default", pcKC, pcNC, pcMC, false}, {"tiny", 5, 32, 12, false}, {"serial", pcKC, pcNC, pcMC, true}}
	for ci, c := range pcCases() {
		p := c.params()
		rng := rand.New(rand.NewPCG(uint64(ci), 7))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.Cout*p.C/p.Groups*p.KH*p.KW)
		bias := convRand(rng, p.Cout)
		ohw := p.OH * p.OW
		res := convRand(rng, p.N*p.Cout*ohw)
		ref := refConvForward(&p, x, w, nil)
		for ei, e := range eps {
			// Alternate dense and strided layouts: the strided one puts x,
			// y and the residual in channel ranges of bigger buffers.
			strided := (ci+ei)%2 == 1
			xl, yl, rl := DenseLayout(p.C, p.H*p.W), DenseLayout(p.Cout, ohw), DenseLayout(p.Cout, ohw)
			if strided {
				xl = Layout{CS: p.H*p.W + 3, BS: (p.C + 2) * (p.H*p.W + 3)}
				yl = Layout{CS: ohw + 5, BS: (p.Cout + 1) * (ohw + 5)}
				rl = Layout{CS: ohw + 1, BS: (p.Cout + 3) * (ohw + 1)}
			}
			xs := place(x, p.N, p.C, p.H*p.W, xl)
			rs := place(res, p.N, p.Cout, ohw, rl)
			ep := &Epilogue{Act: e.act}
			if e.bias {
				ep.Bias = bias
			}
			if e.res {
				ep.Residual = rs
			}
			want := append([]float64(nil), ref...)
			wantEp := &Epilogue{Act: e.act}
			if e.bias {
				wantEp.Bias = bias
			}
			if e.res {
				wantEp.Residual = res
			}
			refEpilogue(want, wantEp, p.Cout, ohw)
			for _, impl := range pcImpls() {
				for _, bl := range blockings {
					name := fmt.Sprintf("%v/%s/%s/%s/strided=%v", c, e.name, impl.name, bl.name, strided)
					withPcImpl(impl, func() {
						withPcBlocking(bl.kc, bl.nc, bl.mc, func() {
							pc, err := NewPackedConv(&p, w)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if bl.serial {
								pc.SetSerial()
							}
							ny := (p.N-1)*yl.BS + (p.Cout-1)*yl.CS + ohw
							buf, y := guarded(ny)
							ep, rl := ep, rl
							if e.inPlace {
								for b := 0; b < p.N; b++ {
									for ch := 0; ch < p.Cout; ch++ {
										copy(y[b*yl.BS+ch*yl.CS:][:ohw], res[(b*p.Cout+ch)*ohw:][:ohw])
									}
								}
								ep = &Epilogue{Bias: ep.Bias, Act: ep.Act, Residual: y}
								rl = yl
							}
							ws := make([]float32, pc.WorkspaceSize())
							for i := range ws {
								ws[i] = float32(math.NaN()) // the workspace need not be initialised
							}
							pc.Run(p.N, xs, xl, y, yl, ep, rl, ws)
							checkGuards(t, name, buf)
							got := gatherLayout(y, p.N, p.Cout, ohw, yl)
							closeTo(t, name, got, want, 1e-5)
							if strided {
								// Between the channel planes nothing is written.
								for i, v := range y {
									if i%yl.BS < p.Cout*yl.CS && i%yl.CS < ohw {
										continue
									}
									if v != guardVal {
										t.Fatalf("%s: wrote between planes at %d", name, i)
									}
								}
							}
						})
					})
				}
			}
		}
	}
}

// place copies dense n x c x hw data into a new buffer laid out as l; the
// gaps hold guardVal.
func place(d []float32, n, c, hw int, l Layout) []float32 {
	out := make([]float32, (n-1)*l.BS+(c-1)*l.CS+hw)
	for i := range out {
		out[i] = guardVal
	}
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(out[b*l.BS+ch*l.CS:][:hw], d[(b*c+ch)*hw:][:hw])
		}
	}
	return out
}

// gatherLayout is the inverse of place.
func gatherLayout(d []float32, n, c, hw int, l Layout) []float32 {
	out := make([]float32, n*c*hw)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(out[(b*c+ch)*hw:][:hw], d[b*l.BS+ch*l.CS:][:hw])
		}
	}
	return out
}

// TestPackedConvBatch runs fewer images than the conv was built for.
func TestPackedConvBatch(t *testing.T) {
	c := convCase{n: 4, c: 5, h: 9, w: 9, cout: 7, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1}
	p := c.params()
	rng := rand.New(rand.NewPCG(1, 2))
	x := convRand(rng, p.N*p.C*p.H*p.W)
	w := convRand(rng, p.Cout*p.C*9)
	pc, err := NewPackedConv(&p, w)
	if err != nil {
		t.Fatal(err)
	}
	ws := make([]float32, pc.WorkspaceSize())
	q := p
	q.N = 2
	ohw := p.OH * p.OW
	buf, y := guarded(q.N * p.Cout * ohw)
	pc.Run(q.N, x, DenseLayout(p.C, p.H*p.W), y, DenseLayout(p.Cout, ohw), nil, Layout{}, ws)
	checkGuards(t, "batch 2 of 4", buf)
	closeTo(t, "batch 2 of 4", y, refConvForward(&q, x, w, nil), 1e-5)
}

// TestPackedConvKernelsMatchGo binds the assembly micro-kernel and packing
// to their Go twins directly, on every row count, load flag and clamp.
func TestPackedConvKernelsMatchGo(t *testing.T) {
	asm := pcAsmKernels()
	if asm == nil {
		t.Skip("no assembly kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 13, 64, 255} {
		for _, np := range []int{1, 3} {
			a := convRand(rng, np*k*pcMR)
			bias := convRand(rng, np*pcMR)
			for rows := 1; rows <= pcMR; rows++ {
				for _, nr := range []int{pcNR, pcNR / 2} {
					// B packed (rows of 16), or read in place from an
					// image's planes (the 16-wide kernel only).
					ldb := pcNR
					if nr == pcNR && rows%2 == 0 {
						ldb = 37
					}
					b := convRand(rng, (k-1)*ldb+nr)
					for _, load := range []bool{false, true} {
						for _, cl := range [][2]float32{{float32(math.Inf(-1)), float32(math.Inf(1))}, {0, 6}} {
							ldc, ldr := 21, 19
							c0 := convRand(rng, np*pcMR*ldc)
							c0[3] = float32(math.NaN()) // passes through the clamp
							res := convRand(rng, np*pcMR*ldr)
							cg := append([]float32(nil), c0...)
							ca := append([]float32(nil), c0...)
							pcKernelGo(nr, k, np, a, b, ldb, cg, ldc, rows, load, bias, res, ldr, cl[0], cl[1])
							asm.kernel(nr, k, np, a, b, ldb, ca, ldc, rows, load, bias, res, ldr, cl[0], cl[1])
							for i := range cg {
								d := math.Abs(float64(cg[i] - ca[i]))
								if d > 1e-5*math.Max(1, math.Abs(float64(cg[i]))) || math.IsNaN(float64(cg[i])) != math.IsNaN(float64(ca[i])) {
									t.Fatalf("nr %d k %d ldb %d np %d rows %d load %v clamp %v: c[%d] = %g, Go %g", nr, k, ldb, np, rows, load, cl, i, ca[i], cg[i])
								}
							}
						}
					}
				}
			}
		}
	}
	// The narrow kernel: 1 to 4 columns, odd and even k, adding or not.
	if asm.narrow != nil {
		for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 13, 64, 255} {
			a := convRand(rng, k*pcMR+2)
			b := convRand(rng, k*pcNR)
			for ncols := 1; ncols <= pcNarrow; ncols++ {
				for _, add := range []bool{false, true} {
					acc0 := convRand(rng, pcNarrowAcc)
					ag, aa := append([]float32(nil), acc0...), append([]float32(nil), acc0...)
					pcNarrowGo(ncols, k, a, b, ag, add)
					asm.narrow(ncols, k, a, b, aa, add)
					for jj := 0; jj < ncols; jj++ {
						for i := 0; i < pcMR; i++ {
							g, x := ag[jj*8+i], aa[jj*8+i]
							if d := math.Abs(float64(g - x)); d > 1e-5*math.Max(1, math.Abs(float64(g))) {
								t.Fatalf("narrow ncols %d k %d add %v: acc[%d] = %g, Go %g", ncols, k, add, jj*8+i, x, g)
							}
						}
					}
				}
			}
		}
	}
	// Packing: segments of every length, the last panel partial.
	src := convRand(rng, 4000)
	tap := []int32{0, 3, 40, 41}
	for _, segs := range [][]pcSeg{
		{{src: 0, dst: 0, n: 16}},
		{{src: 5, dst: 0, n: 7}, {src: 20, dst: 7, n: 7}, {src: 35, dst: 14, n: 2}},
		{{src: 1, dst: 0, n: 1}},
		{{src: 9, dst: 0, n: 13}},
		{{src: 2, dst: 0, n: 15}, {src: 100, dst: 15, n: 1}},
	} {
		for _, nc := range []int{1, 3} {
			n := nc * len(tap) * pcNR
			want := make([]float32, n)
			pcPackGo(nc, len(tap), 97, tap, src, segs, want)
			buf, got := guarded(n + pcNR)
			asm.pack(nc, len(tap), 97, tap, src, segs, got)
			checkGuards(t, "pack", buf)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("segs %v nc %d: packed[%d] = %g, want %g", segs, nc, i, got[i], want[i])
				}
			}
			// With a prologue, on the columns the segments cover (NaN
			// passes the clamp).
			scale, shift := convRand(rng, nc), convRand(rng, nc)
			srcN := append([]float32(nil), src...)
			srcN[base(segs)] = float32(math.NaN())
			pcPackAffineGo(nc, len(tap), 97, tap, srcN, segs, want, scale, shift, 0, 6)
			buf, got = guarded(n + pcNR)
			asm.packAffine(nc, len(tap), 97, tap, srcN, segs, got, scale, shift, 0, 6)
			checkGuards(t, "pack affine", buf)
			for r := 0; r < nc*len(tap); r++ {
				for _, sg := range segs {
					for i := r*pcNR + int(sg.dst); i < r*pcNR+int(sg.dst+sg.n); i++ {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-6 || math.IsNaN(float64(got[i])) != math.IsNaN(float64(want[i])) {
							t.Fatalf("segs %v nc %d: affine packed[%d] = %g, want %g", segs, nc, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// base is the source index of the first value the segments pack.
func base(segs []pcSeg) int { return int(segs[0].src) }

// TestPackedConvPrologue binds a convolution with a prologue (an input
// BatchNorm and activation applied as the input is read: in the packing
// of 1x1 and unpadded layers, in the prepared planes of strided or padded
// ones, whose zero padding must stay zero) to the reference on the
// normalised input.
func TestPackedConvPrologue(t *testing.T) {
	for ci, c := range pcCases() {
		p := c.params()
		rng := rand.New(rand.NewPCG(uint64(ci), 9))
		x := convRand(rng, p.N*p.C*p.H*p.W)
		w := convRand(rng, p.Cout*p.C/p.Groups*p.KH*p.KW)
		scale, shift := convRand(rng, p.C), convRand(rng, p.C)
		for _, act := range []Activation{ActReLU, ActNone, ActReLU6} {
			xp := make([]float32, len(x))
			lo, hi := actBounds(act)
			for i, v := range x {
				ch := i / (p.H * p.W) % p.C
				affineRowGo(xp[i:i+1], []float32{v}, scale[ch], shift[ch], lo, hi)
			}
			want := refConvForward(&p, xp, w, nil)
			ohw := p.OH * p.OW
			for _, impl := range pcImpls() {
				for _, tiny := range []bool{false, true} {
					name := fmt.Sprintf("%v/act %d/%s/tiny=%v", c, act, impl.name, tiny)
					kc, nc, mc := pcKC, pcNC, pcMC
					if tiny {
						kc, nc, mc = 5, 32, 12
					}
					withPcImpl(impl, func() {
						withPcBlocking(kc, nc, mc, func() {
							pc, err := NewPackedConv(&p, w)
							if err != nil {
								t.Fatal(err)
							}
							if err := pc.SetPrologue(&Prologue{Scale: scale, Shift: shift, Act: act}); err != nil {
								t.Fatal(err)
							}
							buf, y := guarded(p.N * p.Cout * ohw)
							ws := make([]float32, pc.WorkspaceSize())
							pc.Run(p.N, x, DenseLayout(p.C, p.H*p.W), y, DenseLayout(p.Cout, ohw), nil, Layout{}, ws)
							checkGuards(t, name, buf)
							closeTo(t, name, y, want, 1e-5)
						})
					})
				}
			}
		}
	}
	pc, err := NewPackedConv(&ConvParams{N: 1, C: 2, H: 3, W: 3, Cout: 1, KH: 1, KW: 1, SH: 1, SW: 1, DH: 1, DW: 1, OH: 3, OW: 3, Groups: 1}, []float32{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetPrologue(&Prologue{Scale: []float32{1}}); err == nil {
		t.Error("no error for a prologue of 1 scale for 2 channels")
	}
}

func TestPackedConvRejects(t *testing.T) {
	good := convCase{n: 1, c: 4, h: 5, w: 5, cout: 4, kh: 3, kw: 3, s: 1, p: 1, d: 1, g: 2}.params()
	w := make([]float32, good.Cout*good.C/good.Groups*9)
	if _, err := NewPackedConv(&good, w); err != nil {
		t.Fatal(err)
	}
	bad := []func(p *ConvParams){
		func(p *ConvParams) { p.Groups = 3 },
		func(p *ConvParams) { p.OH++ },
		func(p *ConvParams) { p.SH = 0 },
		func(p *ConvParams) { p.N = 0 },
	}
	for i, f := range bad {
		p := good
		f(&p)
		if _, err := NewPackedConv(&p, w); err == nil {
			t.Errorf("case %d: no error for %+v", i, p)
		}
	}
	if _, err := NewPackedConv(&good, w[1:]); err == nil {
		t.Error("no error for short weights")
	}
}

func TestPackedConvNoAllocs(t *testing.T) {
	p := convCase{n: 2, c: 16, h: 14, w: 14, cout: 32, kh: 3, kw: 3, s: 2, p: 1, d: 1, g: 1}.params()
	rng := rand.New(rand.NewPCG(3, 3))
	x := convRand(rng, p.N*p.C*p.H*p.W)
	w := convRand(rng, p.Cout*p.C*9)
	pc, err := NewPackedConv(&p, w)
	if err != nil {
		t.Fatal(err)
	}
	ws := make([]float32, pc.WorkspaceSize())
	y := make([]float32, p.N*p.Cout*p.OH*p.OW)
	ep := &Epilogue{Bias: convRand(rng, p.Cout), Act: ActReLU}
	run := func() {
		pc.Run(p.N, x, DenseLayout(p.C, p.H*p.W), y, DenseLayout(p.Cout, p.OH*p.OW), ep, Layout{}, ws)
	}
	run()
	if n := testing.AllocsPerRun(20, run); n > 0 {
		t.Errorf("Run allocates %v times per call", n)
	}
}

func TestColBlock(t *testing.T) {
	for _, c := range []struct{ nb, nc, want int }{
		{208, 192, 208}, {400, 192, 208}, {784, 192, 208}, {64, 192, 64}, {16, 192, 16},
		{3136, 192, 208}, {288, 192, 144}, {192, 192, 192},
	} {
		if got := colBlock(c.nb, c.nc); got != c.want {
			t.Errorf("colBlock(%d, %d) = %d, want %d", c.nb, c.nc, got, c.want)
		}
	}
}
