//go:build !noasm

#include "textflag.h"

// Row kernels, AVX2 + FMA; see rows.go and rows_amd64.go.

DATA rowQuarter<>+0(SB)/4, $0x3e800000
GLOBL rowQuarter<>(SB), RODATA|NOPTR, $4

// func affineRowAVX2(dst, src *float32, n int, scale, shift, lo, hi float32)
//
// The clamps keep the value as VMAXPS/VMINPS's second source, the one
// they return for NaN.
TEXT ·affineRowAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y0
	VBROADCASTSS shift+28(FP), Y1
	VBROADCASTSS lo+32(FP), Y2
	VBROADCASTSS hi+36(FP), Y3

aff32:
	CMPQ        CX, $32
	JLT         aff8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD213PS Y1, Y0, Y4
	VFMADD213PS Y1, Y0, Y5
	VFMADD213PS Y1, Y0, Y6
	VFMADD213PS Y1, Y0, Y7
	VMAXPS      Y4, Y2, Y4
	VMAXPS      Y5, Y2, Y5
	VMAXPS      Y6, Y2, Y6
	VMAXPS      Y7, Y2, Y7
	VMINPS      Y4, Y3, Y4
	VMINPS      Y5, Y3, Y5
	VMINPS      Y6, Y3, Y6
	VMINPS      Y7, Y3, Y7
	VMOVUPS     Y4, (DI)
	VMOVUPS     Y5, 32(DI)
	VMOVUPS     Y6, 64(DI)
	VMOVUPS     Y7, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         aff32

aff8:
	CMPQ        CX, $8
	JLT         aff1
	VMOVUPS     (SI), Y4
	VFMADD213PS Y1, Y0, Y4
	VMAXPS      Y4, Y2, Y4
	VMINPS      Y4, Y3, Y4
	VMOVUPS     Y4, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         aff8

aff1:
	TESTQ       CX, CX
	JZ          affdone
	VMOVSS      (SI), X4
	VFMADD213SS X1, X0, X4
	VMAXSS      X4, X2, X4
	VMINSS      X4, X3, X4
	VMOVSS      X4, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         aff1

affdone:
	VZEROUPPER
	RET

// NaN-propagating max of ya and yb into yr (yr may be ya or yb; yt is a
// temporary): VMAXPS returns its second source, ya, when either is NaN,
// and the unordered mask (all ones, itself a NaN) is ORed in for yb.
#define NANMAX(ya, yb, yr, yt) \
	VCMPPS $3, yb, ya, yt \
	VMAXPS ya, yb, yr     \
	VORPS  yt, yr, yr

// yr = the maximum of the even lanes (VSHUFPS $0x88) and the odd lanes
// ($0xDD) of the pair ya, yb: the windows [2o, 2o+1] of 8 stride-2
// outputs, interleaved by 128-bit halves (VPERMPD $0xD8 puts them in
// order). yt and ytmp are temporaries.
#define MAXEVENODD(ya, yb, yr, yt, ytmp) \
	VSHUFPS $0x88, yb, ya, yr \
	VSHUFPS $0xDD, yb, ya, yt \
	NANMAX(yr, yt, yr, ytmp)

// func maxRowAVX2(dst, a, b *float32, n int)
TEXT ·maxRowAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX

max16:
	CMPQ    CX, $16
	JLT     max8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (DX), Y2
	VMOVUPS 32(DX), Y3
	NANMAX(Y0, Y2, Y0, Y4)
	NANMAX(Y1, Y3, Y1, Y5)
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     max16

max8:
	CMPQ    CX, $8
	JLT     max1
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y2
	NANMAX(Y0, Y2, Y0, Y4)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX

max1:
	TESTQ   CX, CX
	JZ      maxdone
	VMOVSS  (SI), X0
	VMOVSS  (DX), X2
	VCMPSS  $3, X2, X0, X4
	VMAXSS  X0, X2, X0
	VORPS   X4, X0, X0
	VMOVSS  X0, (DI)
	ADDQ    $4, SI
	ADDQ    $4, DX
	ADDQ    $4, DI
	DECQ    CX
	JMP     max1

maxdone:
	VZEROUPPER
	RET

