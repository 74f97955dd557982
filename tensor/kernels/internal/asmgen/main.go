// Command asmgen writes tensor/kernels/gemm_amd64.s: the SGEMM micro-kernels
// (AVX2+FMA and AVX-512), the panel copy used when packing B, and the FMA
// peak loop used by the benchmarks.
//
// Every micro-kernel comes out of the same emitter, parameterised by the
// vector register file (ymm or zmm), the number of rows (MR) and the number
// of vectors per row (NR = vectors * lanes). The AVX2 kernels run on the
// development machine; the AVX-512 ones differ only in those parameters, and
// sim_test.go runs the generated text of all of them on a small interpreter.
//
// Run it with `go generate ./tensor/kernels/` (see gemm_amd64.go).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
)

var out = flag.String("out", "gemm_amd64.s", "output file")

type gen struct {
	bytes.Buffer
}

func (g *gen) f(format string, args ...any) {
	fmt.Fprintf(&g.Buffer, format, args...)
}

// in emits one instruction line.
func (g *gen) in(op string, args ...string) {
	g.f("\t%s", op)
	for i, a := range args {
		if i == 0 {
			g.f(" %s", a)
		} else {
			g.f(", %s", a)
		}
	}
	g.f("\n")
}

func (g *gen) label(l string) { g.f("%s:\n", l) }

func mem(off int, reg string) string {
	if off == 0 {
		return "(" + reg + ")"
	}
	return fmt.Sprintf("%d(%s)", off, reg)
}

func imm(v int) string { return fmt.Sprintf("$%d", v) }

// isa describes a vector register file.
type isa struct {
	name  string // suffix of function names
	reg   string // "Y" or "Z"
	lanes int    // float32 lanes per register
	nregs int    // architectural vector registers
	zero  string // zeroing idiom opcode (VXORPS needs AVX512DQ on zmm)
}

var (
	xmm    = isa{name: "AVX2", reg: "X", lanes: 4, nregs: 16, zero: "VXORPS"}
	avx2   = isa{name: "AVX2", reg: "Y", lanes: 8, nregs: 16, zero: "VXORPS"}
	avx512 = isa{name: "AVX512", reg: "Z", lanes: 16, nregs: 32, zero: "VPXORD"}
)

func (s isa) r(i int) string {
	if i < 0 || i >= s.nregs {
		log.Fatalf("%s: register %d out of range", s.name, i)
	}
	return fmt.Sprintf("%s%d", s.reg, i)
}

const unroll = 4

