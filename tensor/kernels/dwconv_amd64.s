//go:build !noasm

#include "textflag.h"

// Depthwise 3x3 plane kernel, AVX2 + FMA; see dwconv_amd64.go.

// dwMask<>+4*(8-r) holds r all-ones lanes followed by zeros.
DATA dwMask<>+0(SB)/8, $0xffffffffffffffff
DATA dwMask<>+8(SB)/8, $0xffffffffffffffff
DATA dwMask<>+16(SB)/8, $0xffffffffffffffff
DATA dwMask<>+24(SB)/8, $0xffffffffffffffff
DATA dwMask<>+32(SB)/8, $0
DATA dwMask<>+40(SB)/8, $0
DATA dwMask<>+48(SB)/8, $0
DATA dwMask<>+56(SB)/8, $0
GLOBL dwMask<>(SB), RODATA|NOPTR, $64

DATA dwc6<>+0(SB)/4, $0x40c00000
GLOBL dwc6<>(SB), RODATA|NOPTR, $4

DATA dwNegInf<>+0(SB)/4, $0xff800000
GLOBL dwNegInf<>(SB), RODATA|NOPTR, $4

DATA dwPosInf<>+0(SB)/4, $0x7f800000
GLOBL dwPosInf<>(SB), RODATA|NOPTR, $4

// Stride 1: Y0 = bias + 9 taps of the block at R13 (rows BX bytes apart),
// summed in three partial chains.
#define DWS1 \
	VMOVAPS      Y6, Y0                 \
	VFMADD231PS  0(R13), Y7, Y0         \
	VFMADD231PS  4(R13), Y8, Y0         \
	VFMADD231PS  8(R13), Y9, Y0         \
	VMULPS       0(R13)(BX*1), Y10, Y1  \
	VFMADD231PS  4(R13)(BX*1), Y11, Y1  \
	VFMADD231PS  8(R13)(BX*1), Y12, Y1  \
	VMULPS       0(R13)(BX*2), Y13, Y2  \
	VFMADD231PS  4(R13)(BX*2), Y14, Y2  \
	VFMADD231PS  8(R13)(BX*2), Y15, Y2  \
	VADDPS       Y1, Y0, Y0             \
	VADDPS       Y2, Y0, Y0

// DWS2ROW(off, w0, w1, w2): Y0 += taps of one padded row at off (an
// addressing mode for R13 + row): even, odd and shifted-even columns. The
// lanes come out as columns 0 1 4 5 2 3 6 7; DWS2 fixes that at the end.
#define DWS2ROW(r0, r1, r2, r3, w0, w1, w2) \
	VMOVUPS     r0, Y1                \
	VMOVUPS     r1, Y2                \
	VSHUFPS     $0x88, Y2, Y1, Y3     \
	VFMADD231PS Y3, w0, Y0            \
	VSHUFPS     $0xDD, Y2, Y1, Y3     \
	VFMADD231PS Y3, w1, Y0            \
	VMOVUPS     r2, Y1                \
	VMOVUPS     r3, Y2                \
	VSHUFPS     $0x88, Y2, Y1, Y3     \
	VFMADD231PS Y3, w2, Y0

#define DWS2 \
	VXORPS  Y0, Y0, Y0                                                          \
	DWS2ROW(0(R13), 32(R13), 8(R13), 40(R13), Y7, Y8, Y9)                       \
	DWS2ROW(0(R13)(BX*1), 32(R13)(BX*1), 8(R13)(BX*1), 40(R13)(BX*1), Y10, Y11, Y12) \
	DWS2ROW(0(R13)(BX*2), 32(R13)(BX*2), 8(R13)(BX*2), 40(R13)(BX*2), Y13, Y14, Y15) \
	VPERMPD $0xD8, Y0, Y0                                                       \
	VADDPS  Y6, Y0, Y0

