//go:build !noasm

#include "textflag.h"

// BatchNorm row kernels, AVX2 + FMA; see norm.go. n is a multiple of 8.
// Operands in Go's order: VSUBPS b, a, d is d = a - b; VFMADD231PS b, a, d
// is d += a*b; VFMADD213PS c, a, d is d = a*d + c.

// func sumRowAVX2(src *float32, n int) float32
TEXT ·sumRowAVX2(SB), NOSPLIT, $0-20
	MOVQ   src+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ   CX, $32
	JLT    sum8
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	SUBQ   $32, CX
	JMP    sum32

sum8:
	CMPQ   CX, $8
	JLT    sumdone
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    sum8

sumdone:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+16(FP)
	RET

// func sumSqDevRowAVX2(src *float32, n int, mu, lo float32) float32
TEXT ·sumSqDevRowAVX2(SB), NOSPLIT, $0-28
	MOVQ         src+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS mu+16(FP), Y4
	VBROADCASTSS lo+20(FP), Y5
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

sq32:
	CMPQ        CX, $32
	JLT         sq8
	VMOVUPS     (SI), Y6
	VMOVUPS     32(SI), Y7
	VMOVUPS     64(SI), Y8
	VMOVUPS     96(SI), Y9
	VSUBPS      Y4, Y6, Y6
	VSUBPS      Y4, Y7, Y7
	VSUBPS      Y4, Y8, Y8
	VSUBPS      Y4, Y9, Y9
	VSUBPS      Y5, Y6, Y6
	VSUBPS      Y5, Y7, Y7
	VSUBPS      Y5, Y8, Y8
	VSUBPS      Y5, Y9, Y9
	VFMADD231PS Y6, Y6, Y0
	VFMADD231PS Y7, Y7, Y1
	VFMADD231PS Y8, Y8, Y2
	VFMADD231PS Y9, Y9, Y3
	ADDQ        $128, SI
	SUBQ        $32, CX
	JMP         sq32

sq8:
	CMPQ        CX, $8
	JLT         sqdone
	VMOVUPS     (SI), Y6
	VSUBPS      Y4, Y6, Y6
	VSUBPS      Y5, Y6, Y6
	VFMADD231PS Y6, Y6, Y0
	ADDQ        $32, SI
	SUBQ        $8, CX
	JMP         sq8

sqdone:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+24(FP)
	RET

// func sumDotDevRowAVX2(gr, x *float32, n int, mu, lo float32) (sg, sgx float32)
TEXT ·sumDotDevRowAVX2(SB), NOSPLIT, $0-40
	MOVQ         gr+0(FP), SI
	MOVQ         x+8(FP), DX
	MOVQ         n+16(FP), CX
	VBROADCASTSS mu+24(FP), Y4
	VBROADCASTSS lo+28(FP), Y5
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y2, Y2, Y2
	VXORPS       Y3, Y3, Y3

dot16:
	CMPQ        CX, $16
	JLT         dot8
	VMOVUPS     (SI), Y6
	VMOVUPS     32(SI), Y7
	VMOVUPS     (DX), Y8
	VMOVUPS     32(DX), Y9
	VADDPS      Y6, Y0, Y0
	VADDPS      Y7, Y1, Y1
	VSUBPS      Y4, Y8, Y8
	VSUBPS      Y4, Y9, Y9
	VSUBPS      Y5, Y8, Y8
	VSUBPS      Y5, Y9, Y9
	VFMADD231PS Y8, Y6, Y2
	VFMADD231PS Y9, Y7, Y3
	ADDQ        $64, SI
	ADDQ        $64, DX
	SUBQ        $16, CX
	JMP         dot16

dot8:
	CMPQ        CX, $8
	JLT         dotdone
	VMOVUPS     (SI), Y6
	VMOVUPS     (DX), Y8
	VADDPS      Y6, Y0, Y0
	VSUBPS      Y4, Y8, Y8
	VSUBPS      Y5, Y8, Y8
	VFMADD231PS Y8, Y6, Y2
	ADDQ        $32, SI
	ADDQ        $32, DX
	SUBQ        $8, CX
	JMP         dot8

dotdone:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y2, X3
	VADDPS       X3, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VZEROUPPER
	MOVSS        X0, sg+32(FP)
	MOVSS        X2, sgx+36(FP)
	RET

