//go:build !noasm

#include "textflag.h"

// func gemv4AVX2(w *float32, ldw int, x *float32, k int, y *float32)
//
// Four rows against one x, 16 columns a step with two accumulators per
// row (the FMA latency), the weights as memory operands: one x load
// serves four rows. The four sums are reduced together by two rounds of
// VHADDPS and one 128-bit add.
TEXT ·gemv4AVX2(SB), NOSPLIT, $0-40
	MOVQ   w+0(FP), SI
	MOVQ   ldw+8(FP), BX
	SHLQ   $2, BX
	MOVQ   x+16(FP), DX
	MOVQ   k+24(FP), CX
	MOVQ   y+32(FP), DI
	LEAQ   (SI)(BX*1), R8
	LEAQ   (SI)(BX*2), R9
	LEAQ   (R8)(BX*2), R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX

loop:
	VMOVUPS     (DX)(AX*1), Y8
	VMOVUPS     32(DX)(AX*1), Y9
	VFMADD231PS (SI)(AX*1), Y8, Y0
	VFMADD231PS 32(SI)(AX*1), Y9, Y1
	VFMADD231PS (R8)(AX*1), Y8, Y2
	VFMADD231PS 32(R8)(AX*1), Y9, Y3
	VFMADD231PS (R9)(AX*1), Y8, Y4
	VFMADD231PS 32(R9)(AX*1), Y9, Y5
	VFMADD231PS (R10)(AX*1), Y8, Y6
	VFMADD231PS 32(R10)(AX*1), Y9, Y7
	ADDQ        $64, AX
	SUBQ        $16, CX
	JNZ         loop

	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y5, Y4, Y4
	VADDPS       Y7, Y6, Y6
	VHADDPS      Y2, Y0, Y0
	VHADDPS      Y6, Y4, Y4
	VHADDPS      Y4, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (DI)
	VZEROUPPER
	RET
