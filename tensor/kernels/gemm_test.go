package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// testImpls returns the GEMM implementations this CPU can run: the pure-Go
// one and every assembly one (including those not enabled by default).
func testImpls() []*gemmImpl {
	var l []*gemmImpl
	for _, im := range allGemmImpls() {
		if im.supported {
			l = append(l, im)
		}
	}
	return l
}

// withImpl runs f with sgemm dispatching to im.
func withImpl(im *gemmImpl, f func()) {
	old := gemmActive.Swap(im)
	defer gemmActive.Store(old)
	f()
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	rows           []int // rows of C checked against the reference; nil: all
}

func (c gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,%dx%dx%d,alpha=%g,beta=%g", c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta)
}

const sentinel = float32(-7777.25)

// gemmData is one problem: operands with padded leading dimensions, C with
// guard bands before, after and in its padding columns, and the reference
// result for the checked rows.
type gemmData struct {
	gemmCase
	a, b          []float32 // exactly as long as the GEMM may read
	lda, ldb, ldc int
	c0            []float32 // initial C buffer, guard bands included
	pre           int       // offset of C[0,0] in c0
	want, tol     map[int][]float32
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// extent is how many elements a rows x cols matrix with stride ld spans.
func extent(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

func absSlice(s []float32) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(math.Abs(float64(v)))
	}
	return o
}

// gemmProblem is the part of a case shared by its alpha and beta values:
// the operands and, for the checked rows, the reference product
// P = op(A) op(B) and the magnitude M = |op(A)| |op(B)| (both by SgemmRef).
type gemmProblem struct {
	a, b     []float32
	lda, ldb int
	p, mag   map[int][]float32
}

var problemCache = map[string]*gemmProblem{}

func rowsOf(c gemmCase) []int {
	if c.rows != nil {
		return c.rows
	}
	rows := make([]int, c.m)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

func getProblem(c gemmCase) *gemmProblem {
	key := fmt.Sprint(c.transA, c.transB, c.m, c.n, c.k, c.rows)
	if pr, ok := problemCache[key]; ok {
		return pr
	}
	r := rand.New(rand.NewPCG(uint64(c.m*131+c.n*7+c.k), 1))
	pr := &gemmProblem{p: map[int][]float32{}, mag: map[int][]float32{}}
	ar, ac := c.m, c.k
	if c.transA {
		ar, ac = c.k, c.m
	}
	br, bc := c.k, c.n
	if c.transB {
		br, bc = c.n, c.k
	}
	pr.lda, pr.ldb = ac+3, bc+5
	pr.a = randSlice(r, extent(ar, ac, pr.lda))
	pr.b = randSlice(r, extent(br, bc, pr.ldb))
	absA, absB := absSlice(pr.a), absSlice(pr.b)
	for _, i := range rowsOf(c) {
		// Row i of op(A) is row i of A, or column i of A^T.
		aoff := i * pr.lda
		if c.transA {
			aoff = i
		}
		if len(pr.a) == 0 {
			aoff = 0
		}
		p, mag := make([]float32, c.n), make([]float32, c.n)
		SgemmRef(c.transA, c.transB, 1, c.n, c.k, 1, pr.a[aoff:], pr.lda, pr.b, pr.ldb, 0, p, c.n)
		SgemmRef(c.transA, c.transB, 1, c.n, c.k, 1, absA[aoff:], pr.lda, absB, pr.ldb, 0, mag, c.n)
		pr.p[i], pr.mag[i] = p, mag
	}
	problemCache[key] = pr
	return pr
}

func newGemmData(c gemmCase, seed uint64) *gemmData {
	pr := getProblem(c)
	r := rand.New(rand.NewPCG(seed, uint64(c.m*131+c.n*7+c.k)))
	d := &gemmData{gemmCase: c, a: pr.a, b: pr.b, lda: pr.lda, ldb: pr.ldb}
	d.ldc = c.n + 2
	d.pre = 11
	d.c0 = make([]float32, d.pre+c.m*d.ldc+13)
	for i := range d.c0 {
		d.c0[i] = sentinel
	}
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			v := float32(r.Float64()*2 - 1)
			if c.beta == 0 {
				v = float32(math.NaN()) // must not propagate
			}
			d.c0[d.pre+i*d.ldc+j] = v
		}
	}
	d.want = map[int][]float32{}
	d.tol = map[int][]float32{}
	eps := float64(math.Nextafter32(1, 2) - 1)
	al, be := float64(c.alpha), float64(c.beta)
	for i, p := range pr.p {
		want, tol := make([]float32, c.n), make([]float32, c.n)
		for j := range want {
			w := al * float64(p[j])
			m := math.Abs(al) * float64(pr.mag[i][j])
			if c.beta != 0 {
				c0 := float64(d.c0[d.pre+i*d.ldc+j])
				w += be * c0
				m += math.Abs(be * c0)
			}
			want[j] = float32(w)
			// Rounding of a k-term float32 dot product, of P itself and
			// of the final alpha/beta update.
			tol[j] = float32(eps*(16+2*math.Sqrt(float64(c.k)))*m + eps*math.Abs(w) + 1e-30)
		}
		d.want[i], d.tol[i] = want, tol
	}
	return d
}