// func dwConv3x3AVX2(src *float32, ld int, dst *float32, ow, oh, s int, w *float32, bias float32, res *float32, act, tm, next int)
TEXT ·dwConv3x3AVX2(SB), NOSPLIT, $0-96
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), BX
	SHLQ $2, BX                   // row stride, bytes
	MOVQ dst+16(FP), DI
	MOVQ ow+24(FP), R8
	MOVQ oh+32(FP), R9
	MOVQ s+40(FP), R12
	MOVQ w+48(FP), AX
	VBROADCASTSS 0(AX), Y7
	VBROADCASTSS 4(AX), Y8
	VBROADCASTSS 8(AX), Y9
	VBROADCASTSS 12(AX), Y10
	VBROADCASTSS 16(AX), Y11
	VBROADCASTSS 20(AX), Y12
	VBROADCASTSS 24(AX), Y13
	VBROADCASTSS 28(AX), Y14
	VBROADCASTSS 32(AX), Y15
	VBROADCASTSS bias+56(FP), Y6
	MOVQ res+64(FP), DX
	MOVQ next+88(FP), R14
	SHLQ $2, R14

	// Clamps: Y4 = lower, Y5 = upper.
	MOVQ         act+72(FP), AX
	VBROADCASTSS dwNegInf<>(SB), Y4
	VBROADCASTSS dwPosInf<>(SB), Y5
	CMPQ         AX, $0
	JEQ          clamps
	VXORPS       Y4, Y4, Y4
	CMPQ         AX, $2
	JNE          clamps
	VBROADCASTSS dwc6<>(SB), Y5

clamps:
	// R10 = full blocks per row, R11 = remaining columns.
	MOVQ R8, R10
	SHRQ $3, R10
	MOVQ R8, R11
	ANDQ $7, R11

	// AX = input row advance per output row (s rows); R12 = input bytes
	// per block of 8 outputs (32*s).
	MOVQ BX, AX
	IMULQ R12, AX
	CMPQ R12, $1
	JNE  stride2

	// Stride 1.
s1row:
	BYTE $0x42; BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x37 // PREFETCHW (DI)(R14*1)
	MOVQ  SI, R13
	MOVQ  R10, CX
	TESTQ CX, CX
	JZ    s1tail

s1block:
	BYTE $0x42; BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x37 // PREFETCHW (DI)(R14*1)
	DWS1
	TESTQ   DX, DX
	JZ      s1nores
	VADDPS  (DX), Y0, Y0
	ADDQ    $32, DX

s1nores:
	VMAXPS  Y0, Y4, Y0
	VMINPS  Y0, Y5, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, R13
	ADDQ    $32, DI
	DECQ    CX
	JNZ     s1block

s1tail:
	TESTQ R11, R11
	JZ    s1next
	DWS1
	// Partial block of R11 columns. Rows are contiguous in dst, so all but
	// the last tm rows may store (and read the residual) 8 wide: the
	// overflow lands in later rows of the plane, which are written after.
	CMPQ       R9, tm+80(FP)
	JLE        s1masked
	TESTQ      DX, DX
	JZ         s1fullnores
	VADDPS     (DX), Y0, Y0

s1fullnores:
	VMAXPS     Y0, Y4, Y0
	VMINPS     Y0, Y5, Y0
	VMOVUPS    Y0, (DI)
	MOVQ       R11, R8
	SHLQ       $2, R8
	ADDQ       R8, DI
	TESTQ      DX, DX
	JZ         s1next
	ADDQ       R8, DX
	JMP        s1next

s1masked:
	LEAQ       dwMask<>+32(SB), R12
	MOVQ       R11, R8
	SHLQ       $2, R8
	SUBQ       R8, R12
	VMOVUPS    (R12), Y3
	TESTQ      DX, DX
	JZ         s1tailnores
	VMASKMOVPS (DX), Y3, Y1
	VADDPS     Y1, Y0, Y0
	ADDQ       R8, DX

s1tailnores:
	VMAXPS     Y0, Y4, Y0
	VMINPS     Y0, Y5, Y0
	VMASKMOVPS Y0, Y3, (DI)
	ADDQ       R8, DI