// func normRowAVX2(dst, src *float32, n int, mu, lo, scale, shift float32)
TEXT ·normRowAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mu+24(FP), Y4
	VBROADCASTSS lo+28(FP), Y5
	VBROADCASTSS scale+32(FP), Y0
	VBROADCASTSS shift+36(FP), Y1

norm32:
	CMPQ        CX, $32
	JLT         norm8
	VMOVUPS     (SI), Y6
	VMOVUPS     32(SI), Y7
	VMOVUPS     64(SI), Y8
	VMOVUPS     96(SI), Y9
	VSUBPS      Y4, Y6, Y6
	VSUBPS      Y4, Y7, Y7
	VSUBPS      Y4, Y8, Y8
	VSUBPS      Y4, Y9, Y9
	VSUBPS      Y5, Y6, Y6
	VSUBPS      Y5, Y7, Y7
	VSUBPS      Y5, Y8, Y8
	VSUBPS      Y5, Y9, Y9
	VFMADD213PS Y1, Y0, Y6
	VFMADD213PS Y1, Y0, Y7
	VFMADD213PS Y1, Y0, Y8
	VFMADD213PS Y1, Y0, Y9
	VMOVUPS     Y6, (DI)
	VMOVUPS     Y7, 32(DI)
	VMOVUPS     Y8, 64(DI)
	VMOVUPS     Y9, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         norm32

norm8:
	CMPQ        CX, $8
	JLT         normdone
	VMOVUPS     (SI), Y6
	VSUBPS      Y4, Y6, Y6
	VSUBPS      Y5, Y6, Y6
	VFMADD213PS Y1, Y0, Y6
	VMOVUPS     Y6, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         norm8

normdone:
	VZEROUPPER
	RET

// func bnBackRowAVX2(dst, gr, x *float32, n int, kg, kx, kc, mu, lo float32)
TEXT ·bnBackRowAVX2(SB), NOSPLIT, $0-52
	MOVQ         dst+0(FP), DI
	MOVQ         gr+8(FP), SI
	MOVQ         x+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS kg+32(FP), Y0
	VBROADCASTSS kx+36(FP), Y1
	VBROADCASTSS kc+40(FP), Y2
	VBROADCASTSS mu+44(FP), Y4
	VBROADCASTSS lo+48(FP), Y5

back16:
	CMPQ        CX, $16
	JLT         back8
	VMOVUPS     (DX), Y6
	VMOVUPS     32(DX), Y7
	VSUBPS      Y4, Y6, Y6
	VSUBPS      Y4, Y7, Y7
	VSUBPS      Y5, Y6, Y6
	VSUBPS      Y5, Y7, Y7
	VFMADD213PS Y2, Y1, Y6
	VFMADD213PS Y2, Y1, Y7
	VFMADD231PS (SI), Y0, Y6
	VFMADD231PS 32(SI), Y0, Y7
	VMOVUPS     Y6, (DI)
	VMOVUPS     Y7, 32(DI)
	ADDQ        $64, SI
	ADDQ        $64, DX
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         back16

back8:
	CMPQ        CX, $8
	JLT         backdone
	VMOVUPS     (DX), Y6
	VSUBPS      Y4, Y6, Y6
	VSUBPS      Y5, Y6, Y6
	VFMADD213PS Y2, Y1, Y6
	VFMADD231PS (SI), Y0, Y6
	VMOVUPS     Y6, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DX
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         back8

backdone:
	VZEROUPPER
	RET

// func reluBackRowAVX2(dst, gr, x *float32, n int)
//
// dst = x > 0 ? g : 0; the ordered compare is false for NaN.
TEXT ·reluBackRowAVX2(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   gr+8(FP), SI
	MOVQ   x+16(FP), DX
	MOVQ   n+24(FP), CX
	VXORPS Y0, Y0, Y0

relu16:
	CMPQ    CX, $16
	JLT     relu8
	VMOVUPS (DX), Y1
	VMOVUPS 32(DX), Y2
	VCMPPS  $0x1e, Y0, Y1, Y1
	VCMPPS  $0x1e, Y0, Y2, Y2
	VANDPS  (SI), Y1, Y1
	VANDPS  32(SI), Y2, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     relu16

relu8:
	CMPQ    CX, $8
	JLT     reludone
	VMOVUPS (DX), Y1
	VCMPPS  $0x1e, Y0, Y1, Y1
	VANDPS  (SI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     relu8

reludone:
	VZEROUPPER
	RET
