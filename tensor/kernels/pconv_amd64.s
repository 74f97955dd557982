//go:build !noasm

#include "textflag.h"

// Packed-convolution kernels, AVX2 + FMA; see pconv_amd64.go and pconv.go.

// pcMask<>+4*(16-n) holds n all-ones lanes followed by zeros (n <= 16).

DATA pcMask<>+0(SB)/4, $0xffffffff
DATA pcMask<>+4(SB)/4, $0xffffffff
DATA pcMask<>+8(SB)/4, $0xffffffff
DATA pcMask<>+12(SB)/4, $0xffffffff
DATA pcMask<>+16(SB)/4, $0xffffffff
DATA pcMask<>+20(SB)/4, $0xffffffff
DATA pcMask<>+24(SB)/4, $0xffffffff
DATA pcMask<>+28(SB)/4, $0xffffffff
DATA pcMask<>+32(SB)/4, $0xffffffff
DATA pcMask<>+36(SB)/4, $0xffffffff
DATA pcMask<>+40(SB)/4, $0xffffffff
DATA pcMask<>+44(SB)/4, $0xffffffff
DATA pcMask<>+48(SB)/4, $0xffffffff
DATA pcMask<>+52(SB)/4, $0xffffffff
DATA pcMask<>+56(SB)/4, $0xffffffff
DATA pcMask<>+60(SB)/4, $0xffffffff
DATA pcMask<>+64(SB)/4, $0
DATA pcMask<>+68(SB)/4, $0
DATA pcMask<>+72(SB)/4, $0
DATA pcMask<>+76(SB)/4, $0
DATA pcMask<>+80(SB)/4, $0
DATA pcMask<>+84(SB)/4, $0
DATA pcMask<>+88(SB)/4, $0
DATA pcMask<>+92(SB)/4, $0
DATA pcMask<>+96(SB)/4, $0
DATA pcMask<>+100(SB)/4, $0
DATA pcMask<>+104(SB)/4, $0
DATA pcMask<>+108(SB)/4, $0
DATA pcMask<>+112(SB)/4, $0
DATA pcMask<>+116(SB)/4, $0
DATA pcMask<>+120(SB)/4, $0
DATA pcMask<>+124(SB)/4, $0
GLOBL pcMask<>(SB), RODATA|NOPTR, $128

// One k step: B row of 16 at m0 and m1 (its second half), A column of 6
// at AX+aoff.
#define KSTEP(m0, m1, aoff) \
	VMOVUPS      m0, Y12              \
	VMOVUPS      m1, Y13              \
	VBROADCASTSS aoff(AX), Y14        \
	VFMADD231PS  Y12, Y14, Y0         \
	VFMADD231PS  Y13, Y14, Y1         \
	VBROADCASTSS (aoff+4)(AX), Y15    \
	VFMADD231PS  Y12, Y15, Y2         \
	VFMADD231PS  Y13, Y15, Y3         \
	VBROADCASTSS (aoff+8)(AX), Y14    \
	VFMADD231PS  Y12, Y14, Y4         \
	VFMADD231PS  Y13, Y14, Y5         \
	VBROADCASTSS (aoff+12)(AX), Y15   \
	VFMADD231PS  Y12, Y15, Y6         \
	VFMADD231PS  Y13, Y15, Y7         \
	VBROADCASTSS (aoff+16)(AX), Y14   \
	VFMADD231PS  Y12, Y14, Y8         \
	VFMADD231PS  Y13, Y14, Y9         \
	VBROADCASTSS (aoff+20)(AX), Y15   \
	VFMADD231PS  Y12, Y15, Y10        \
	VFMADD231PS  Y13, Y15, Y11

// KSTEP2(a0, a1): two k steps, B rows at BX and BX+ldb (A at AX+a0 and
// AX+a1); BX moves on two rows.
#define KSTEP2(a0, a1) \
	KSTEP((BX), 32(BX), a0)                 \
	KSTEP((BX)(R15*1), 32(BX)(R15*1), a1)   \
	LEAQ (BX)(R15*2), BX

// C row += accumulators (ya, yb).
#define LOADROW(ya, yb) \
	VADDPS (DI), ya, ya     \
	VADDPS 32(DI), yb, yb