s1next:
	ADDQ AX, SI
	DECQ R9
	JNZ  s1row
	VZEROUPPER
	RET

stride2:
s2row:
	BYTE $0x42; BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x37 // PREFETCHW (DI)(R14*1)
	MOVQ  SI, R13
	MOVQ  R10, CX
	TESTQ CX, CX
	JZ    s2tail

s2block:
	BYTE $0x42; BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x37 // PREFETCHW (DI)(R14*1)
	DWS2
	TESTQ   DX, DX
	JZ      s2nores
	VADDPS  (DX), Y0, Y0
	ADDQ    $32, DX

s2nores:
	VMAXPS  Y0, Y4, Y0
	VMINPS  Y0, Y5, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $64, R13
	ADDQ    $32, DI
	DECQ    CX
	JNZ     s2block

s2tail:
	TESTQ R11, R11
	JZ    s2next
	DWS2
	// Partial block of R11 columns. Rows are contiguous in dst, so all but
	// the last tm rows may store (and read the residual) 8 wide: the
	// overflow lands in later rows of the plane, which are written after.
	CMPQ       R9, tm+80(FP)
	JLE        s2masked
	TESTQ      DX, DX
	JZ         s2fullnores
	VADDPS     (DX), Y0, Y0

s2fullnores:
	VMAXPS     Y0, Y4, Y0
	VMINPS     Y0, Y5, Y0
	VMOVUPS    Y0, (DI)
	MOVQ       R11, R8
	SHLQ       $2, R8
	ADDQ       R8, DI
	TESTQ      DX, DX
	JZ         s2next
	ADDQ       R8, DX
	JMP        s2next

s2masked:
	LEAQ       dwMask<>+32(SB), R12
	MOVQ       R11, R8
	SHLQ       $2, R8
	SUBQ       R8, R12
	VMOVUPS    (R12), Y3
	TESTQ      DX, DX
	JZ         s2tailnores
	VMASKMOVPS (DX), Y3, Y1
	VADDPS     Y1, Y0, Y0
	ADDQ       R8, DX

s2tailnores:
	VMAXPS     Y0, Y4, Y0
	VMINPS     Y0, Y5, Y0
	VMASKMOVPS Y0, Y3, (DI)
	ADDQ       R8, DI

s2next:
	ADDQ AX, SI
	DECQ R9
	JNZ  s2row
	VZEROUPPER
	RET

// func dwPadCopyAVX2(dst *float32, ld int, src *float32, w, h int)
//
// Copies h rows of w floats (src rows contiguous) to dst + 1 + r*ld, 8 at a
// time; the last block of a row is loaded with a mask and stored whole, so
// it writes zeros up to column 1 + 8*ceil(w/8).
TEXT ·dwPadCopyAVX2(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    ld+8(FP), BX
	SHLQ    $2, BX
	MOVQ    src+16(FP), SI
	MOVQ    w+24(FP), R8
	MOVQ    h+32(FP), R9
	ADDQ    $4, DI
	MOVQ    R8, R10
	SHRQ    $3, R10               // full blocks per row
	MOVQ    R8, R11
	ANDQ    $7, R11               // tail
	LEAQ    dwMask<>+32(SB), R12
	MOVQ    R11, AX
	SHLQ    $2, AX
	SUBQ    AX, R12
	VMOVUPS (R12), Y3

pcrow:
	MOVQ  DI, DX
	MOVQ  R10, CX
	TESTQ CX, CX
	JZ    pctail

pcblock:
	VMOVUPS (SI), Y0
	VMOVUPS Y0, (DX)
	ADDQ    $32, SI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     pcblock

pctail:
	TESTQ      R11, R11
	JZ         pcnext
	VMASKMOVPS (SI), Y3, Y0
	VMOVUPS    Y0, (DX)
	ADDQ       AX, SI

pcnext:
	ADDQ BX, DI
	DECQ R9
	JNZ  pcrow
	VZEROUPPER
	RET
