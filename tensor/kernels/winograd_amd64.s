//go:build !noasm

#include "textflag.h"

// Winograd transforms and transform-domain GEMM, AVX2 + FMA. See
// winograd_amd64.go for the contracts and winograd.go for the Go twins.
// Go's operand order: VOP src2, src1, dst computes dst = src1 OP src2;
// VFMADD231PS a, b, c computes c += a*b.

DATA wgc2<>+0(SB)/8, $0x4000000040000000
DATA wgc2<>+8(SB)/8, $0x4000000040000000
DATA wgc2<>+16(SB)/8, $0x4000000040000000
DATA wgc2<>+24(SB)/8, $0x4000000040000000
GLOBL wgc2<>(SB), RODATA|NOPTR, $32

DATA wgc4<>+0(SB)/8, $0x4080000040800000
DATA wgc4<>+8(SB)/8, $0x4080000040800000
DATA wgc4<>+16(SB)/8, $0x4080000040800000
DATA wgc4<>+24(SB)/8, $0x4080000040800000
GLOBL wgc4<>(SB), RODATA|NOPTR, $32

DATA wgc8<>+0(SB)/8, $0x4100000041000000
DATA wgc8<>+8(SB)/8, $0x4100000041000000
DATA wgc8<>+16(SB)/8, $0x4100000041000000
DATA wgc8<>+24(SB)/8, $0x4100000041000000
GLOBL wgc8<>(SB), RODATA|NOPTR, $32

DATA wgc1p5<>+0(SB)/8, $0x3fc000003fc00000
DATA wgc1p5<>+8(SB)/8, $0x3fc000003fc00000
DATA wgc1p5<>+16(SB)/8, $0x3fc000003fc00000
DATA wgc1p5<>+24(SB)/8, $0x3fc000003fc00000
GLOBL wgc1p5<>(SB), RODATA|NOPTR, $32

DATA wgc2p5<>+0(SB)/8, $0x4020000040200000
DATA wgc2p5<>+8(SB)/8, $0x4020000040200000
DATA wgc2p5<>+16(SB)/8, $0x4020000040200000
DATA wgc2p5<>+24(SB)/8, $0x4020000040200000
GLOBL wgc2p5<>(SB), RODATA|NOPTR, $32

DATA wgc0p5<>+0(SB)/8, $0x3f0000003f000000
DATA wgc0p5<>+8(SB)/8, $0x3f0000003f000000
DATA wgc0p5<>+16(SB)/8, $0x3f0000003f000000
DATA wgc0p5<>+24(SB)/8, $0x3f0000003f000000
GLOBL wgc0p5<>(SB), RODATA|NOPTR, $32

DATA wgc0p25<>+0(SB)/8, $0x3e8000003e800000
DATA wgc0p25<>+8(SB)/8, $0x3e8000003e800000
DATA wgc0p25<>+16(SB)/8, $0x3e8000003e800000
DATA wgc0p25<>+24(SB)/8, $0x3e8000003e800000
GLOBL wgc0p25<>(SB), RODATA|NOPTR, $32

DATA wgc0p125<>+0(SB)/8, $0x3e0000003e000000
DATA wgc0p125<>+8(SB)/8, $0x3e0000003e000000
DATA wgc0p125<>+16(SB)/8, $0x3e0000003e000000
DATA wgc0p125<>+24(SB)/8, $0x3e0000003e000000
GLOBL wgc0p125<>(SB), RODATA|NOPTR, $32

DATA wgc6<>+0(SB)/4, $0x40c00000
GLOBL wgc6<>(SB), RODATA|NOPTR, $4

DATA wgNegInf<>+0(SB)/4, $0xff800000
GLOBL wgNegInf<>(SB), RODATA|NOPTR, $4

DATA wgPosInf<>+0(SB)/4, $0x7f800000
GLOBL wgPosInf<>(SB), RODATA|NOPTR, $4

// F(4x4,3x3) with the points 0, 1, -1, 2, -1/2 (see wgBT4 and wgAT4 in
// winograd.go). Y14 = 2.0 and Y15 = 0.5 throughout.