// kernel emits
//
//	func sgemmKernel<MR>x<NR><ISA>(k int, a, b, c *float32, ldc, rows int, alpha, beta float32)
//
// a is a packed MR-row panel (k-major: a[p*MR+i]), b a packed NR-column panel
// (b[p*NR+j]), c points at the top-left of an MR x NR tile of C with row
// stride ldc (elements). It stores the first rows rows (1..MR) of
//
//	C = alpha*A*B + beta*C, or alpha*A*B when beta == 0 (C is then not read).
//
// k must be at least 1.
//
// With direct set it emits instead
//
//	func sgemmKernel<MR>x<NR><ISA>Direct(k int, a *float32, lda int, b, c *float32, ldc, rows int, alpha, beta float32)
//
// which reads A unpacked: row i of the tile is a[i*lda : i*lda+k], for a
// non-transposed A that need not be packed at all.
//
// (Software prefetch of the A and B streams in the loop was tried on Zen 3
// and gained nothing: both are sequential and the hardware follows them.)
func (g *gen) kernel(s isa, mr, nv int, direct bool) {
	nr := nv * s.lanes
	name := fmt.Sprintf("sgemmKernel%dx%d%s", mr, nr, s.name)
	// Argument frame offsets.
	oK, oA, oB, oC, oLdc, oRows, oAlpha, oBeta, size := 0, 8, 16, 24, 32, 40, 48, 52, 56
	if direct {
		name += "Direct"
		oB, oC, oLdc, oRows, oAlpha, oBeta, size = 24, 32, 40, 48, 56, 60, 64
		if mr > 12 {
			log.Fatalf("%s: direct kernels address at most 12 rows", name)
		}
	}
	nacc := mr * nv
	acc := func(i, v int) string { return s.r(i*nv + v) }
	breg := func(v int) string { return s.r(nacc + v) }
	ntmp := s.nregs - nacc - nv
	if ntmp < 1 || s.nregs-nacc < 3 {
		log.Fatalf("%s: not enough registers", name)
	}
	treg := func(i int) string { return s.r(nacc + nv + i%ntmp) }
	L := func(l string) string { return name + "_" + l }

	if direct {
		g.f("\n// func %s(k int, a *float32, lda int, b, c *float32, ldc, rows int, alpha, beta float32)\n", name)
	} else {
		g.f("\n// func %s(k int, a, b, c *float32, ldc, rows int, alpha, beta float32)\n", name)
	}
	g.f("TEXT ·%s(SB), NOSPLIT, $0-%d\n", name, size)
	g.in("MOVQ", fmt.Sprintf("k+%d(FP)", oK), "CX")
	g.in("MOVQ", fmt.Sprintf("a+%d(FP)", oA), "AX")
	g.in("MOVQ", fmt.Sprintf("b+%d(FP)", oB), "BX")
	g.in("MOVQ", fmt.Sprintf("c+%d(FP)", oC), "DX")
	g.in("MOVQ", fmt.Sprintf("ldc+%d(FP)", oLdc), "SI")
	g.in("SHLQ", "$2", "SI")
	// aAddr is the address of A[i, step u] (relative to AX/R13 advancing).
	aAddr := func(i, u int) string { return mem(u*mr*4+i*4, "AX") }
	if direct {
		// R9 = lda, R10 = 3*lda, R11 = 5*lda (bytes); rows 6..11 from R13.
		g.in("MOVQ", "lda+16(FP)", "R9")
		g.in("SHLQ", "$2", "R9")
		g.in("LEAQ", "(R9)(R9*2)", "R10")
		g.in("LEAQ", "(R9)(R9*4)", "R11")
		if mr > 6 {
			g.in("LEAQ", "(AX)(R9*4)", "R13")
			g.in("LEAQ", "(R13)(R9*2)", "R13")
		}
		aAddr = func(i, u int) string {
			base := "AX"
			if i >= 6 {
				base = "R13"
			}
			idx := []string{"", "(R9*1)", "(R9*2)", "(R10*1)", "(R9*4)", "(R11*1)"}[i%6]
			return mem(u*4, base) + idx
		}
	}
	aStep := mr * 4 // bytes A advances per k step
	if direct {
		aStep = 4
	}
	advanceA := func(steps int) {
		g.in("ADDQ", imm(steps*aStep), "AX")
		if direct && mr > 6 {
			g.in("ADDQ", imm(steps*aStep), "R13")
		}
	}
	// Prefetch the C tile (first and last byte of each row).
	g.in("MOVQ", "DX", "DI")
	for i := 0; i < mr; i++ {
		for o := 0; o < nr*4-4; o += 64 {
			g.in("PREFETCHT0", mem(o, "DI"))
		}
		g.in("PREFETCHT0", mem(nr*4-4, "DI"))
		if i < mr-1 {
			g.in("ADDQ", "SI", "DI")
		}
	}
	for i := 0; i < nacc; i++ {
		g.in(s.zero, s.r(i), s.r(i), s.r(i))
	}
	step := func(u int) {
		bo := u * nr * 4
		for v := 0; v < nv; v++ {
			g.in("VMOVUPS", mem(bo+v*s.lanes*4, "BX"), breg(v))
		}
		for i := 0; i < mr; i++ {
			t := treg(i)
			g.in("VBROADCASTSS", aAddr(i, u), t)
			for v := 0; v < nv; v++ {
				g.in("VFMADD231PS", breg(v), t, acc(i, v))
			}
		}
	}
	g.in("MOVQ", "CX", "R8")
	g.in("SHRQ", imm(2), "R8")
	g.in("JZ", L("tail"))
	g.label(L("loop4"))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	advanceA(unroll)
	g.in("ADDQ", imm(unroll*nr*4), "BX")
	g.in("DECQ", "R8")
	g.in("JNZ", L("loop4"))
	g.label(L("tail"))
	g.in("ANDQ", imm(unroll-1), "CX")
	g.in("JZ", L("store"))
	g.label(L("loop1"))
	step(0)
	advanceA(1)
	g.in("ADDQ", imm(nr*4), "BX")
	g.in("DECQ", "CX")
	g.in("JNZ", L("loop1"))

	g.label(L("store"))
	// Only the first rows rows of the tile are stored (1 <= rows <= MR).
	g.in("MOVQ", fmt.Sprintf("rows+%d(FP)", oRows), "R12")
	nextRow := func(i int) {
		if i < mr-1 {
			g.in("DECQ", "R12")
			g.in("JZ", L("done"))
			g.in("ADDQ", "SI", "DX")
		}
	}
	alpha, beta, tmp := s.r(nacc), s.r(nacc+1), s.r(nacc+2)
	g.in("VBROADCASTSS", fmt.Sprintf("alpha+%d(FP)", oAlpha), alpha)
	g.in("MOVL", fmt.Sprintf("beta+%d(FP)", oBeta), "R9")
	g.in("ANDL", "$0x7fffffff", "R9")
	g.in("JZ", L("nobeta"))
	g.in("VBROADCASTSS", fmt.Sprintf("beta+%d(FP)", oBeta), beta)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			o := v * s.lanes * 4
			g.in("VMULPS", mem(o, "DX"), beta, tmp)
			g.in("VFMADD231PS", acc(i, v), alpha, tmp)
			g.in("VMOVUPS", tmp, mem(o, "DX"))
		}
		nextRow(i)
	}
	g.in("VZEROUPPER")
	g.in("RET")
	g.label(L("nobeta"))
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			g.in("VMULPS", acc(i, v), alpha, acc(i, v))
			g.in("VMOVUPS", acc(i, v), mem(v*s.lanes*4, "DX"))
		}
		nextRow(i)
	}
	g.label(L("done"))
	g.in("VZEROUPPER")
	g.in("RET")
}

