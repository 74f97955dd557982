package kernels

// The GEMM driver, shared by every micro-kernel, and the pure-Go kernel.
//
// The structure is BLIS/GotoBLAS, for row-major C whose rows are the vector
// direction of the micro-kernel (MR rows x NR columns of C per tile):
//
//	for each block of columns (packed B: k x nc, NR-column panels, k-major)
//	    for each block of about mc rows, for each kc slice of k:
//	        pack that mc x kc block of A in MR-row panels        (in L2)
//	        for each NR panel of B (its kc x NR slice stays in L1):
//	            for each MR panel of A: micro-kernel
//
// Micro-kernels store C = alpha*acc + beta*C themselves (beta on the first
// k slice, 1 after), so there is no separate pass over C and beta == 0
// never reads C. Tiles that stick out of C (m, n not multiples of MR, NR)
// are computed into a small buffer and copied out; a last panel at most
// NR/2 wide uses a half-width kernel. Variations on the theme:
//
//   - Small A (m*k up to gemmACacheMax) is packed once, and B goes in column
//     blocks small enough to stay in L2 next to it (conv shapes: m = Cout
//     small, n = H*W large).
//   - Narrow n: a non-transposed A is read in place by the "direct" kernels,
//     since packing it would cost as much as the few uses it gets.
//   - mc and kc are evened out (1024 rows: 8 blocks of 132, not 7 of 144
//     and one of 16).
//
// Parallel runs cut C into a grid of at most Workers() rectangles, chosen
// by a cost model (tile area of the slowest task + packing), so tall, wide
// and small-m/huge-n shapes all use every worker. With one row of tasks,
// each task packs the B of its own columns and a GEMM costs one Parallel
// call; with several, each column block of B is packed once, in parallel,
// and shared.
//
// Packed buffers come from sync.Pools and are 64-byte aligned; nothing is
// allocated per call once the pools are warm.

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// microKernel computes an MR x NR tile from packed panels and stores its
// first rows rows; see gemm_amd64.go. k >= 1.
type microKernel func(k int, a, b, c *float32, ldc, rows int, alpha, beta float32)

// directKernel is a microKernel that reads A unpacked: row i of the tile
// is a[i*lda:], k long (all MR rows are read).
type directKernel func(k int, a *float32, lda int, b, c *float32, ldc, rows int, alpha, beta float32)

// packBFunc packs np full panels of a row-major B: see sgemmPackB16.
type packBFunc func(k, np int, src *float32, lds int, dst *float32, dstride int)

// gemmImpl is one GEMM implementation: a micro-kernel and its blocking.
type gemmImpl struct {
	name      string
	supported bool // the CPU can run it
	auto      bool // chosen by default when supported (else opt-in by name)

	mr, nr  int // micro-tile
	mc, kc  int // A block (L2) is mc x kc; B micro-panel kc x nr (L1)
	nBudget int // floats of packed B per column block (k x nc), in L3
	l2      int // floats of packed A + B a column task keeps in L2

	// kerns[l] computes mr x (nr>>l) tiles; kerns[0] is the main kernel,
	// the narrower ones serve a last panel of n that they cover.
	kerns []microKernel
	// directs: the same widths, reading a non-transposed A in place, or nil.
	directs []directKernel

	// Optional packing helpers (nil: Go loops); see gemm_amd64.go.
	packBs []packBFunc                                      // per width, like kerns
	packA  func(k int, src *float32, lda int, dst *float32) // mr rows
	trans8 func(k int, src *float32, lds int, dst *float32, ldd int)
}

var genericImpl = &gemmImpl{
	name:      "generic",
	supported: true,
	auto:      true,
	mr:        2, nr: 4,
	mc: 64, kc: 256,
	nBudget: 1 << 20,
	l2:      64 << 10,
	kerns:   []microKernel{sgemmKernel2x4Go},
}

// gemmActive is the implementation sgemm uses, chosen once at start-up
// (tests swap it).
var gemmActive atomic.Pointer[gemmImpl]

func init() { gemmActive.Store(selectGemm(os.Getenv("CONVNET_KERNELS"))) }