// BT4: B^T d on d0..d5 in Y0..Y5. Out: v0..v5 in Y8..Y13. Clobbers Y6, Y7.
#define BT4 \
	VSUBPS       Y2, Y4, Y6            \ // f = d4 - d2
	VSUBPS       Y1, Y3, Y7            \ // h = d3 - d1
	VADDPS       Y4, Y0, Y8            \
	VFNMADD231PS Y14, Y2, Y8           \
	VFNMADD231PS wgc1p5<>(SB), Y7, Y8  \ // v0 = d0 + d4 - 2 d2 - 1.5 h
	VSUBPS       Y1, Y4, Y9            \
	VFNMADD231PS wgc2p5<>(SB), Y2, Y9  \
	VFNMADD231PS Y15, Y3, Y9           \ // v1 = d4 - d1 - 2.5 d2 - 0.5 d3
	VADDPS       Y1, Y4, Y10           \
	VFMADD231PS  Y15, Y2, Y10          \
	VFNMADD231PS wgc2p5<>(SB), Y3, Y10 \ // v2 = d4 + d1 + 0.5 d2 - 2.5 d3
	VMOVAPS      Y6, Y11               \
	VFMADD231PS  Y15, Y7, Y11          \ // v3 = f + 0.5 h
	VMOVAPS      Y6, Y12               \
	VFNMADD231PS Y14, Y7, Y12          \ // v4 = f - 2 h
	VADDPS       Y1, Y5, Y13           \
	VFNMADD231PS Y14, Y3, Y13          \
	VFNMADD231PS wgc1p5<>(SB), Y6, Y13 // v5 = d5 + d1 - 2 d3 - 1.5 f

// AT4: A^T m on m0..m5 in Y0..Y5. Out: o0..o3 in Y10..Y13. Clobbers Y6, Y7.
#define AT4 \
	VADDPS       Y2, Y1, Y6              \ // s12
	VSUBPS       Y2, Y1, Y7              \ // d12
	VADDPS       Y6, Y0, Y10             \
	VADDPS       Y3, Y10, Y10            \
	VADDPS       Y4, Y10, Y10            \ // o0 = m0 + s12 + m3 + m4
	VMOVAPS      Y7, Y11                 \
	VFMADD231PS  Y14, Y3, Y11            \
	VFNMADD231PS Y15, Y4, Y11            \ // o1 = d12 + 2 m3 - 0.5 m4
	VMOVAPS      Y6, Y12                 \
	VFMADD231PS  wgc4<>(SB), Y3, Y12     \
	VFMADD231PS  wgc0p25<>(SB), Y4, Y12  \ // o2 = s12 + 4 m3 + 0.25 m4
	VADDPS       Y5, Y7, Y13             \
	VFMADD231PS  wgc8<>(SB), Y3, Y13     \
	VFNMADD231PS wgc0p125<>(SB), Y4, Y13 // o3 = d12 + m5 + 8 m3 - 0.125 m4

// func wgInput4AVX2(src *float32, ld int, dst *float32, xis int)
TEXT ·wgInput4AVX2(SB), 0, $1152-32
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), BX
	SHLQ $2, BX
	MOVQ dst+16(FP), DI
	MOVQ xis+24(FP), R8
	SHLQ $2, R8
	VMOVUPS wgc2<>(SB), Y14
	VMOVUPS wgc0p5<>(SB), Y15
	LEAQ 0(SP), DX
	MOVQ $6, CX

in4row:
	// Columns 0-3 of tiles 0..7 (lanes 0 2 4 6 1 3 5 7): a 4x4 transpose
	// within each 128-bit half.
	VMOVUPS   0(SI), Y0
	VMOVUPS   32(SI), Y1
	VMOVUPS   64(SI), Y2
	VMOVUPS   96(SI), Y3
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKHPS Y1, Y0, Y5
	VUNPCKLPS Y3, Y2, Y6
	VUNPCKHPS Y3, Y2, Y7
	VUNPCKLPD Y6, Y4, Y0
	VUNPCKHPD Y6, Y4, Y1
	VUNPCKLPD Y7, Y5, Y2
	VUNPCKHPD Y7, Y5, Y3

	// Columns 4-5: the same, 4 floats on.
	VMOVUPS   16(SI), Y8
	VMOVUPS   48(SI), Y9
	VMOVUPS   80(SI), Y10
	VMOVUPS   112(SI), Y11
	VUNPCKLPS Y9, Y8, Y12
	VUNPCKLPS Y11, Y10, Y13
	VUNPCKLPD Y13, Y12, Y4
	VUNPCKHPD Y13, Y12, Y5

	BT4
	VMOVUPS Y8, 0(DX)
	VMOVUPS Y9, 32(DX)
	VMOVUPS Y10, 64(DX)
	VMOVUPS Y11, 96(DX)
	VMOVUPS Y12, 128(DX)
	VMOVUPS Y13, 160(DX)
	ADDQ    BX, SI
	ADDQ    $192, DX
	DECQ    CX
	JNZ     in4row

	// Columns: v[i][j] goes to dst + (6i+j)*xis.
	LEAQ 0(SP), DX
	LEAQ (R8)(R8*2), R9
	SHLQ $1, R9              // 6 xis
	LEAQ (R9)(R9*2), R10     // 18 xis
	LEAQ (R9)(R9*4), R11     // 30 xis
	MOVQ $6, CX