// func maxRowS2AVX2(dst, src *float32, groups, kw int)
//
// Per 8 outputs: A, B = src[2o : 2o+16]; the even lanes (VSHUFPS $0x88)
// and odd lanes ($0xDD) of the pair, interleaved by 128-bit halves, and
// for kw = 3 the even lanes of src[2o+2 : 2o+18]; their maximum, put in
// order by VPERMPD $0xD8.
TEXT ·maxRowS2AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ groups+16(FP), CX
	MOVQ kw+24(FP), DX
	CMPQ DX, $3
	JEQ  s2k3

s2k2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	MAXEVENODD(Y0, Y1, Y2, Y3, Y4)
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     s2k2
	VZEROUPPER
	RET

s2k3:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 8(SI), Y5
	VMOVUPS 40(SI), Y6
	MAXEVENODD(Y0, Y1, Y2, Y3, Y4)
	VSHUFPS    $0x88, Y6, Y5, Y7
	NANMAX(Y2, Y7, Y2, Y4)
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     s2k3
	VZEROUPPER
	RET

// func avgRow2x2AVX2(dst, a, b *float32, groups int)
//
// (a0+a1) + (b0+b1) per output, as avgRow2x2Tail: the row pair sums by
// VHADDPS (adjacent lanes, interleaved by 128-bit halves), then VPERMPD.
TEXT ·avgRow2x2AVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         b+16(FP), DX
	MOVQ         groups+24(FP), CX
	VBROADCASTSS rowQuarter<>(SB), Y7

avg:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (DX), Y2
	VMOVUPS 32(DX), Y3
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VADDPS  Y2, Y0, Y0
	VMULPS  Y7, Y0, Y0
	VPERMPD $0xD8, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $32, DI
	DECQ    CX
	JNZ     avg
	VZEROUPPER
	RET

// func maxPoolS2R3AVX2(dst, r0, r1, r2 *float32, n, kw, rows, ldd, step int)
//
// maxRowS2AVX2 over the element-wise maximum of three rows, which it
// takes load by load instead of from a row written beforehand: per 8
// outputs the rows' src[2o : 2o+16] (and for kw = 3 src[2o+2 : 2o+10]
// and src[2o+9 : 2o+17], so that no load passes the last window) are
// reduced vertically, then the even and odd lanes horizontally: the third
// column of each window is the even lanes of the first of the kw = 3
// pair and the odd lanes of the second (VSHUFPS $0xD8). A row of n >= 8
// outputs is n/8 groups and, when 8 does not divide n, one more group
// ending at the last output (overlapping the one before); then the next
// row, ldd floats further in dst and step floats further in each of r0,
// r1 and r2. DI, SI, DX, BX stay at the row's start; R8 and R9 are the
// group's offsets in dst and in the rows.
TEXT ·maxPoolS2R3AVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DX
	MOVQ r2+24(FP), BX
	MOVQ n+32(FP), R12
	MOVQ kw+40(FP), AX
	MOVQ rows+48(FP), R10
	MOVQ ldd+56(FP), R13
	MOVQ step+64(FP), R14
	MOVQ R12, R11
	SHRQ $3, R11 // groups
	SHLQ $2, R12 // the row's end in dst, in bytes
	SHLQ $2, R13
	SHLQ $2, R14

r3row:
	XORQ R8, R8
	XORQ R9, R9
	MOVQ R11, CX

r3group:
	VMOVUPS (SI)(R9*1), Y0
	VMOVUPS 32(SI)(R9*1), Y1
	VMOVUPS (DX)(R9*1), Y2
	VMOVUPS 32(DX)(R9*1), Y3
	NANMAX(Y0, Y2, Y0, Y4)
	NANMAX(Y1, Y3, Y1, Y4)
	VMOVUPS (BX)(R9*1), Y2
	VMOVUPS 32(BX)(R9*1), Y3
	NANMAX(Y0, Y2, Y0, Y4)
	NANMAX(Y1, Y3, Y1, Y4)
	MAXEVENODD(Y0, Y1, Y2, Y3, Y4)
	CMPQ AX, $3
	JNE  r3store
	VMOVUPS 8(SI)(R9*1), Y5
	VMOVUPS 36(SI)(R9*1), Y6
	VMOVUPS 8(DX)(R9*1), Y0
	VMOVUPS 36(DX)(R9*1), Y1
	NANMAX(Y5, Y0, Y5, Y4)
	NANMAX(Y6, Y1, Y6, Y4)
	VMOVUPS 8(BX)(R9*1), Y0
	VMOVUPS 36(BX)(R9*1), Y1
	NANMAX(Y5, Y0, Y5, Y4)
	NANMAX(Y6, Y1, Y6, Y4)
	VSHUFPS    $0xD8, Y6, Y5, Y7
	NANMAX(Y2, Y7, Y2, Y4)