// selectGemm picks an implementation for the CONVNET_KERNELS setting:
// "generic" forces pure Go, the name of an assembly implementation ("avx2",
// "avx512") asks for it if the CPU has it, and anything else ("", "auto")
// takes the best one that is enabled by default.
func selectGemm(env string) *gemmImpl {
	env = strings.ToLower(strings.TrimSpace(env))
	impls := allGemmImpls()
	for _, im := range impls {
		if im.name == env && im.supported {
			return im
		}
	}
	for _, im := range impls {
		if im.auto && im.supported {
			return im
		}
	}
	return genericImpl
}

// allGemmImpls lists every implementation, best first, generic last.
func allGemmImpls() []*gemmImpl {
	return append(append([]*gemmImpl(nil), asmGemmImpls()...), genericImpl)
}

// gemmImplByName returns the named implementation if this CPU runs it.
func gemmImplByName(name string) *gemmImpl {
	for _, im := range allGemmImpls() {
		if im.name == name && im.supported {
			return im
		}
	}
	return nil
}

const (
	// Below this many multiply-adds a GEMM runs on the caller alone.
	gemmParMin = 1 << 20
	// Shared B is packed in parallel only above this many floats.
	gemmParPackMin = 1 << 15
	// A task keeps all of its packed A (rows x k) when it is at most this
	// many floats, instead of re-packing it for every column block.
	gemmACacheMax = 48 << 10
	// Column blocks of a task are at least this wide, so that packing B
	// reads whole runs of cache lines.
	gemmMinNC = 128
)

// gemmDirectA lets the direct kernels read a non-transposed A in place,
// when n is at most gemmDirectMaxN panels.
var (
	gemmDirectA    = true
	gemmDirectMaxN = 6
)

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, par bool) {
	checkGemmArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	im := gemmActive.Load()
	w := 1
	if par && int64(m)*int64(n)*int64(k) >= gemmParMin {
		w = Workers()
	}
	g := gemmJobs.Get().(*gemmJob)
	defer g.release()
	g.im, g.transA, g.transB, g.m, g.n, g.k = im, transA, transB, m, n, k
	g.alpha, g.beta, g.a, g.lda, g.b, g.ldb, g.c, g.ldc = alpha, beta, a, lda, b, ldb, c, ldc
	g.kc = evenBlock(k, im.kc, 8)
	// In place A pays off when each A element meets few B panels (narrow
	// n): packing A would cost about as much as one more use of it.
	g.direct = gemmDirectA && !transA && len(im.directs) == len(im.kerns) && n <= gemmDirectMaxN*im.nr
	mp := (m + im.mr - 1) / im.mr
	np := (n + im.nr - 1) / im.nr
	g.mw, g.nw = gemmGrid(mp, np, w, im)
	if g.mw == 1 {
		// Each task owns whole columns of C and packs its own B.
		if g.nw == 1 {
			g.columnTask(0)
			return
		}
		Parallel(g.nw, 1, g.runColumns)
		return
	}
	// Several rows of tasks share each packed B block.
	ncb := max(im.nBudget/k/im.nr*im.nr, im.nr)
	if ncb >= n {
		ncb = n
	} else {
		// Spread the columns evenly over the blocks.
		nb := (n + ncb - 1) / ncb
		ncb = ((n+nb-1)/nb + im.nr - 1) / im.nr * im.nr
	}
	pb := getPackBuf(k * (ncb + im.nr))
	for jc := 0; jc < n; jc += ncb {
		g.blk = g.newBlock(jc, min(ncb, n-jc), *pb)
		g.sharedBlock()
	}
	putPackBuf(pb)
}

// gemmRows is the row panel height of the active GEMM kernels: the unit
// that sgemmTapA's rows per tap must be a multiple of.
func gemmRows() int { return gemmActive.Load().mr }