in4col:
	VMOVUPS 0(DX), Y0
	VMOVUPS 192(DX), Y1
	VMOVUPS 384(DX), Y2
	VMOVUPS 576(DX), Y3
	VMOVUPS 768(DX), Y4
	VMOVUPS 960(DX), Y5
	BT4
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R9*1)
	VMOVUPS Y10, (DI)(R9*2)
	VMOVUPS Y11, (DI)(R10*1)
	VMOVUPS Y12, (DI)(R9*4)
	VMOVUPS Y13, (DI)(R11*1)
	ADDQ    $32, DX
	ADDQ    R8, DI
	DECQ    CX
	JNZ     in4col

	VZEROUPPER
	RET

// func wgOutput4AVX2(src *float32, xis int, dst *float32, ldd int)
TEXT ·wgOutput4AVX2(SB), 0, $1280-32
	MOVQ src+0(FP), SI
	MOVQ xis+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), BX
	SHLQ $2, BX
	VMOVUPS wgc2<>(SB), Y14
	VMOVUPS wgc0p5<>(SB), Y15
	LEAQ (R8)(R8*2), R10     // 3 xis
	LEAQ (R8)(R8*4), R11     // 5 xis
	LEAQ (R10)(R10*1), R9    // 6 xis
	LEAQ 0(SP), DX
	MOVQ $6, CX

out4row:
	// t[i][q] = (A^T m[i][.])[q]
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R10*1), Y3
	VMOVUPS (SI)(R8*4), Y4
	VMOVUPS (SI)(R11*1), Y5
	AT4
	VMOVUPS Y10, 0(DX)
	VMOVUPS Y11, 32(DX)
	VMOVUPS Y12, 64(DX)
	VMOVUPS Y13, 96(DX)
	ADDQ    R9, SI
	ADDQ    $128, DX
	DECQ    CX
	JNZ     out4row

	// y[r][q] = (A^T t[.][q])[r], stored at 768 + r*128 + q*32.
	LEAQ 0(SP), DX
	LEAQ 768(SP), AX
	MOVQ $4, CX

out4col:
	VMOVUPS 0(DX), Y0
	VMOVUPS 128(DX), Y1
	VMOVUPS 256(DX), Y2
	VMOVUPS 384(DX), Y3
	VMOVUPS 512(DX), Y4
	VMOVUPS 640(DX), Y5
	AT4
	VMOVUPS Y10, 0(AX)
	VMOVUPS Y11, 128(AX)
	VMOVUPS Y12, 256(AX)
	VMOVUPS Y13, 384(AX)
	ADDQ    $32, DX
	ADDQ    $32, AX
	DECQ    CX
	JNZ     out4col

	// Each output row: undo the lane interleave, 8 tiles x 4 columns.
	LEAQ 768(SP), AX
	MOVQ $4, CX