r3store:
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)(R8*1)
	ADDQ    $32, R8
	ADDQ    $64, R9
	DECQ    CX
	JNZ     r3group
	CMPQ    R8, R12
	JEQ     r3next
	// The overlapping group that ends at the row's last output.
	LEAQ -32(R12), R8
	LEAQ (R8)(R8*1), R9
	MOVQ $1, CX
	JMP  r3group

r3next:
	ADDQ R13, DI
	ADDQ R14, SI
	ADDQ R14, DX
	ADDQ R14, BX
	DECQ R10
	JNZ  r3row
	VZEROUPPER
	RET

// Mask table: evenMask<>+4*(16-j) holds j all-ones lanes, then zeros.
DATA evenMask<>+0(SB)/8, $-1
DATA evenMask<>+8(SB)/8, $-1
DATA evenMask<>+16(SB)/8, $-1
DATA evenMask<>+24(SB)/8, $-1
DATA evenMask<>+32(SB)/8, $-1
DATA evenMask<>+40(SB)/8, $-1
DATA evenMask<>+48(SB)/8, $-1
DATA evenMask<>+56(SB)/8, $-1
DATA evenMask<>+64(SB)/8, $0
DATA evenMask<>+72(SB)/8, $0
DATA evenMask<>+80(SB)/8, $0
DATA evenMask<>+88(SB)/8, $0
DATA evenMask<>+96(SB)/8, $0
DATA evenMask<>+104(SB)/8, $0
DATA evenMask<>+112(SB)/8, $0
DATA evenMask<>+120(SB)/8, $0
GLOBL evenMask<>(SB), RODATA|NOPTR, $128

// func gatherEvenAVX2(dst, src *float32, n int)
//
// dst[i] = src[2i] for i < n (n >= 1), reading src[0 : 2n-1] only: 8
// outputs per step from two loads, the even lanes picked by VSHUFPS $0x88
// and put in order by VPERMPD $0xD8; the last 1 to 8 outputs through
// masked loads and stores of 4, 2 and 1 lanes, so that a phase row of a
// strided convolution (often 7 to 28 wide) takes one call and no Go tail.
TEXT ·gatherEvenAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	LEAQ evenMask<>+64(SB), R8

even:
	CMPQ    CX, $8
	JLE     evenLast
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     even

evenLast:
	LEAQ       -1(CX)(CX*1), DX
	NEGQ       DX
	VMOVUPS    (R8)(DX*4), Y3
	VMOVUPS    32(R8)(DX*4), Y4
	VMASKMOVPS (SI), Y3, Y0
	VMASKMOVPS 32(SI), Y4, Y1
	VSHUFPS    $0x88, Y1, Y0, Y2
	VPERMPD    $0xD8, Y2, Y2

	// Store the CX lanes by 8, or by 4, 2 and 1: a masked store
	// (VMASKMOVPS) is microcoded on AMD cores; once per row of a strided
	// layer's prepared planes it was a fifth of this function's time in
	// ResNet's first convolution (single thread, Zen 3: 5.4% -> 4.2% of
	// the layer).
	CMPQ          CX, $8
	JLT           even4
	VMOVUPS       Y2, (DI)
	VZEROUPPER
	RET

even4:
	CMPQ          CX, $4
	JLT           even2
	VMOVUPS       X2, (DI)
	VEXTRACTF128  $1, Y2, X2
	ADDQ          $16, DI
	SUBQ          $4, CX

even2:
	CMPQ    CX, $2
	JLT     even1
	VMOVSD  X2, (DI)
	VPSRLDQ $8, X2, X2
	ADDQ    $8, DI
	SUBQ    $2, CX

even1:
	CMPQ   CX, $1
	JLT    evenDone
	VMOVSS X2, (DI)

evenDone:
	VZEROUPPER
	RET