// run calls the GEMM under test on a fresh copy of C and checks the result
// rows and every guard element.
func (d *gemmData) run(t *testing.T, name string, par bool) {
	t.Helper()
	buf := append([]float32(nil), d.c0...)
	c := buf[d.pre : d.pre+extent(d.m, d.n, d.ldc)]
	if par {
		Sgemm(d.transA, d.transB, d.m, d.n, d.k, d.alpha, d.a, d.lda, d.b, d.ldb, d.beta, c, d.ldc)
	} else {
		SgemmSerial(d.transA, d.transB, d.m, d.n, d.k, d.alpha, d.a, d.lda, d.b, d.ldb, d.beta, c, d.ldc)
	}
	bad := 0
	for idx, v := range buf {
		i, j := (idx-d.pre)/d.ldc, (idx-d.pre)%d.ldc
		inside := idx >= d.pre && i < d.m && j < d.n
		if !inside {
			if math.Float32bits(v) != math.Float32bits(sentinel) {
				t.Errorf("%s %v: guard element %d (row %d col %d) changed to %v", name, d.gemmCase, idx, i, j, v)
				bad++
			}
			continue
		}
		want, ok := d.want[i]
		if !ok {
			continue
		}
		diff := math.Abs(float64(v) - float64(want[j]))
		if !(diff <= float64(d.tol[i][j])) {
			t.Errorf("%s %v: C[%d,%d] = %v, want %v (tol %g)", name, d.gemmCase, i, j, v, want[j], d.tol[i][j])
			bad++
		}
		if bad > 10 {
			t.Fatalf("%s %v: too many errors", name, d.gemmCase)
		}
	}
}

// checkCases runs every case with every implementation, serial and
// parallel; the pure-Go one only on cases with wantGeneric unset or true.
func checkCases(t *testing.T, cases []gemmCase, wantGeneric func(gemmCase) bool) {
	checkCasesWith(t, testImpls(), cases, wantGeneric)
}

func checkCasesWith(t *testing.T, impls []*gemmImpl, cases []gemmCase, wantGeneric func(gemmCase) bool) {
	for ci, c := range cases {
		d := newGemmData(c, uint64(ci))
		for _, im := range impls {
			if im.name == "generic" && wantGeneric != nil && !wantGeneric(c) {
				continue
			}
			withImpl(im, func() {
				d.run(t, im.name+"/serial", false)
				d.run(t, im.name+"/parallel", true)
			})
		}
	}
}

var (
	transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}
	alphas      = []float32{1, 0.5}
	betas       = []float32{0, 1, -0.5}
)

// allCombos expands shapes over every trans, alpha and beta combination.
func allCombos(shapes [][3]int) []gemmCase {
	var l []gemmCase
	for _, s := range shapes {
		for _, tr := range transCombos {
			for _, al := range alphas {
				for _, be := range betas {
					l = append(l, gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], alpha: al, beta: be})
				}
			}
		}
	}
	return l
}