out4st:
	VMOVUPS   0(AX), Y0
	VMOVUPS   32(AX), Y1
	VMOVUPS   64(AX), Y2
	VMOVUPS   96(AX), Y3
	VUNPCKLPS Y1, Y0, Y4
	VUNPCKLPS Y3, Y2, Y5
	VUNPCKHPS Y1, Y0, Y6
	VUNPCKHPS Y3, Y2, Y7
	VUNPCKLPD Y5, Y4, Y8
	VUNPCKHPD Y5, Y4, Y9
	VUNPCKLPD Y7, Y6, Y10
	VUNPCKHPD Y7, Y6, Y11
	VMOVUPS   Y8, 0(DI)
	VMOVUPS   Y9, 32(DI)
	VMOVUPS   Y10, 64(DI)
	VMOVUPS   Y11, 96(DI)
	ADDQ      $128, AX
	ADDQ      BX, DI
	DECQ      CX
	JNZ       out4st

	VZEROUPPER
	RET

// BT2: B^T d for F(2x2,3x3) on d0 Y2, d1 Y3, d2 Y6, d3 Y7.
// Out: v0..v3 in Y8..Y11.
#define BT2 \
	VSUBPS Y6, Y2, Y8  \ // v0 = d0 - d2
	VADDPS Y6, Y3, Y9  \ // v1 = d1 + d2
	VSUBPS Y3, Y6, Y10 \ // v2 = d2 - d1
	VSUBPS Y7, Y3, Y11 // v3 = d1 - d3

// func wgInput2AVX2(src *float32, ld int, dst *float32, xis int)
TEXT ·wgInput2AVX2(SB), 0, $512-32
	MOVQ src+0(FP), SI
	MOVQ ld+8(FP), BX
	SHLQ $2, BX
	MOVQ dst+16(FP), DI
	MOVQ xis+24(FP), R8
	SHLQ $2, R8
	LEAQ 0(SP), DX
	MOVQ $4, CX

in2row:
	// Even and odd columns of 8 tiles at a stride of 2 (lanes 0 1 4 5 2 3 6 7).
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VMOVUPS 8(SI), Y4
	VMOVUPS 40(SI), Y5
	VSHUFPS $0x88, Y5, Y4, Y6
	VSHUFPS $0xDD, Y5, Y4, Y7
	BT2
	VMOVUPS Y8, 0(DX)
	VMOVUPS Y9, 32(DX)
	VMOVUPS Y10, 64(DX)
	VMOVUPS Y11, 96(DX)
	ADDQ    BX, SI
	ADDQ    $128, DX
	DECQ    CX
	JNZ     in2row

	LEAQ 0(SP), DX
	MOVQ R8, R9
	SHLQ $2, R9              // 4 xis
	LEAQ (R9)(R9*2), R10     // 12 xis
	MOVQ $4, CX

in2col:
	VMOVUPS 0(DX), Y2
	VMOVUPS 128(DX), Y3
	VMOVUPS 256(DX), Y6
	VMOVUPS 384(DX), Y7
	BT2
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, (DI)(R9*1)
	VMOVUPS Y10, (DI)(R9*2)
	VMOVUPS Y11, (DI)(R10*1)
	ADDQ    $32, DX
	ADDQ    R8, DI
	DECQ    CX
	JNZ     in2col

	VZEROUPPER
	RET

// AT2ROW loads m[i][0..3] from (SI) and leaves A^T m in o0, o1.
#define AT2ROW(o0, o1) \
	VMOVUPS (SI), Y0        \
	VMOVUPS (SI)(R8*1), Y1  \
	VMOVUPS (SI)(R8*2), Y2  \
	VMOVUPS (SI)(R10*1), Y3 \
	VADDPS  Y1, Y0, o0      \
	VADDPS  Y2, o0, o0      \
	VSUBPS  Y2, Y1, o1      \
	VSUBPS  Y3, o1, o1      \
	ADDQ    R9, SI

// func wgOutput2AVX2(src *float32, xis int, dst *float32, ldd int)
TEXT ·wgOutput2AVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ xis+8(FP), R8
	SHLQ $2, R8
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), BX
	SHLQ $2, BX
	LEAQ (R8)(R8*2), R10     // 3 xis
	LEAQ (R8*4), R9          // 4 xis
	AT2ROW(Y4, Y5)
	AT2ROW(Y6, Y7)
	AT2ROW(Y8, Y9)
	AT2ROW(Y10, Y11)

	// Columns: y[0][q] = t0q + t1q + t2q, y[1][q] = t1q - t2q - t3q.
	VADDPS Y6, Y4, Y12
	VADDPS Y8, Y12, Y12
	VSUBPS Y8, Y6, Y13
	VSUBPS Y10, Y13, Y13
	VADDPS Y7, Y5, Y14
	VADDPS Y9, Y14, Y14
	VSUBPS Y9, Y7, Y15
	VSUBPS Y11, Y15, Y15

	VUNPCKLPS Y14, Y12, Y0
	VUNPCKHPS Y14, Y12, Y1
	VUNPCKLPS Y15, Y13, Y2
	VUNPCKHPS Y15, Y13, Y3
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, (DI)(BX*1)
	VMOVUPS   Y3, 32(DI)(BX*1)
	VZEROUPPER
	RET