// Epilogue and store of one row: + bias (R10), + residual row (R11, R12
// bytes apart), clamp to [Y13, Y14] with the value second so that NaN
// passes, store at DI; then step to the next row.
#define EPIROW(ya, yb) \
	VBROADCASTSS (R10), Y12 \
	VADDPS       Y12, ya, ya \
	VADDPS       Y12, yb, yb \
	VADDPS       (R11), ya, ya \
	VADDPS       32(R11), yb, yb \
	VMAXPS       ya, Y13, ya \
	VMAXPS       yb, Y13, yb \
	VMINPS       ya, Y14, ya \
	VMINPS       yb, Y14, yb \
	VMOVUPS      ya, (DI) \
	VMOVUPS      yb, 32(DI) \
	ADDQ         $4, R10 \
	ADDQ         R12, R11 \
	ADDQ         R8, DI

// EPIROWPF is EPIROW after PREFETCHW (DI)(DX*1) (the assembler does not
// know the instruction), DX = 128: the row's lines two panels to the
// right, which the task's next-but-one column panel will store. A store
// waits for its line when it is not in cache, and the rows of a tile
// are 6 output channels' planes, 16 columns each: short streams, one per
// plane, which the hardware prefetchers do not follow. Only the first k
// block's stores, as later ones load the row first. Measured with the
// plan A/B (prefetch on alternate passes, 1200 each, passes split by
// speed): on a host slowed by its other tenants -2 to -5% on every zoo
// model, quiet level to +0.8% (SqueezeNet's 1x1 layers and stem up to
// -25% slow; 64 bytes ahead gained nothing).
#define EPIROWPF(ya, yb) \
	BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x17 \
	EPIROW(ya, yb)

// func pconvKernel6x16AVX2(k, np int, a, b, c *float32, ldc, rowsLast, load int, bias, res *float32, ldr int, lo, hi float32, ldb int)
//
// np row panels, one after the other: A panels are consecutive (k*6
// floats each), C, bias and residual rows follow on (6 rows per panel),
// the last panel has rowsLast rows; the B panel is the same for all, its
// rows ldb floats apart (16 when packed; the image's plane stride when a
// 1x1 convolution reads its input in place).
TEXT ·pconvKernel6x16AVX2(SB), NOSPLIT, $0-104
	MOVQ k+0(FP), R13
	MOVQ np+8(FP), R14
	MOVQ a+16(FP), AX
	MOVQ b+24(FP), SI
	MOVQ c+32(FP), DI
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	MOVQ bias+64(FP), R10
	MOVQ res+72(FP), R11
	MOVQ ldr+80(FP), R12
	SHLQ $2, R12
	MOVQ ldb+96(FP), R15
	SHLQ $2, R15

panel:
	MOVQ SI, BX
	MOVQ R13, CX
	MOVQ $6, R9
	CMPQ R14, $1
	JNE  full
	MOVQ rowsLast+48(FP), R9

full:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   tail
	// Read in place (ldb is not a packed panel's 16 floats), each
	// k-row of B is another input channel's plane: more streams than the
	// hardware prefetchers follow, as in pconvPack16AVX2. The first row
	// panel fetches the row's next 128 bytes, the panel two to the
	// right; the other row panels find this panel in L1. (SqueezeNet's
	// 55x55 squeeze layers, 64 and 128 -> 16: -7 to -10% on a quiet host,
	// -25 to -35% when it is slow; 64 bytes ahead gained half as much.)
	CMPQ R15, $64
	JEQ  loop4
	CMPQ R14, np+8(FP)
	JNE  loop4

loop4pf:
	PREFETCHT0 128(BX)
	PREFETCHT0 128(BX)(R15*1)
	KSTEP2(0, 24)
	PREFETCHT0 128(BX)
	PREFETCHT0 128(BX)(R15*1)
	KSTEP2(48, 72)
	ADDQ $96, AX
	DECQ DX
	JNZ  loop4pf
	JMP  tail

loop4:
	KSTEP2(0, 24)
	KSTEP2(48, 72)
	ADDQ $96, AX
	DECQ DX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   epi

loop1:
	KSTEP((BX), 32(BX), 0)
	ADDQ R15, BX
	ADDQ $24, AX
	DECQ CX
	JNZ  loop1