// sgemmTapA computes, on the calling goroutine, C = A * B^T + beta*C
// with A m x k given by rows of the stored A: row i is a[aTap[i/rows] +
// (i%rows)*lda:][:k], rows a multiple of gemmRows(); B is stored n x k
// (row stride ldb).
func sgemmTapA(m, n, k int, a []float32, lda int, aTap []int32, rows int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	im := gemmActive.Load()
	if m < 0 || n < 0 || k < 0 || ldb < k || ldc < n || lda < 0 || rows < 1 || rows%im.mr != 0 || len(aTap)*rows < m {
		panic("kernels: sgemmTapA: bad arguments")
	}
	if len(c) < (m-1)*ldc+n || len(b) < (n-1)*ldb+k {
		panic("kernels: sgemmTapA: B or C too short")
	}
	for t := 0; t*rows < m; t++ {
		// Whole panels are read, past m too.
		last := min(rows, (m-t*rows+im.mr-1)/im.mr*im.mr) - 1
		if aTap[t] < 0 || int(aTap[t])+last*lda+k > len(a) {
			panic("kernels: sgemmTapA: A too short")
		}
	}
	g := gemmJobs.Get().(*gemmJob)
	defer g.release()
	g.im, g.transA, g.transB, g.m, g.n, g.k = im, false, true, m, n, k
	g.alpha, g.beta, g.a, g.lda, g.b, g.ldb, g.c, g.ldc = 1, beta, a, lda, b, ldb, c, ldc
	g.aTap, g.aTapRows = aTap, rows
	g.kc = evenBlock(k, im.kc, 8)
	g.direct = gemmDirectA && len(im.directs) == len(im.kerns) && n <= gemmDirectMaxN*im.nr
	g.mw, g.nw = 1, 1
	g.columnTask(0)
}

// checkGemmArgs panics unless every element the GEMM touches lies inside its
// slice: the assembly kernels do not bounds-check.
func checkGemmArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("kernels: Sgemm: negative dimension")
	}
	check := func(name string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if rows > 1 && ld < cols {
			panic("kernels: Sgemm: leading dimension of " + name + " smaller than its row")
		}
		if ld < 0 || int64(rows-1)*int64(ld)+int64(cols) > int64(len(s)) {
			panic("kernels: Sgemm: " + name + " too short")
		}
	}
	if m > 0 && n > 0 && k > 0 {
		if transA {
			check("A", a, k, m, lda)
		} else {
			check("A", a, m, k, lda)
		}
		if transB {
			check("B", b, n, k, ldb)
		} else {
			check("B", b, k, n, ldb)
		}
	}
	check("C", c, m, n, ldc)
}

// scaleC sets C = beta*C, and C = 0 when beta == 0 (C not read).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// gemmJob is one GEMM call; it is read-only once the tasks start.
type gemmJob struct {
	im             *gemmImpl
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	kc             int  // k slice: im.kc evened out over k
	mw, nw         int  // task grid
	direct         bool // read A in place (not transposed, direct kernels)
	blk            bBlock
	// With aTap set (sgemmTapA), row i of a non-transposed A starts at
	// aTap[i/aTapRows] + (i%aTapRows)*lda instead of i*lda: the rows of
	// an im2col matrix read in place from a prepared image. aTapRows is
	// a multiple of the micro-kernel's rows, so that every row panel has
	// one stride.
	aTap     []int32
	aTapRows int

	// The parallel bodies are bound to the job once, when the pool makes
	// it, so that a warm GEMM allocates nothing (a closure built per call
	// escapes through Parallel).
	runColumns, runPack, runShared func(lo, hi int)
}

var gemmJobs = sync.Pool{New: func() any {
	g := new(gemmJob)
	g.runColumns = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			g.columnTask(t)
		}
	}
	g.runPack = func(lo, hi int) { g.packB(&g.blk, lo, hi) }
	g.runShared = g.sharedTasks
	return g
}}

// release drops the job's references to the caller's matrices and returns
// it to the pool.
func (g *gemmJob) release() {
	g.a, g.b, g.c, g.blk.pb, g.aTap = nil, nil, nil, nil, nil
	gemmJobs.Put(g)
}

// bBlock is a block of columns [jc, jc+nc) of C with its packed B: np
// panels of nr columns, the last one possibly nr/2 wide; ncp is the sum of
// their widths. Within the k slice starting at pc, panel q starts at
// pb[pc*ncp + q*nr*kcb].
type bBlock struct {
	jc, nc, np, ncp int
	pb              []float32
}

func (g *gemmJob) newBlock(jc, nc int, pb []float32) bBlock {
	b := bBlock{jc: jc, nc: nc, np: (nc + g.im.nr - 1) / g.im.nr, pb: pb}
	lw, _, _ := g.panel(&b, b.np-1)
	b.ncp = (b.np-1)*g.im.nr + lw
	return b
}