// GEMMROW16(off, b, acc0, acc1): acc += u[off] * (Y12, Y13).
#define GEMMROW16(off, b, acc0, acc1) \
	VBROADCASTSS off(SI), b      \
	VFMADD231PS  Y12, b, acc0   \
	VFMADD231PS  Y13, b, acc1

// GEMMSTEP16(uoff, voff): one step of k for the 6x16 tile.
#define GEMMSTEP16(uoff, voff) \
	VMOVUPS voff(DI), Y12                   \
	VMOVUPS voff+32(DI), Y13                \
	GEMMROW16(uoff, Y14, Y0, Y1)            \
	GEMMROW16(uoff+4, Y15, Y2, Y3)          \
	GEMMROW16(uoff+8, Y14, Y4, Y5)          \
	GEMMROW16(uoff+12, Y15, Y6, Y7)         \
	GEMMROW16(uoff+16, Y14, Y8, Y9)         \
	GEMMROW16(uoff+20, Y15, Y10, Y11)

// func wgGemm6x16AVX2(k int, u, v, m *float32, ldm, np, vstride int)
//
// np panels: panel q reads v + q*vstride floats and writes m + 16q.
TEXT ·wgGemm6x16AVX2(SB), NOSPLIT, $0-56
	MOVQ ldm+32(FP), BX
	SHLQ $2, BX
	MOVQ np+40(FP), R8
	MOVQ v+16(FP), R9
	MOVQ m+24(FP), R10
	MOVQ vstride+48(FP), R11
	SHLQ $2, R11

g16panel:
	MOVQ   k+0(FP), CX
	MOVQ   u+8(FP), SI
	MOVQ   R9, DI
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
	SUBQ   $2, CX
	JLT    g16one

g16loop:
	GEMMSTEP16(0, 0)
	GEMMSTEP16(24, 64)
	ADDQ $48, SI
	ADDQ $128, DI
	SUBQ $2, CX
	JGE  g16loop

g16one:
	ADDQ $2, CX
	JZ   g16store
	GEMMSTEP16(0, 0)

g16store:
	MOVQ    R10, DX
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	ADDQ    BX, DX
	VMOVUPS Y2, (DX)
	VMOVUPS Y3, 32(DX)
	ADDQ    BX, DX
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	ADDQ    BX, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	ADDQ    BX, DX
	VMOVUPS Y8, (DX)
	VMOVUPS Y9, 32(DX)
	ADDQ    BX, DX
	VMOVUPS Y10, (DX)
	VMOVUPS Y11, 32(DX)
	ADDQ    R11, R9
	ADDQ    $64, R10
	DECQ    R8
	JNZ     g16panel
	VZEROUPPER
	RET

// GEMMSTEP8(uoff, voff, acc): one step of k for the 6x8 tile into the
// accumulators Y(acc)..Y(acc+5); even and odd steps use separate sets so
// that 12 chains keep both FMA pipes busy.
#define GEMMSTEP8(uoff, voff, a0, a1, a2, a3, a4, a5) \
	VMOVUPS      voff(DI), Y12          \
	VBROADCASTSS uoff(SI), Y13          \
	VFMADD231PS  Y12, Y13, a0           \
	VBROADCASTSS uoff+4(SI), Y14        \
	VFMADD231PS  Y12, Y14, a1           \
	VBROADCASTSS uoff+8(SI), Y15        \
	VFMADD231PS  Y12, Y15, a2           \
	VBROADCASTSS uoff+12(SI), Y13       \
	VFMADD231PS  Y12, Y13, a3           \
	VBROADCASTSS uoff+16(SI), Y14       \
	VFMADD231PS  Y12, Y14, a4           \
	VBROADCASTSS uoff+20(SI), Y15       \
	VFMADD231PS  Y12, Y15, a5