epi:
	VBROADCASTSS lo+88(FP), Y13
	VBROADCASTSS hi+92(FP), Y14
	MOVQ         load+56(FP), DX
	TESTQ        DX, DX
	JZ           store

	LOADROW(Y0, Y1)
	EPIROW(Y0, Y1)
	CMPQ R9, $1
	JEQ  done
	LOADROW(Y2, Y3)
	EPIROW(Y2, Y3)
	CMPQ R9, $2
	JEQ  done
	LOADROW(Y4, Y5)
	EPIROW(Y4, Y5)
	CMPQ R9, $3
	JEQ  done
	LOADROW(Y6, Y7)
	EPIROW(Y6, Y7)
	CMPQ R9, $4
	JEQ  done
	LOADROW(Y8, Y9)
	EPIROW(Y8, Y9)
	CMPQ R9, $5
	JEQ  done
	LOADROW(Y10, Y11)
	EPIROW(Y10, Y11)
	JMP  done

store:
	MOVQ $128, DX
	EPIROWPF(Y0, Y1)
	CMPQ R9, $1
	JEQ  done
	EPIROWPF(Y2, Y3)
	CMPQ R9, $2
	JEQ  done
	EPIROWPF(Y4, Y5)
	CMPQ R9, $3
	JEQ  done
	EPIROWPF(Y6, Y7)
	CMPQ R9, $4
	JEQ  done
	EPIROWPF(Y8, Y9)
	CMPQ R9, $5
	JEQ  done
	EPIROWPF(Y10, Y11)

done:
	DECQ R14
	JNZ  panel
	VZEROUPPER
	RET

// One k step of the 6x8 kernel: B row of 8 at BX+boff (rows 16 apart).
#define KSTEP8(boff, aoff) \
	VMOVUPS      boff(BX), Y12        \
	VBROADCASTSS aoff(AX), Y14        \
	VFMADD231PS  Y12, Y14, Y0         \
	VBROADCASTSS (aoff+4)(AX), Y15    \
	VFMADD231PS  Y12, Y15, Y1         \
	VBROADCASTSS (aoff+8)(AX), Y14    \
	VFMADD231PS  Y12, Y14, Y2         \
	VBROADCASTSS (aoff+12)(AX), Y15   \
	VFMADD231PS  Y12, Y15, Y3         \
	VBROADCASTSS (aoff+16)(AX), Y14   \
	VFMADD231PS  Y12, Y14, Y4         \
	VBROADCASTSS (aoff+20)(AX), Y15   \
	VFMADD231PS  Y12, Y15, Y5

#define LOADROW8(ya) \
	VADDPS (DI), ya, ya

#define EPIROW8(ya) \
	VBROADCASTSS (R10), Y12 \
	VADDPS       Y12, ya, ya \
	VADDPS       (R11), ya, ya \
	VMAXPS       ya, Y13, ya \
	VMINPS       ya, Y14, ya \
	VMOVUPS      ya, (DI) \
	ADDQ         $4, R10 \
	ADDQ         R12, R11 \
	ADDQ         R8, DI

// func pconvKernel6x8AVX2(k int, a, b, c *float32, ldc, rows, load int, bias, res *float32, ldr int, lo, hi float32)
//
// The first 8 columns of pconvKernel6x16AVX2, for a last panel of at most
// 8 columns (B rows still 16 floats apart).
TEXT ·pconvKernel6x8AVX2(SB), NOSPLIT, $0-88
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ c+24(FP), DI
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ rows+40(FP), R9
	MOVQ bias+56(FP), R10
	MOVQ res+64(FP), R11
	MOVQ ldr+72(FP), R12
	SHLQ $2, R12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   tail8

loop48:
	KSTEP8(0, 0)
	KSTEP8(64, 24)
	KSTEP8(128, 48)
	KSTEP8(192, 72)
	ADDQ $256, BX
	ADDQ $96, AX
	DECQ DX
	JNZ  loop48

tail8:
	ANDQ $3, CX
	JZ   epi8

loop18:
	KSTEP8(0, 0)
	ADDQ $64, BX
	ADDQ $24, AX
	DECQ CX
	JNZ  loop18

epi8:
	VBROADCASTSS lo+80(FP), Y13
	VBROADCASTSS hi+84(FP), Y14
	MOVQ         load+48(FP), DX
	TESTQ        DX, DX
	JZ           store8
	LOADROW8(Y0)
	EPIROW8(Y0)
	CMPQ R9, $1
	JEQ  done8
	LOADROW8(Y1)
	EPIROW8(Y1)
	CMPQ R9, $2
	JEQ  done8
	LOADROW8(Y2)
	EPIROW8(Y2)
	CMPQ R9, $3
	JEQ  done8
	LOADROW8(Y3)
	EPIROW8(Y3)
	CMPQ R9, $4
	JEQ  done8
	LOADROW8(Y4)
	EPIROW8(Y4)
	CMPQ R9, $5
	JEQ  done8
	LOADROW8(Y5)
	EPIROW8(Y5)
	JMP  done8

