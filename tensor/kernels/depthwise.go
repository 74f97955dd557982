package kernels

// Depthwise convolution (groups == C): each output channel reads one input
// channel. An im2col GEMM would have k = KH*KW, far too small to pay, so a
// direct loop is used.

func depthwiseForward(p *ConvParams, x, w, bias, y []float32) {
	mult := p.Cout / p.C
	ohw := p.OH * p.OW
	kk := p.KH * p.KW
	Parallel(p.N*p.Cout, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			n, o := u/p.Cout, u%p.Cout
			c := o / mult
			xc := x[(n*p.C+c)*p.H*p.W:][:p.H*p.W]
			wo := w[o*kk:][:kk]
			yo := y[u*ohw:][:ohw]
			var b float32
			if bias != nil {
				b = bias[o]
			}
			for oh := 0; oh < p.OH; oh++ {
				for ow := 0; ow < p.OW; ow++ {
					s := b
					for kh := 0; kh < p.KH; kh++ {
						ih := oh*p.SH - p.PH + kh*p.DH
						if ih < 0 || ih >= p.H {
							continue
						}
						xr := xc[ih*p.W:][:p.W]
						wr := wo[kh*p.KW:][:p.KW]
						iw := ow*p.SW - p.PW
						for kw := 0; kw < p.KW; kw++ {
							if iw >= 0 && iw < p.W {
								s += xr[iw] * wr[kw]
							}
							iw += p.DW
						}
					}
					yo[oh*p.OW+ow] = s
				}
			}
		}
	})
}

func depthwiseBackwardData(p *ConvParams, dy, w, dx []float32) {
	mult := p.Cout / p.C
	ohw := p.OH * p.OW
	kk := p.KH * p.KW
	Parallel(p.N*p.C, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			n, c := u/p.C, u%p.C
			dxc := dx[u*p.H*p.W:][:p.H*p.W]
			clear(dxc)
			for m := 0; m < mult; m++ {
				o := c*mult + m
				wo := w[o*kk:][:kk]
				dyo := dy[(n*p.Cout+o)*ohw:][:ohw]
				for oh := 0; oh < p.OH; oh++ {
					for ow := 0; ow < p.OW; ow++ {
						g := dyo[oh*p.OW+ow]
						if g == 0 {
							continue
						}
						for kh := 0; kh < p.KH; kh++ {
							ih := oh*p.SH - p.PH + kh*p.DH
							if ih < 0 || ih >= p.H {
								continue
							}
							xr := dxc[ih*p.W:][:p.W]
							wr := wo[kh*p.KW:][:p.KW]
							iw := ow*p.SW - p.PW
							for kw := 0; kw < p.KW; kw++ {
								if iw >= 0 && iw < p.W {
									xr[iw] += g * wr[kw]
								}
								iw += p.DW
							}
						}
					}
				}
			}
		}
	})
}

func depthwiseBackwardWeight(p *ConvParams, x, dy, dw []float32) {
	mult := p.Cout / p.C
	ohw := p.OH * p.OW
	kk := p.KH * p.KW
	clear(dw)
	// Parallel over output channels: each owns its kk weights, so no two
	// workers write the same memory; the batch loop is inside.
	Parallel(p.Cout, 1, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			c := o / mult
			dwo := dw[o*kk:][:kk]
			for n := 0; n < p.N; n++ {
				xc := x[(n*p.C+c)*p.H*p.W:][:p.H*p.W]
				dyo := dy[(n*p.Cout+o)*ohw:][:ohw]
				for kh := 0; kh < p.KH; kh++ {
					for kw := 0; kw < p.KW; kw++ {
						var s float32
						for oh := 0; oh < p.OH; oh++ {
							ih := oh*p.SH - p.PH + kh*p.DH
							if ih < 0 || ih >= p.H {
								continue
							}
							xr := xc[ih*p.W:][:p.W]
							iw := kw*p.DW - p.PW
							dr := dyo[oh*p.OW:][:p.OW]
							for ow := 0; ow < p.OW; ow++ {
								if iw >= 0 && iw < p.W {
									s += xr[iw] * dr[ow]
								}
								iw += p.SW
							}
						}
						dwo[kh*p.KW+kw] += s
					}
				}
			}
		}
	})
}