// packB emits
//
//	func sgemmPackB<W>(k, np int, src *float32, lds int, dst *float32, dstride int)
//
// which packs np full panels of W columns of a row-major operand: for
// q < np, p < k, j < W: dst[q*dstride + p*W + j] = src[p*lds + q*W + j].
// It walks the source rows in groups of four so that reads stay sequential
// (a panel-at-a-time copy strides through memory one row per cache line).
// AVX (ymm) only. k >= 1, np >= 1.
func (g *gen) packB(w int) {
	name := fmt.Sprintf("sgemmPackB%d", w)
	vr := avx2 // ymm moves, or xmm for 4-wide panels
	if w < 8 {
		vr = xmm
	}
	nv := w / vr.lanes
	g.f("\n// func %s(k, np int, src *float32, lds int, dst *float32, dstride int)\n", name)
	g.f("TEXT ·%s(SB), NOSPLIT, $0-48\n", name)
	g.in("MOVQ", "k+0(FP)", "R9")
	g.in("MOVQ", "src+16(FP)", "SI")
	g.in("MOVQ", "lds+24(FP)", "BX")
	g.in("SHLQ", "$2", "BX")
	g.in("MOVQ", "dst+32(FP)", "DI")
	g.in("MOVQ", "dstride+40(FP)", "DX")
	g.in("SHLQ", "$2", "DX")
	g.in("LEAQ", "(BX)(BX*2)", "R8") // 3*lds
	rowAddr := []string{"(R10)", "(R10)(BX*1)", "(R10)(BX*2)", "(R10)(R8*1)"}
	withOff := func(o int, a string) string {
		if o == 0 {
			return a
		}
		return fmt.Sprintf("%d%s", o, a)
	}
	body := func(rows int, lbl string) {
		g.in("MOVQ", "np+8(FP)", "CX")
		g.in("MOVQ", "SI", "R10")
		g.in("MOVQ", "DI", "R11")
		if rows == 4 {
			g.in("LEAQ", "(SI)(BX*8)", "R13") // two groups ahead
		}
		g.label(lbl)
		if rows == 4 {
			// Software prefetch: the rows two groups ahead start new
			// streams the hardware prefetcher would only catch late.
			// (PREFETCH never faults past the end of the operand.)
			for r := 0; r < 4; r++ {
				a := strings.Replace(rowAddr[r], "R10", "R13", 1)
				for o := 0; o < w*4; o += 64 {
					g.in("PREFETCHT0", withOff(o, a))
				}
			}
		}
		for r := 0; r < rows; r++ {
			for v := 0; v < nv; v++ {
				g.in("VMOVUPS", withOff(v*vr.lanes*4, rowAddr[r]), vr.r((r*nv+v)%16))
			}
			for v := 0; v < nv; v++ {
				g.in("VMOVUPS", vr.r((r*nv+v)%16), mem(r*w*4+v*vr.lanes*4, "R11"))
			}
		}
		g.in("ADDQ", imm(w*4), "R10")
		if rows == 4 {
			g.in("ADDQ", imm(w*4), "R13")
		}
		g.in("ADDQ", "DX", "R11")
		g.in("DECQ", "CX")
		g.in("JNZ", lbl)
	}
	g.in("SHRQ", "$2", "R9")
	g.in("JZ", name+"_tail")
	g.label(name + "_rows4")
	body(4, name+"_q4")
	g.in("LEAQ", "(SI)(BX*4)", "SI")
	g.in("ADDQ", imm(4*w*4), "DI")
	g.in("DECQ", "R9")
	g.in("JNZ", name+"_rows4")
	g.label(name + "_tail")
	g.in("MOVQ", "k+0(FP)", "R9")
	g.in("ANDQ", "$3", "R9")
	g.in("JZ", name+"_done")
	g.label(name + "_rows1")
	body(1, name+"_q1")
	g.in("ADDQ", "BX", "SI")
	g.in("ADDQ", imm(w*4), "DI")
	g.in("DECQ", "R9")
	g.in("JNZ", name+"_rows1")
	g.label(name + "_done")
	g.in("VZEROUPPER")
	g.in("RET")
}