store8:
	EPIROW8(Y0)
	CMPQ R9, $1
	JEQ  done8
	EPIROW8(Y1)
	CMPQ R9, $2
	JEQ  done8
	EPIROW8(Y2)
	CMPQ R9, $3
	JEQ  done8
	EPIROW8(Y3)
	CMPQ R9, $4
	JEQ  done8
	EPIROW8(Y4)
	CMPQ R9, $5
	JEQ  done8
	EPIROW8(Y5)

done8:
	VZEROUPPER
	RET

// func pconvPack16AVX2(nc, ntap, cs int, tap *int32, src *float32, segs *pcSeg, nseg int, dst *float32)
TEXT ·pconvPack16AVX2(SB), NOSPLIT, $0-64
	MOVQ nc+0(FP), CX
	MOVQ cs+16(FP), R9
	SHLQ $2, R9
	MOVQ tap+24(FP), R10
	MOVQ src+32(FP), SI
	MOVQ dst+56(FP), DI
	LEAQ pcMask<>+64(SB), R13

pchan:
	XORQ BX, BX

ptap:
	MOVLQSX (R10)(BX*4), AX
	LEAQ    (SI)(AX*4), DX
	MOVQ    segs+40(FP), R11
	MOVQ    nseg+48(FP), R12

pseg:
	MOVLQSX 0(R11), AX
	LEAQ    (DX)(AX*4), AX
	MOVLQSX 4(R11), R8
	MOVLQSX 8(R11), R14
	// The panel two to the right reads the next 128 bytes of this row:
	// fetch them now. Each row is another input channel's plane, more
	// streams than the hardware prefetchers follow (ResNet-50 batch 1
	// -1 to -3.5%, DenseNet-121 -1 to -3%; 256 bytes ahead was level).
	PREFETCHT0 128(AX)
	CMPQ    R14, $16
	JNE     pmask
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	JMP     pstore

pmask:
	NEGQ       R14
	VMOVUPS    (R13)(R14*4), Y2
	VMOVUPS    32(R13)(R14*4), Y3
	VMASKMOVPS (AX), Y2, Y0
	VMASKMOVPS 32(AX), Y3, Y1

pstore:
	VMOVUPS Y0, (DI)(R8*4)
	VMOVUPS Y1, 32(DI)(R8*4)
	ADDQ    $16, R11
	DECQ    R12
	JNZ     pseg
	ADDQ    $64, DI
	INCQ    BX
	CMPQ    BX, ntap+8(FP)
	JLT     ptap
	ADDQ    R9, SI
	DECQ    CX
	JNZ     pchan
	VZEROUPPER
	RET

// func pconvPack16AffineAVX2(nc, ntap, cs int, tap *int32, src *float32, segs *pcSeg, nseg int, dst *float32, scale, shift *float32, lo, hi float32)
//
// pconvPack16AVX2 with the prologue: every packed value is
// clamp(x*scale[c] + shift[c], lo, hi), x of channel c (NaN passes).
TEXT ·pconvPack16AffineAVX2(SB), NOSPLIT, $0-88
	MOVQ         nc+0(FP), CX
	MOVQ         cs+16(FP), R9
	SHLQ         $2, R9
	MOVQ         tap+24(FP), R10
	MOVQ         src+32(FP), SI
	MOVQ         dst+56(FP), DI
	LEAQ         pcMask<>+64(SB), R13
	VBROADCASTSS lo+80(FP), Y6
	VBROADCASTSS hi+84(FP), Y7
	XORQ         R15, R15

achan:
	MOVQ         scale+64(FP), AX
	VBROADCASTSS (AX)(R15*4), Y4
	MOVQ         shift+72(FP), AX
	VBROADCASTSS (AX)(R15*4), Y5
	XORQ         BX, BX

atap:
	MOVLQSX (R10)(BX*4), AX
	LEAQ    (SI)(AX*4), DX
	MOVQ    segs+40(FP), R11
	MOVQ    nseg+48(FP), R12