// panel returns the width of panel q of block b (nr, or for the last one
// the narrowest kernel width that covers it), the number of real columns
// in it, and the index of that width in im.kerns.
func (g *gemmJob) panel(b *bBlock, q int) (w, valid, l int) {
	nr := g.im.nr
	valid = min(nr, b.nc-q*nr)
	for l = len(g.im.kerns) - 1; l > 0 && valid > nr>>l; l-- {
	}
	return nr >> l, valid, l
}

// sharedBlock packs block g.blk (in parallel) and then runs the mw x nw
// tasks over it.
func (g *gemmJob) sharedBlock() {
	b := &g.blk
	if g.k*b.ncp < gemmParPackMin {
		g.packB(b, 0, b.np)
	} else {
		grain := max(1, gemmParPackMin/(g.k*g.im.nr))
		Parallel(b.np, grain, g.runPack)
	}
	Parallel(g.mw*g.nw, 1, g.runShared)
}

func (g *gemmJob) sharedTasks(lo, hi int) {
	b := &g.blk
	mp := (g.m + g.im.mr - 1) / g.im.mr
	tb := getTileBuf(g.im)
	for t := lo; t < hi; t++ {
		p0, p1 := split(mp, g.mw, t/g.nw)
		q0, q1 := split(b.np, g.nw, t%g.nw)
		if p0 < p1 && q0 < q1 {
			r0, r1 := p0*g.im.mr, min(p1*g.im.mr, g.m)
			g.compute(b, r0, r1, q0, q1, tb, false)
		}
	}
	tileBufPool.Put(tb)
}

// columnTask computes column range t of nw for all rows, in column blocks
// of its own: small ones that stay in L2 next to a cached packed A when A
// is small, large ones otherwise.
func (g *gemmJob) columnTask(t int) {
	im := g.im
	np := (g.n + im.nr - 1) / im.nr
	q0, q1 := split(np, g.nw, t)
	if q0 == q1 {
		return
	}
	tb := getTileBuf(im)
	defer tileBufPool.Put(tb)
	asize := (g.m + im.mr - 1) / im.mr * im.mr * g.k // packed A, padded
	cached := asize <= gemmACacheMax && !g.direct
	var ncb int
	if cached {
		g.packAAll(tb)
		ncb = max(gemmMinNC, (im.l2-asize)/g.k) / im.nr * im.nr
	} else {
		ncb = max(im.nr, im.nBudget/g.k/im.nr*im.nr)
	}
	c0, c1 := q0*im.nr, min(q1*im.nr, g.n)
	if ncb < c1-c0 {
		// Even blocks.
		nb := (c1 - c0 + ncb - 1) / ncb
		ncb = ((c1-c0+nb-1)/nb + im.nr - 1) / im.nr * im.nr
	} else {
		ncb = c1 - c0
	}
	pb := getPackBuf(g.k * (ncb + im.nr))
	defer putPackBuf(pb)
	for jc := c0; jc < c1; jc += ncb {
		b := g.newBlock(jc, min(ncb, c1-jc), *pb)
		g.packB(&b, 0, b.np)
		g.compute(&b, 0, g.m, 0, b.np, tb, cached)
	}
}

// evenBlock splits n into the fewest blocks of at most about size, of
// equal length rounded up to a multiple of unit: for n = 1024, size = 144,
// unit = 6 it gives 132 (8 blocks) rather than 7 blocks of 144 and one of
// 16. The result may exceed size by less than unit.
func evenBlock(n, size, unit int) int {
	if n <= size {
		return n
	}
	nb := (n + size - 1) / size
	b := (n + nb - 1) / nb
	return (b + unit - 1) / unit * unit
}

// gemmGrid chooses how many rows (mw) and columns (nw) of tasks to cut C
// into, given mp row panels, np column panels and w workers, by a cost in
// multiply-adds per unit of k for the slowest task: its tile area, plus
// packing its A rows, plus streaming its B columns once per mc block.
func gemmGrid(mp, np, w int, im *gemmImpl) (mw, nw int) {
	if w <= 1 {
		return 1, 1
	}
	best := -1.0
	for r := 1; r <= min(w, mp); r++ {
		for s := 1; s <= min(w/r, np); s++ {
			rows := (mp + r - 1) / r * im.mr
			cols := (np + s - 1) / s * im.nr
			cost := float64(rows)*float64(cols) +
				8*float64(rows) +
				0.5*float64(cols)*float64((rows+im.mc-1)/im.mc)
			if best < 0 || cost < best {
				best, mw, nw = cost, r, s
			}
		}
	}
	return mw, nw
}