func TestSgemmSmall(t *testing.T) {
	sizes := []int{1, 2, 7, 31}
	var shapes [][3]int
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range sizes {
				shapes = append(shapes, [3]int{m, n, k})
			}
		}
	}
	// Exact micro-tiles and one off them, for 4x4, 6x16 and 12x32.
	shapes = append(shapes, [3]int{4, 4, 5}, [3]int{6, 16, 4}, [3]int{6, 8, 9}, [3]int{12, 32, 9},
		[3]int{12, 16, 3}, [3]int{5, 17, 33}, [3]int{7, 9, 8}, [3]int{13, 33, 16}, [3]int{18, 48, 17})
	checkCases(t, allCombos(shapes), nil)
}

func TestSgemmMedium(t *testing.T) {
	shapes := [][3]int{
		{129, 31, 257}, {31, 257, 129}, {257, 129, 7}, {13, 50, 300}, {129, 129, 129},
		{150, 40, 260},  // crosses mc (144) and kc (256)
		{200, 300, 257}, // A too big to keep packed
	}
	if testing.Short() {
		shapes = shapes[:3]
	}
	// The pure-Go kernel (slow under -race): every combination on the
	// smaller shapes, the plain layout on the larger ones.
	checkCases(t, allCombos(shapes), func(c gemmCase) bool {
		return c.m*c.n*c.k <= 1<<20 || (!c.transA && !c.transB)
	})
}

// TestSgemmLarge checks big shapes on sampled rows (first, last, around the
// micro-tile and block edges, some random ones).
func TestSgemmLarge(t *testing.T) {
	shapes := [][3]int{
		{257, 257, 257},
		{64, 3136, 576},  // resnet conv as GEMM: m small, n huge
		{300, 700, 1100}, // several mc, kc blocks
		{100, 49, 4608},  // n small, k huge
		{1, 1000, 1000},
		{1000, 1, 100},
	}
	if testing.Short() {
		shapes = shapes[:2]
	}
	var cases []gemmCase
	for si, s := range shapes {
		m := s[0]
		rowSet := map[int]bool{0: true, m - 1: true}
		for _, i := range []int{1, 5, 6, 11, 12, 143, 144, 239, 240, m / 2, m - 2, m - 7} {
			if i >= 0 && i < m {
				rowSet[i] = true
			}
		}
		r := rand.New(rand.NewPCG(uint64(si), 9))
		for len(rowSet) < min(m, 12) {
			rowSet[r.IntN(m)] = true
		}
		var rows []int
		for i := range rowSet {
			rows = append(rows, i)
		}
		for ti, tr := range transCombos {
			c := gemmCase{transA: tr[0], transB: tr[1], m: s[0], n: s[1], k: s[2], rows: rows}
			c.alpha = alphas[ti%2]
			c.beta = betas[(ti+si)%3]
			cases = append(cases, c)
		}
	}
	// The pure-Go kernel (slow under -race; TestSgemmBlocking covers its
	// blocking) on the plain layout of the smaller ones only.
	checkCases(t, cases, func(c gemmCase) bool {
		return !c.transA && !c.transB && c.m*c.n*c.k <= 1<<25
	})
}

// TestSgemmBlocking runs every implementation with tiny blocks (mc, kc,
// budgets), so that medium shapes go through many row, k and column blocks
// on both the shared-B and the per-task-B paths.
func TestSgemmBlocking(t *testing.T) {
	shapes := [][3]int{{129, 31, 257}, {31, 257, 129}, {50, 200, 100}, {13, 50, 40}}
	for _, im := range testImpls() {
		small := *im
		small.mc, small.kc = 2*im.mr, 16
		small.nBudget = 40 * 3 * im.nr // a few panels of k = 40
		small.l2 = 2 << 10
		t.Run(im.name, func(t *testing.T) {
			var cases []gemmCase
			for _, c := range allCombos(shapes) {
				if c.alpha == 1 { // alpha is covered elsewhere
					cases = append(cases, c)
				}
			}
			checkCasesWith(t, []*gemmImpl{&small}, cases, nil)
		})
	}
}