aseg:
	MOVLQSX    0(R11), AX
	LEAQ       (DX)(AX*4), AX
	MOVLQSX    4(R11), R8
	MOVLQSX    8(R11), R14
	PREFETCHT0 128(AX)
	CMPQ       R14, $16
	JNE        amask
	VMOVUPS    (AX), Y0
	VMOVUPS    32(AX), Y1
	JMP        astore

amask:
	NEGQ       R14
	VMOVUPS    (R13)(R14*4), Y2
	VMOVUPS    32(R13)(R14*4), Y3
	VMASKMOVPS (AX), Y2, Y0
	VMASKMOVPS 32(AX), Y3, Y1

astore:
	VFMADD213PS Y5, Y4, Y0
	VFMADD213PS Y5, Y4, Y1
	VMAXPS      Y0, Y6, Y0
	VMAXPS      Y1, Y6, Y1
	VMINPS      Y0, Y7, Y0
	VMINPS      Y1, Y7, Y1
	VMOVUPS     Y0, (DI)(R8*4)
	VMOVUPS     Y1, 32(DI)(R8*4)
	ADDQ        $16, R11
	DECQ        R12
	JNZ         aseg
	ADDQ        $64, DI
	INCQ        BX
	CMPQ        BX, ntap+8(FP)
	JLT         atap
	ADDQ        R9, SI
	INCQ        R15
	DECQ        CX
	JNZ         achan
	VZEROUPPER
	RET

// func pconvPack16OneAVX2(nc, ntap, cs int, tap *int32, src *float32, dst *float32)
//
// pconvPack16AVX2 for the usual panel, one run of 16 pixels (src already
// at its start): two loads and two stores per row, 1x1 layers (one tap)
// in a loop of their own.
TEXT ·pconvPack16OneAVX2(SB), NOSPLIT, $0-48
	MOVQ nc+0(FP), CX
	MOVQ ntap+8(FP), R8
	MOVQ cs+16(FP), R9
	SHLQ $2, R9
	MOVQ tap+24(FP), R10
	MOVQ src+32(FP), SI
	MOVQ dst+40(FP), DI
	CMPQ R8, $1
	JNE  ochan
	MOVLQSX (R10), AX
	LEAQ    (SI)(AX*4), SI

o1:
	PREFETCHT0 128(SI)
	VMOVUPS    (SI), Y0
	VMOVUPS    32(SI), Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       R9, SI
	ADDQ       $64, DI
	DECQ       CX
	JNZ        o1
	VZEROUPPER
	RET

ochan:
	XORQ BX, BX

otap:
	MOVLQSX    (R10)(BX*4), AX
	LEAQ       (SI)(AX*4), AX
	PREFETCHT0 128(AX)
	VMOVUPS    (AX), Y0
	VMOVUPS    32(AX), Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       $64, DI
	INCQ       BX
	CMPQ       BX, R8
	JLT        otap
	ADDQ       R9, SI
	DECQ       CX
	JNZ        ochan
	VZEROUPPER
	RET

// One k step of the narrow kernel: the A column of 6 rows (8 lanes, the
// last 2 the next row's) at aoff(AX) times B's column j at boff(BX) into
// acc.
#define NSTEP(aoff, boff, ya, yb, acc) \
	VMOVUPS      aoff(AX), ya   \
	VBROADCASTSS boff(BX), yb   \
	VFMADD231PS  ya, yb, acc