// func wgGemm6x8AVX2(k int, u, v, m *float32, ldm int)
TEXT ·wgGemm6x8AVX2(SB), NOSPLIT, $0-40
	MOVQ   k+0(FP), CX
	MOVQ   u+8(FP), SI
	MOVQ   v+16(FP), DI
	MOVQ   m+24(FP), DX
	MOVQ   ldm+32(FP), BX
	SHLQ   $2, BX
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
	SUBQ   $2, CX
	JLT    g8one

g8loop:
	GEMMSTEP8(0, 0, Y0, Y1, Y2, Y3, Y4, Y5)
	GEMMSTEP8(24, 64, Y6, Y7, Y8, Y9, Y10, Y11)
	ADDQ $48, SI
	ADDQ $128, DI
	SUBQ $2, CX
	JGE  g8loop

g8one:
	ADDQ $2, CX
	JZ   g8store
	GEMMSTEP8(0, 0, Y0, Y1, Y2, Y3, Y4, Y5)

g8store:
	VADDPS  Y6, Y0, Y0
	VADDPS  Y7, Y1, Y1
	VADDPS  Y8, Y2, Y2
	VADDPS  Y9, Y3, Y3
	VADDPS  Y10, Y4, Y4
	VADDPS  Y11, Y5, Y5
	VMOVUPS Y0, (DX)
	ADDQ    BX, DX
	VMOVUPS Y1, (DX)
	ADDQ    BX, DX
	VMOVUPS Y2, (DX)
	ADDQ    BX, DX
	VMOVUPS Y3, (DX)
	ADDQ    BX, DX
	VMOVUPS Y4, (DX)
	ADDQ    BX, DX
	VMOVUPS Y5, (DX)
	VZEROUPPER
	RET

// func epiRowAVX2(dst, src, res *float32, n int, bias float32, act int, next int)
//
// The clamps put the value in the second source of VMAXPS/VMINPS, which
// is what they return for NaN, so NaNs pass through as in activate.
TEXT ·epiRowAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         res+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS bias+32(FP), Y0
	MOVQ         act+40(FP), AX
	MOVQ         next+48(FP), R8
	SHLQ         $2, R8
	VBROADCASTSS wgNegInf<>(SB), Y1
	VBROADCASTSS wgPosInf<>(SB), Y2
	CMPQ         AX, $0
	JEQ          epiclamp
	VXORPS       Y1, Y1, Y1
	CMPQ         AX, $2
	JNE          epiclamp
	VBROADCASTSS wgc6<>(SB), Y2

epiclamp:
	TESTQ DX, DX
	JZ    epino8

epires8:
	CMPQ    CX, $8
	JLT     epires1
	// PREFETCHW (DI)(R8*1), which the assembler does not know.
	BYTE $0x42; BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x07
	VMOVUPS (SI), Y3
	VADDPS  Y0, Y3, Y3
	VADDPS  (DX), Y3, Y3
	VMAXPS  Y3, Y1, Y3
	VMINPS  Y3, Y2, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     epires8

epires1:
	TESTQ  CX, CX
	JZ     epidone
	VMOVSS (SI), X3
	VADDSS X0, X3, X3
	VADDSS (DX), X3, X3
	VMAXSS X3, X1, X3
	VMINSS X3, X2, X3
	VMOVSS X3, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DX
	ADDQ   $4, DI
	DECQ   CX
	JMP    epires1

epino8:
	CMPQ    CX, $8
	JLT     epino1
	// PREFETCHW (DI)(R8*1), which the assembler does not know.
	BYTE $0x42; BYTE $0x0F; BYTE $0x0D; BYTE $0x0C; BYTE $0x07
	VMOVUPS (SI), Y3
	VADDPS  Y0, Y3, Y3
	VMAXPS  Y3, Y1, Y3
	VMINPS  Y3, Y2, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     epino8

epino1:
	TESTQ  CX, CX
	JZ     epidone
	VMOVSS (SI), X3
	VADDSS X0, X3, X3
	VMAXSS X3, X1, X3
	VMINSS X3, X2, X3
	VMOVSS X3, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    epino1

epidone:
	VZEROUPPER
	RET