// TestSgemmDegenerate: m, n or k zero, alpha zero.
func TestSgemmDegenerate(t *testing.T) {
	var cases []gemmCase
	for _, s := range [][3]int{{3, 5, 0}, {40, 70, 0}} {
		for _, be := range betas {
			cases = append(cases, gemmCase{m: s[0], n: s[1], k: s[2], alpha: 1, beta: be})
		}
	}
	for _, be := range betas {
		cases = append(cases, gemmCase{m: 9, n: 20, k: 4, alpha: 0, beta: be})
	}
	checkCases(t, cases, nil)
	for _, im := range testImpls() {
		withImpl(im, func() {
			Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
			Sgemm(false, false, 5, 0, 3, 1, make([]float32, 15), 3, nil, 0, 0, nil, 0)
		})
	}
}

func TestSgemmPanicsOnShortSlices(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	a, b, c := make([]float32, 6*8), make([]float32, 8*16), make([]float32, 6*16)
	mustPanic("short C", func() { Sgemm(false, false, 6, 16, 8, 1, a, 8, b, 16, 0, c[:95], 16) })
	mustPanic("short A", func() { Sgemm(false, false, 6, 16, 8, 1, a[:47], 8, b, 16, 0, c, 16) })
	mustPanic("short B^T", func() { Sgemm(false, true, 6, 16, 8, 1, a, 8, b[:127], 8, 0, c, 16) })
	mustPanic("small ldc", func() { Sgemm(false, false, 6, 8, 8, 1, a, 8, b, 16, 0, c, 7) })
}

func TestSelectGemm(t *testing.T) {
	if got := selectGemm("generic"); got != genericImpl {
		t.Errorf("CONVNET_KERNELS=generic chose %s", got.name)
	}
	def := selectGemm("")
	if !def.supported || !def.auto {
		t.Errorf("default %s is not a supported auto implementation", def.name)
	}
	if cpuAVX2FMA && len(asmGemmImpls()) > 0 && def.name != "avx2" {
		t.Errorf("default on an AVX2 machine is %s", def.name)
	}
	if got := selectGemm("no-such-kernel"); got != def {
		t.Errorf("unknown setting chose %s, want the default %s", got.name, def.name)
	}
	if im := gemmImplByName("avx512"); im != nil && selectGemm("avx512") != im {
		t.Errorf("CONVNET_KERNELS=avx512 not honoured")
	}
	t.Logf("active GEMM: %s (AVX2+FMA %v, AVX-512F %v)", gemmActive.Load().name, cpuAVX2FMA, cpuAVX512)
}

func TestGemmGrid(t *testing.T) {
	im := &gemmImpl{mr: 6, nr: 16, mc: 144, kc: 256}
	for _, c := range []struct{ mp, np, w int }{
		{11, 196, 2}, {11, 196, 16}, {86, 4, 16}, {171, 128, 16}, {1, 1, 8}, {3, 2, 16},
	} {
		mw, nw := gemmGrid(c.mp, c.np, c.w, im)
		if mw < 1 || nw < 1 || mw*nw > c.w || mw > c.mp || nw > c.np {
			t.Errorf("gemmGrid(%d, %d, %d) = %d x %d", c.mp, c.np, c.w, mw, nw)
		}
	}
	// Small m, huge n: split the columns.
	if mw, nw := gemmGrid(11, 196, 2, im); mw != 1 || nw != 2 {
		t.Errorf("gemmGrid(11, 196, 2) = %d x %d, want 1 x 2", mw, nw)
	}
}

// TestSgemmAllocs: packed buffers are pooled, so a warm call allocates only
// its small bookkeeping (the job, closures), never the buffers.
func TestSgemmAllocs(t *testing.T) {
	for _, s := range [][3]int{{64, 3136, 64}, {300, 200, 300}, {100, 49, 600}} {
		m, n, k := s[0], s[1], s[2]
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for _, f := range []func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int){SgemmSerial, Sgemm} {
			f(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			allocs := testing.AllocsPerRun(20, func() { f(false, false, m, n, k, 1, a, k, b, n, 0, c, n) })
			if allocs > 10 {
				t.Errorf("%v: %v allocations per call", s, allocs)
			}
		}
	}
}