// transpose8 emits an 8x8 transpose of the floats at rows[r] (r < 8, each
// an address of 8 floats, 32 bytes). On return Y0..Y7 hold the columns:
// Yc = [rows[0][c], ..., rows[7][c]]. Clobbers Y0..Y11.
func (g *gen) transpose8(rows [8]string, off int) {
	at := func(r, o int) string {
		if o+off == 0 {
			return rows[r]
		}
		return fmt.Sprintf("%d%s", o+off, rows[r])
	}
	// Y0..Y3 = [row r cols 0..3 | row r+4 cols 0..3] for r < 4,
	// Y4..Y7 the same for cols 4..7.
	for h := 0; h < 2; h++ {
		for r := 0; r < 4; r++ {
			g.in("VMOVUPS", at(r, 16*h), fmt.Sprintf("X%d", 4*h+r))
		}
		for r := 0; r < 4; r++ {
			y := avx2.r(4*h + r)
			g.in("VINSERTF128", "$1", at(r+4, 16*h), y, y)
		}
	}
	// A 4x4 transpose in each 128-bit lane.
	for _, base := range []int{0, 4} {
		r := func(i int) string { return avx2.r(base + i) }
		t := func(i int) string { return avx2.r(8 + i) }
		g.in("VUNPCKLPS", r(1), r(0), t(0))        // a0 b0 a1 b1
		g.in("VUNPCKHPS", r(1), r(0), t(1))        // a2 b2 a3 b3
		g.in("VUNPCKLPS", r(3), r(2), t(2))        // c0 d0 c1 d1
		g.in("VUNPCKHPS", r(3), r(2), t(3))        // c2 d2 c3 d3
		g.in("VSHUFPS", "$0x44", t(2), t(0), r(0)) // a0 b0 c0 d0
		g.in("VSHUFPS", "$0xEE", t(2), t(0), r(1)) // a1 b1 c1 d1
		g.in("VSHUFPS", "$0x44", t(3), t(1), r(2)) // a2 b2 c2 d2
		g.in("VSHUFPS", "$0xEE", t(3), t(1), r(3)) // a3 b3 c3 d3
	}
}