// func pconvNarrowAVX2(ncols, k int, a, b, acc *float32, add int)
//
// The last 1 to 4 columns of an output (a 7x7 image has 49: three
// 16-column panels and one column): acc[j*8+i] (+)= sum over p < k of
// a[p*6+i]*b[p*16+j], i < 6 (lanes 6 and 7 are junk), j < ncols (1, 2 or
// 4), the rows vectorised instead of the columns. With the 6x8 tile a
// column cost as much as eight; here one column is a load, a broadcast
// and an FMA per k step, in 4 chains. Reads a[0 : 6k+2].
TEXT ·pconvNarrowAVX2(SB), NOSPLIT, $0-48
	MOVQ   ncols+0(FP), R8
	MOVQ   k+8(FP), CX
	MOVQ   a+16(FP), AX
	MOVQ   b+24(FP), BX
	MOVQ   acc+32(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ   R8, $1
	JEQ    n1
	CMPQ   R8, $2
	JEQ    n2

	// 4 columns, k by 2: column j in Y(j) and Y(4+j).
	MOVQ CX, DX
	SHRQ $1, DX
	JZ   n4tail

n4loop:
	VMOVUPS      (AX), Y8
	VMOVUPS      24(AX), Y9
	VBROADCASTSS (BX), Y10
	VBROADCASTSS 4(BX), Y11
	VBROADCASTSS 8(BX), Y12
	VBROADCASTSS 12(BX), Y13
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y8, Y11, Y1
	VFMADD231PS  Y8, Y12, Y2
	VFMADD231PS  Y8, Y13, Y3
	VBROADCASTSS 64(BX), Y10
	VBROADCASTSS 68(BX), Y11
	VBROADCASTSS 72(BX), Y12
	VBROADCASTSS 76(BX), Y13
	VFMADD231PS  Y9, Y10, Y4
	VFMADD231PS  Y9, Y11, Y5
	VFMADD231PS  Y9, Y12, Y6
	VFMADD231PS  Y9, Y13, Y7
	ADDQ         $48, AX
	ADDQ         $128, BX
	DECQ         DX
	JNZ          n4loop

n4tail:
	TESTQ        $1, CX
	JZ           n4sum
	VMOVUPS      (AX), Y8
	VBROADCASTSS (BX), Y10
	VBROADCASTSS 4(BX), Y11
	VBROADCASTSS 8(BX), Y12
	VBROADCASTSS 12(BX), Y13
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y8, Y11, Y1
	VFMADD231PS  Y8, Y12, Y2
	VFMADD231PS  Y8, Y13, Y3

n4sum:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	MOVQ   add+40(FP), DX
	TESTQ  DX, DX
	JZ     n4store
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VADDPS 64(DI), Y2, Y2
	VADDPS 96(DI), Y3, Y3

n4store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

	// 2 columns, k by 4: column 0 in Y0-Y3, column 1 in Y4-Y7.
n2:
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   n2tail

n2loop:
	VMOVUPS      (AX), Y8
	VMOVUPS      24(AX), Y9
	VMOVUPS      48(AX), Y10
	VMOVUPS      72(AX), Y11
	VBROADCASTSS (BX), Y12
	VBROADCASTSS 4(BX), Y13
	VFMADD231PS  Y8, Y12, Y0
	VFMADD231PS  Y8, Y13, Y4
	VBROADCASTSS 64(BX), Y12
	VBROADCASTSS 68(BX), Y13
	VFMADD231PS  Y9, Y12, Y1
	VFMADD231PS  Y9, Y13, Y5
	VBROADCASTSS 128(BX), Y12
	VBROADCASTSS 132(BX), Y13
	VFMADD231PS  Y10, Y12, Y2
	VFMADD231PS  Y10, Y13, Y6
	VBROADCASTSS 192(BX), Y12
	VBROADCASTSS 196(BX), Y13
	VFMADD231PS  Y11, Y12, Y3
	VFMADD231PS  Y11, Y13, Y7
	ADDQ         $96, AX
	ADDQ         $256, BX
	DECQ         DX
	JNZ          n2loop

n2tail:
	ANDQ $3, CX
	JZ   n2sum

n2one:
	VMOVUPS      (AX), Y8
	VBROADCASTSS (BX), Y12
	VBROADCASTSS 4(BX), Y13
	VFMADD231PS  Y8, Y12, Y0
	VFMADD231PS  Y8, Y13, Y4
	ADDQ         $24, AX
	ADDQ         $64, BX
	DECQ         CX
	JNZ          n2one

n2sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y4, Y4
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y4, Y1
	MOVQ   add+40(FP), DX
	TESTQ  DX, DX
	JZ     n2store
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1

n2store:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

	// 1 column, k by 4 in Y0-Y3.
n1:
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   n1tail

n1loop:
	NSTEP(0, 0, Y8, Y12, Y0)
	NSTEP(24, 64, Y9, Y13, Y1)
	NSTEP(48, 128, Y10, Y14, Y2)
	NSTEP(72, 192, Y11, Y15, Y3)
	ADDQ $96, AX
	ADDQ $256, BX
	DECQ DX
	JNZ  n1loop

n1tail:
	ANDQ $3, CX
	JZ   n1sum

n1one:
	NSTEP(0, 0, Y8, Y12, Y0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ CX
	JNZ  n1one

n1sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	MOVQ   add+40(FP), DX
	TESTQ  DX, DX
	JZ     n1store
	VADDPS (DI), Y0, Y0

n1store:
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET
