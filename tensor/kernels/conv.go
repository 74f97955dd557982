package kernels

import "sync"

// ConvParams describes a 2-D convolution in PyTorch's terms (NCHW input,
// weight [Cout, Cin/Groups, KH, KW]). OH and OW must already be
// (H + 2P - D*(K-1) - 1)/S + 1.
type ConvParams struct {
	N, C, H, W     int
	Cout, KH, KW   int
	SH, SW, PH, PW int
	DH, DW         int
	Groups         int
	OH, OW         int
}

func (p *ConvParams) cinG() int  { return p.C / p.Groups }
func (p *ConvParams) coutG() int { return p.Cout / p.Groups }
func (p *ConvParams) colRows() int {
	return p.cinG() * p.KH * p.KW
}

// pointwise reports whether the convolution is a plain matrix product per
// image: 1x1 kernel, stride 1, no padding. Then im2col would be a copy of
// the input and is skipped.
func (p *ConvParams) pointwise() bool {
	return p.KH == 1 && p.KW == 1 && p.SH == 1 && p.SW == 1 && p.PH == 0 && p.PW == 0
}

// Depthwise reports whether every group has one input channel and one
// output channel per group-multiplier, the case the direct kernel handles.
func (p *ConvParams) Depthwise() bool {
	return p.Groups == p.C && p.Groups > 1
}

// Flops returns 2 * multiply-adds of the forward pass.
func (p *ConvParams) Flops() float64 {
	return 2 * float64(p.N) * float64(p.Cout) * float64(p.OH*p.OW) * float64(p.colRows())
}

// useTrainPacked routes the training passes through trainconv.go; the
// im2col paths below stay as the reference the tests compare it with.
var useTrainPacked = true

var colPool sync.Pool

func getBuf(n int) *[]float32 {
	if v := colPool.Get(); v != nil {
		b := v.(*[]float32)
		if cap(*b) >= n {
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]float32, n)
	return &b
}

func putBuf(b *[]float32) { colPool.Put(b) }

// Im2col unrolls one image's channels [c0, c0+cin) into col, a
// (cin*KH*KW) x (OH*OW) matrix; padding reads as zero.
func Im2col(p *ConvParams, x []float32, cin int, col []float32) {
	ohw := p.OH * p.OW
	for c := 0; c < cin; c++ {
		xc := x[c*p.H*p.W : (c+1)*p.H*p.W]
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				row := col[((c*p.KH+kh)*p.KW+kw)*ohw:][:ohw]
				idx := 0
				for oh := 0; oh < p.OH; oh++ {
					ih := oh*p.SH - p.PH + kh*p.DH
					if ih < 0 || ih >= p.H {
						clear(row[idx : idx+p.OW])
						idx += p.OW
						continue
					}
					xr := xc[ih*p.W : (ih+1)*p.W]
					iw := kw*p.DW - p.PW
					if p.SW == 1 && iw >= 0 && iw+p.OW <= p.W {
						copy(row[idx:idx+p.OW], xr[iw:iw+p.OW])
						idx += p.OW
						continue
					}
					for ow := 0; ow < p.OW; ow++ {
						if iw >= 0 && iw < p.W {
							row[idx] = xr[iw]
						} else {
							row[idx] = 0
						}
						idx++
						iw += p.SW
					}
				}
			}
		}
	}
}

// Col2im adds col (the layout Im2col writes) back into image channels
// x[0:cin]. x must be zeroed by the caller if it should only hold the sum.
func Col2im(p *ConvParams, col []float32, cin int, x []float32) {
	ohw := p.OH * p.OW
	for c := 0; c < cin; c++ {
		xc := x[c*p.H*p.W : (c+1)*p.H*p.W]
		for kh := 0; kh < p.KH; kh++ {
			for kw := 0; kw < p.KW; kw++ {
				row := col[((c*p.KH+kh)*p.KW+kw)*ohw:][:ohw]
				idx := 0
				for oh := 0; oh < p.OH; oh++ {
					ih := oh*p.SH - p.PH + kh*p.DH
					if ih < 0 || ih >= p.H {
						idx += p.OW
						continue
					}
					xr := xc[ih*p.W : (ih+1)*p.W]
					iw := kw*p.DW - p.PW
					for ow := 0; ow < p.OW; ow++ {
						if iw >= 0 && iw < p.W {
							xr[iw] += row[idx]
						}
						idx++
						iw += p.SW
					}
				}
			}
		}
	}
}

// Conv2dForward computes y = conv(x, w) + bias. bias may be nil.
func Conv2dForward(p *ConvParams, x, w, bias, y []float32) {
	if p.Depthwise() {
		if useTrainPacked && DepthwiseConv3x3Supported(p) {
			var ep *Epilogue
			if bias != nil {
				ep = &Epilogue{Bias: bias}
			}
			DepthwiseConv3x3(p, x, w, y, ep)
			return
		}
		depthwiseForward(p, x, w, bias, y)
		return
	}
	if useTrainPacked && runPacked(p, x, w, bias, y) {
		return
	}
	cinG, coutG := p.cinG(), p.coutG()
	ohw := p.OH * p.OW
	kk := p.colRows()
	units := p.N * p.Groups
	one := func(u int, col []float32, par bool) {
		n, g := u/p.Groups, u%p.Groups
		xg := x[(n*p.C+g*cinG)*p.H*p.W:]
		yg := y[(n*p.Cout+g*coutG)*ohw:][:coutG*ohw]
		wg := w[g*coutG*kk:][:coutG*kk]
		src := xg
		if !p.pointwise() {
			Im2col(p, xg, cinG, col)
			src = col
		}
		gemm := SgemmSerial
		if par {
			gemm = Sgemm
		}
		gemm(false, false, coutG, ohw, kk, 1, wg, kk, src, ohw, 0, yg, ohw)
		if bias != nil {
			for o := 0; o < coutG; o++ {
				b := bias[g*coutG+o]
				row := yg[o*ohw : (o+1)*ohw]
				for i := range row {
					row[i] += b
				}
			}
		}
	}
	colN := 0
	if !p.pointwise() {
		colN = kk * ohw
	}
	if units >= Workers() {
		Parallel(units, 1, func(lo, hi int) {
			buf := getBuf(colN)
			for u := lo; u < hi; u++ {
				one(u, *buf, false)
			}
			putBuf(buf)
		})
		return
	}
	buf := getBuf(colN)
	for u := 0; u < units; u++ {
		one(u, *buf, true)
	}
	putBuf(buf)
}