// split returns the range of units [lo, hi) of part i of n parts.
func split(units, parts, i int) (lo, hi int) {
	q, r := units/parts, units%parts
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return lo, hi
}

var tileBufPool = sync.Pool{New: func() any { return new(tileBuf) }}

// tileBuf is a worker's scratch: packed A and an edge tile.
type tileBuf struct {
	pa  []float32
	tmp [12 * 32]float32
}

func getTileBuf(im *gemmImpl) *tileBuf {
	tb := tileBufPool.Get().(*tileBuf)
	// Room for an mc x kc block or a cached A, plus slack: the assembly
	// packA may write 8 floats past a panel.
	need := max((im.mc+im.mr)*(im.kc+8), gemmACacheMax) + 16
	if len(tb.pa) < need {
		tb.pa = alignedFloats(need)
	}
	return tb
}

// aOffset is where the packed A block for rows from ic (in a row block of
// mcb rows starting r0) and the k slice from pc lives in a cached A.
func (g *gemmJob) aOffset(r0, ic, mcb, pc int) int {
	mr := g.im.mr
	return (ic-r0)*g.k + pc*((mcb+mr-1)/mr*mr)
}

// packAAll packs all of op(A) (all row blocks and k slices) into tb.pa, in
// the layout compute expects with cached set.
func (g *gemmJob) packAAll(tb *tileBuf) {
	mc := evenBlock(g.m, g.im.mc, g.im.mr)
	for ic := 0; ic < g.m; ic += mc {
		mcb := min(mc, g.m-ic)
		for pc := 0; pc < g.k; pc += g.kc {
			kcb := min(g.kc, g.k-pc)
			g.packA(ic, pc, mcb, kcb, tb.pa[g.aOffset(0, ic, mcb, pc):])
		}
	}
}

// compute runs rows [r0, r1) of C against panels [q0, q1) of block b.
// With cached set, A is already packed in tb.pa (rows from 0); otherwise
// each mc x kc block of A is packed here.
func (g *gemmJob) compute(b *bBlock, r0, r1, q0, q1 int, tb *tileBuf, cached bool) {
	im := g.im
	// Equal row blocks of at most about mc rows, in whole panels.
	mc := evenBlock(r1-r0, im.mc, im.mr)
	for ic := r0; ic < r1; ic += mc {
		mcb := min(mc, r1-ic)
		for pc := 0; pc < g.k; pc += g.kc {
			kcb := min(g.kc, g.k-pc)
			pa := tb.pa
			switch {
			case g.direct:
				// Only a partial last row panel is packed.
				if e := mcb / im.mr * im.mr; e < mcb {
					g.packA(ic+e, pc, mcb-e, kcb, pa[e*kcb:])
				}
			case cached:
				pa = tb.pa[g.aOffset(r0, ic, mcb, pc):]
			default:
				g.packA(ic, pc, mcb, kcb, pa)
			}
			bt := g.beta
			if pc > 0 {
				bt = 1
			}
			pbk := b.pb[pc*b.ncp:]
			for q := q0; q < q1; q++ {
				w, valid, l := g.panel(b, q)
				kern := im.kerns[l]
				var kd directKernel
				if g.direct {
					kd = im.directs[l]
				}
				bp := &pbk[q*im.nr*kcb]
				j := b.jc + q*im.nr
				for i0 := 0; i0 < mcb; i0 += im.mr {
					rows := min(im.mr, mcb-i0)
					// A partial row panel stores only its rows; a partial
					// column panel goes through tmp.
					cp, ldc, bt1 := &g.c[(ic+i0)*g.ldc+j], g.ldc, bt
					if valid < w {
						cp, ldc, bt1 = &tb.tmp[0], w, 0
					}
					if kd != nil && rows == im.mr {
						kd(kcb, &g.a[g.aRow(ic+i0)+pc], g.lda, bp, cp, ldc, rows, g.alpha, bt1)
					} else {
						kern(kcb, &pa[i0*kcb], bp, cp, ldc, rows, g.alpha, bt1)
					}
					if valid == w {
						continue
					}
					tmp := tb.tmp[:im.mr*w]
					for i := 0; i < rows; i++ {
						crow := g.c[(ic+i0+i)*g.ldc+j:][:valid]
						trow := tmp[i*w:][:valid]
						if bt == 0 {
							for jj, v := range trow {
								crow[jj] = v
							}
						} else {
							for jj, v := range trow {
								crow[jj] = v + bt*crow[jj]
							}
						}
					}
				}
			}
		}
	}
}