// transposePanel8 emits
//
//	func sgemmTransPanel8(k int, src *float32, lds int, dst *float32, ldd int)
//
// which transposes an 8 x k block (8 rows of src, lds apart) into k rows of
// 8 floats in dst, ldd elements apart: dst[p*ldd+j] = src[j*lds+p]. k must
// be a positive multiple of 8. AVX only.
func (g *gen) transposePanel8() {
	name := "sgemmTransPanel8"
	g.f("\n// func %s(k int, src *float32, lds int, dst *float32, ldd int)\n", name)
	g.f("TEXT ·%s(SB), NOSPLIT, $0-40\n", name)
	g.in("MOVQ", "k+0(FP)", "CX")
	g.in("SHRQ", "$3", "CX")
	g.in("MOVQ", "src+8(FP)", "SI")
	g.in("MOVQ", "lds+16(FP)", "BX")
	g.in("SHLQ", "$2", "BX")
	g.in("MOVQ", "dst+24(FP)", "DI")
	g.in("MOVQ", "ldd+32(FP)", "DX")
	g.in("SHLQ", "$2", "DX")
	g.in("LEAQ", "(BX)(BX*2)", "R8") // 3*lds
	g.label(name + "_loop")
	g.in("LEAQ", "(SI)(BX*4)", "R11") // row 4
	// Prefetch the rows 256 bytes ahead.
	for _, a := range []string{"(SI)", "(SI)(BX*1)", "(SI)(BX*2)", "(SI)(R8*1)",
		"(R11)", "(R11)(BX*1)", "(R11)(BX*2)", "(R11)(R8*1)"} {
		g.in("PREFETCHT0", "256"+a)
	}
	g.transpose8([8]string{"(SI)", "(SI)(BX*1)", "(SI)(BX*2)", "(SI)(R8*1)",
		"(R11)", "(R11)(BX*1)", "(R11)(BX*2)", "(R11)(R8*1)"}, 0)
	g.in("MOVQ", "DI", "R10")
	for i := 0; i < 8; i++ {
		g.in("VMOVUPS", avx2.r(i), "(R10)")
		if i < 7 {
			g.in("ADDQ", "DX", "R10")
		}
	}
	g.in("ADDQ", "$32", "SI")
	g.in("LEAQ", "(R10)(DX*1)", "DI")
	g.in("DECQ", "CX")
	g.in("JNZ", name+"_loop")
	g.in("VZEROUPPER")
	g.in("RET")
}