// Conv2dBackwardData computes dx (overwritten) from dy and w.
func Conv2dBackwardData(p *ConvParams, dy, w, dx []float32) {
	if p.Depthwise() {
		if q, ok := backwardDataAsConv(p); ok && useTrainPacked && DepthwiseConv3x3Supported(&q) {
			// Stride 1: the flipped kernel over dy, another depthwise 3x3.
			wt := getBuf(len(w))
			flipWeights(p, w, *wt)
			DepthwiseConv3x3(&q, dy, *wt, dx, nil)
			putBuf(wt)
			return
		}
		depthwiseBackwardData(p, dy, w, dx)
		return
	}
	if useTrainPacked && backwardDataPacked(p, dy, w, dx) {
		return
	}
	cinG, coutG := p.cinG(), p.coutG()
	ohw := p.OH * p.OW
	kk := p.colRows()
	units := p.N * p.Groups
	one := func(u int, col []float32, par bool) {
		n, g := u/p.Groups, u%p.Groups
		dxg := dx[(n*p.C+g*cinG)*p.H*p.W:][:cinG*p.H*p.W]
		dyg := dy[(n*p.Cout+g*coutG)*ohw:][:coutG*ohw]
		wg := w[g*coutG*kk:][:coutG*kk]
		gemm := SgemmSerial
		if par {
			gemm = Sgemm
		}
		if p.pointwise() {
			gemm(true, false, kk, ohw, coutG, 1, wg, kk, dyg, ohw, 0, dxg, ohw)
			return
		}
		gemm(true, false, kk, ohw, coutG, 1, wg, kk, dyg, ohw, 0, col, ohw)
		clear(dxg)
		Col2im(p, col, cinG, dxg)
	}
	colN := kk * ohw
	if units >= Workers() {
		Parallel(units, 1, func(lo, hi int) {
			buf := getBuf(colN)
			for u := lo; u < hi; u++ {
				one(u, *buf, false)
			}
			putBuf(buf)
		})
		return
	}
	buf := getBuf(colN)
	for u := 0; u < units; u++ {
		one(u, *buf, true)
	}
	putBuf(buf)
}

// Conv2dBackwardWeight computes dw (overwritten) and, if db is not nil, db
// (overwritten) from x and dy.
func Conv2dBackwardWeight(p *ConvParams, x, dy, dw, db []float32) {
	if db != nil {
		ohw := p.OH * p.OW
		clear(db)
		for n := 0; n < p.N; n++ {
			for o := 0; o < p.Cout; o++ {
				var s float32
				for _, v := range dy[(n*p.Cout+o)*ohw : (n*p.Cout+o+1)*ohw] {
					s += v
				}
				db[o] += s
			}
		}
	}
	if p.Depthwise() {
		depthwiseBackwardWeight(p, x, dy, dw)
		return
	}
	if useTrainPacked {
		backwardWeightPacked(p, x, dy, dw)
		return
	}
	cinG, coutG := p.cinG(), p.coutG()
	ohw := p.OH * p.OW
	kk := p.colRows()
	// acc accumulates over images n for every group into dwAcc.
	accumulate := func(n0, n1 int, dwAcc, col []float32, par bool) {
		gemm := SgemmSerial
		if par {
			gemm = Sgemm
		}
		for n := n0; n < n1; n++ {
			for g := 0; g < p.Groups; g++ {
				xg := x[(n*p.C+g*cinG)*p.H*p.W:]
				dyg := dy[(n*p.Cout+g*coutG)*ohw:][:coutG*ohw]
				src := xg
				if !p.pointwise() {
					Im2col(p, xg, cinG, col)
					src = col
				}
				gemm(false, true, coutG, kk, ohw, 1, dyg, ohw, src, ohw, 1, dwAcc[g*coutG*kk:], kk)
			}
		}
	}
	clear(dw)
	colN := 0
	if !p.pointwise() {
		colN = kk * ohw
	}
	w := Workers()
	if p.N >= w && w > 1 {
		// Each worker sums its images into a private buffer; the buffers
		// are added at the end, so no two workers write the same memory.
		parts := make([][]float32, w)
		step := (p.N + w - 1) / w
		Parallel(w, 1, func(lo, hi int) {
			buf := getBuf(colN)
			for i := lo; i < hi; i++ {
				acc := make([]float32, len(dw))
				accumulate(i*step, min(p.N, (i+1)*step), acc, *buf, false)
				parts[i] = acc
			}
			putBuf(buf)
		})
		for _, part := range parts {
			for i, v := range part {
				dw[i] += v
			}
		}
		return
	}
	buf := getBuf(colN)
	accumulate(0, p.N, dw, *buf, true)
	putBuf(buf)
}