// packB packs panels [q0, q1) of block b, for all of k.
func (g *gemmJob) packB(b *bBlock, q0, q1 int) {
	im := g.im
	if g.transB {
		// Panel by panel, each over all of k: the rows of the stored B
		// are then read from start to end.
		for q := q0; q < q1; q++ {
			w, valid, _ := g.panel(b, q)
			for pc := 0; pc < g.k; pc += g.kc {
				kcb := min(g.kc, g.k-pc)
				off := pc*b.ncp + q*im.nr*kcb
				g.packBTrans(b.pb[off:off+kcb*w], pc, kcb, b.jc+q*im.nr, w, valid)
			}
		}
		return
	}
	for pc := 0; pc < g.k; pc += g.kc {
		kcb := min(g.kc, g.k-pc)
		q := q0
		if im.packBs != nil {
			// Full-width panels in one sweep over the rows.
			qf := q0
			for qf < q1 {
				if w, valid, _ := g.panel(b, qf); w != im.nr || valid != w {
					break
				}
				qf++
			}
			if qf > q0 {
				im.packBs[0](kcb, qf-q0, &g.b[pc*g.ldb+b.jc+q0*im.nr], g.ldb,
					&b.pb[pc*b.ncp+q0*im.nr*kcb], im.nr*kcb)
				q = qf
			}
		}
		for ; q < q1; q++ {
			w, valid, l := g.panel(b, q)
			off := pc*b.ncp + q*im.nr*kcb
			dst := b.pb[off : off+kcb*w]
			g.packBPlain(dst, pc, kcb, b.jc+q*im.nr, w, valid, l)
		}
	}
}

// packBPlain: B is k x n row-major; dst[p*w+j] = B[pc+p, col+j].
func (g *gemmJob) packBPlain(dst []float32, pc, kcb, col, w, valid, l int) {
	src := g.b[pc*g.ldb+col:]
	if valid == w && l < len(g.im.packBs) && g.im.packBs[l] != nil {
		g.im.packBs[l](kcb, 1, &src[0], g.ldb, &dst[0], 0)
		return
	}
	for p := 0; p < kcb; p++ {
		d := dst[p*w : p*w+w]
		copy(d, src[p*g.ldb:p*g.ldb+valid])
		clear(d[valid:])
	}
}

// aRow is the offset of row i of a non-transposed A.
func (g *gemmJob) aRow(i int) int {
	if g.aTap == nil {
		return i * g.lda
	}
	return int(g.aTap[i/g.aTapRows]) + i%g.aTapRows*g.lda
}

// packBTrans: B is stored n x k (op(B) = B^T); dst[p*w+j] = B[col+j, pc+p].
func (g *gemmJob) packBTrans(dst []float32, pc, kcb, col, w, valid int) {
	im := g.im
	j0 := 0
	if im.trans8 != nil && kcb >= 8 {
		k8 := kcb &^ 7
		for ; j0+8 <= valid; j0 += 8 {
			im.trans8(k8, &g.b[(col+j0)*g.ldb+pc], g.ldb, &dst[j0], w)
		}
		if j0 > 0 {
			// Rows of the tail of k for the columns done above.
			for j := 0; j < j0; j++ {
				src := g.b[(col+j)*g.ldb+pc:][:kcb]
				for p := k8; p < kcb; p++ {
					dst[p*w+j] = src[p]
				}
			}
		}
	}
	for j := j0; j < w; j++ {
		if j >= valid {
			for p := 0; p < kcb; p++ {
				dst[p*w+j] = 0
			}
			continue
		}
		src := g.b[(col+j)*g.ldb+pc:][:kcb]
		for p, v := range src {
			dst[p*w+j] = v
		}
	}
}