// packA emits
//
//	func sgemmPackA<MR>(k int, src *float32, lda int, dst *float32)
//
// which packs MR rows of a row-major operand (lda apart) into an MR-row
// panel: dst[p*MR+i] = src[i*lda+p] for p < k, i < MR. k must be a positive
// multiple of 8. It stores whole ymm registers that overlap the next
// column's slot, so it writes up to 8 floats past dst[k*MR] (garbage there,
// to be overwritten or ignored). AVX only.
func (g *gen) packA(mr int) {
	name := fmt.Sprintf("sgemmPackA%d", mr)
	g.f("\n// func %s(k int, src *float32, lda int, dst *float32)\n", name)
	g.f("TEXT ·%s(SB), NOSPLIT, $0-32\n", name)
	g.in("MOVQ", "k+0(FP)", "CX")
	g.in("SHRQ", "$3", "CX")
	g.in("MOVQ", "src+8(FP)", "SI")
	g.in("MOVQ", "lda+16(FP)", "BX")
	g.in("SHLQ", "$2", "BX")
	g.in("MOVQ", "dst+24(FP)", "DI")
	g.in("LEAQ", "(BX)(BX*2)", "R8") // 3*lda
	// R12 = the next panel's first row (mr rows on): prefetched at the same
	// columns as they are packed, so its packing does not start cold.
	g.in("MOVQ", "SI", "R12")
	for left := mr; left > 0; {
		for _, sc := range []int{8, 4, 2, 1} {
			if left >= sc {
				g.in("LEAQ", fmt.Sprintf("(R12)(BX*%d)", sc), "R12")
				left -= sc
				break
			}
		}
	}
	g.label(name + "_loop")
	g.in("MOVQ", "R12", "R13")
	for r := 0; r < mr; r++ {
		if r%4 == 0 && r > 0 {
			g.in("LEAQ", "(R13)(BX*4)", "R13")
		}
		g.in("PREFETCHT0", []string{"(R13)", "(R13)(BX*1)", "(R13)(BX*2)", "(R13)(R8*1)"}[r%4])
	}
	g.in("ADDQ", "$32", "R12")
	groups := (mr + 7) / 8
	// Later groups first: each group's stores spill into the next column's
	// first rows, which the earlier group then overwrites.
	for gi := groups - 1; gi >= 0; gi-- {
		// R10 = row 8*gi, R11 = row 8*gi+4, R12 = row 8*gi+8.
		g.in("MOVQ", "SI", "R10")
		for i := 0; i < gi; i++ {
			g.in("LEAQ", "(R10)(BX*8)", "R10")
		}
		g.in("LEAQ", "(R10)(BX*4)", "R11")
		var rows [8]string
		addr := []string{"(R10)", "(R10)(BX*1)", "(R10)(BX*2)", "(R10)(R8*1)",
			"(R11)", "(R11)(BX*1)", "(R11)(BX*2)", "(R11)(R8*1)"}
		for j := 0; j < 8; j++ {
			// Rows past MR repeat the last row (stay inside the operand).
			r := min(8*gi+j, mr-1) - 8*gi
			rows[j] = addr[r]
		}
		g.transpose8(rows, 0)
		for p := 0; p < 8; p++ {
			g.in("VMOVUPS", avx2.r(p), mem(p*mr*4+gi*32, "DI"))
		}
	}
	g.in("ADDQ", "$32", "SI")
	g.in("ADDQ", imm(8*mr*4), "DI")
	g.in("DECQ", "CX")
	g.in("JNZ", name+"_loop")
	g.in("VZEROUPPER")
	g.in("RET")
}

// fmaPeak emits func fmaPeak<ISA>(n int): n iterations of 12 independent
// VFMADD231PS chains (12*lanes*2 flops per iteration).
func (g *gen) fmaPeak(s isa) {
	name := "fmaPeak" + s.name
	g.f("\n// func %s(n int)\n", name)
	g.f("TEXT ·%s(SB), NOSPLIT, $0-8\n", name)
	g.in("MOVQ", "n+0(FP)", "CX")
	for i := 0; i < 14; i++ {
		g.in(s.zero, s.r(i), s.r(i), s.r(i))
	}
	g.label(name + "_loop")
	for i := 0; i < 12; i++ {
		g.in("VFMADD231PS", s.r(12), s.r(13), s.r(i))
	}
	g.in("DECQ", "CX")
	g.in("JNZ", name+"_loop")
	g.in("VZEROUPPER")
	g.in("RET")
}

func main() {
	flag.Parse()
	var g gen
	g.f("// Code generated by internal/asmgen; DO NOT EDIT.\n\n")
	g.f("//go:build !noasm\n\n")
	g.f("#include \"textflag.h\"\n")
	// Full, half and quarter width for each tile height (the narrower ones
	// serve the last panel of n). 12x8 is a VEX (AVX2) kernel used by the
	// AVX-512 implementation.
	for _, direct := range []bool{false, true} {
		g.kernel(avx2, 6, 2, direct)
		g.kernel(avx2, 6, 1, direct)
		g.kernel(xmm, 6, 1, direct)
		g.kernel(avx512, 12, 2, direct)
		g.kernel(avx512, 12, 1, direct)
		g.kernel(avx2, 12, 1, direct)
	}
	g.packB(4)
	g.packB(8)
	g.packB(16)
	g.packB(32)
	g.transposePanel8()
	g.packA(6)
	g.packA(12)
	g.fmaPeak(avx2)
	g.fmaPeak(avx512)
	if err := os.WriteFile(*out, g.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