// packA packs op(A)[ic:ic+mcb, pc:pc+kcb] into MR-row panels:
// panel i0/MR starts at i0*kcb and holds pa[p*MR+i], zero-padded rows.
func (g *gemmJob) packA(ic, pc, mcb, kcb int, pa []float32) {
	mr := g.im.mr
	for i0 := 0; i0 < mcb; i0 += mr {
		rows := min(mr, mcb-i0)
		d := pa[i0*kcb : (i0+mr)*kcb]
		if g.transA {
			// A is stored k x m: row pc+p holds op(A)[*, pc+p].
			if rows == mr && (mr == 6 || mr == 12) {
				src := g.a[(pc)*g.lda+ic+i0:]
				for p := 0; p < kcb; p++ {
					s := src[p*g.lda:]
					if mr == 6 {
						*(*[6]float32)(d[p*6:]) = *(*[6]float32)(s)
					} else {
						*(*[12]float32)(d[p*12:]) = *(*[12]float32)(s)
					}
				}
				continue
			}
			for p := 0; p < kcb; p++ {
				src := g.a[(pc+p)*g.lda+ic+i0:][:rows]
				dp := d[p*mr : p*mr+mr]
				copy(dp, src)
				clear(dp[rows:])
			}
			continue
		}
		if rows == mr && g.im.packA != nil && kcb >= 8 {
			// Whole groups of 8 columns in assembly, the rest below.
			k8 := kcb &^ 7
			g.im.packA(k8, &g.a[g.aRow(ic+i0)+pc], g.lda, &pa[i0*kcb])
			for i := 0; i < mr; i++ {
				src := g.a[g.aRow(ic+i0+i)+pc:][:kcb]
				for p := k8; p < kcb; p++ {
					d[p*mr+i] = src[p]
				}
			}
			continue
		}
		for i := 0; i < mr; i++ {
			if i >= rows {
				for p := 0; p < kcb; p++ {
					d[p*mr+i] = 0
				}
				continue
			}
			src := g.a[g.aRow(ic+i0+i)+pc:][:kcb]
			for p, v := range src {
				d[p*mr+i] = v
			}
		}
	}
}

// Packed-B buffers, shared between calls. Pointers to slices keep Put from
// allocating.
var packBufPool sync.Pool

func getPackBuf(n int) *[]float32 {
	if p, ok := packBufPool.Get().(*[]float32); ok {
		if len(*p) >= n {
			return p
		}
	}
	s := alignedFloats(n)
	return &s
}

func putPackBuf(p *[]float32) { packBufPool.Put(p) }

// alignedFloats returns n floats starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := 0
	if r := uintptr(unsafe.Pointer(&s[0])) % 64; r != 0 {
		off = int((64 - r) / 4)
	}
	return s[off : off+n : off+n]
}

// sgemmKernel2x4Go is the pure-Go micro-kernel: a 2x4 tile from packed
// panels a[p*2+i] and b[p*4+j].
func sgemmKernel2x4Go(k int, a, b, c *float32, ldc, rows int, alpha, beta float32) {
	acc := dot2x4(unsafe.Slice(a, 2*k), unsafe.Slice(b, 4*k))
	cs := unsafe.Slice(c, (rows-1)*ldc+4)
	for i := 0; i < rows; i++ {
		row := cs[i*ldc : i*ldc+4 : i*ldc+4]
		for j := range row {
			if beta == 0 {
				row[j] = alpha * acc[4*i+j]
			} else {
				row[j] = alpha*acc[4*i+j] + beta*row[j]
			}
		}
	}
}

// dot2x4 is the inner loop of sgemmKernel2x4Go, apart so that its eight
// accumulators and six operands have the SSE registers to themselves (a
// 4x4 tile, or alpha and beta kept live, make the compiler spill).
//
//go:noinline
func dot2x4(ap, bp []float32) [8]float32 {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	n := len(ap) / 2
	bp = bp[:4*n]
	for p := 0; p < n; p++ {
		av := ap[2*p : 2*p+2 : 2*p+2]
		bv := bp[4*p : 4*p+4 : 4*p+4]
		a0, a1 := av[0], av[1]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	return [8]float32{c00, c01, c02, c03, c10, c11, c12, c13}
}

// fmaLoop is an FMA peak loop for the benchmarks (see fmaPeakLoops).
type fmaLoop struct {
	name  string
	fn    func(n int)
	flops int // per iteration
}
