package kernels

import "math"

// PoolParams describes a 2-D pooling window over NCHW planes. OH and OW are
// computed by the caller (they depend on ceil_mode).
type PoolParams struct {
	N, C, H, W     int
	KH, KW         int
	SH, SW, PH, PW int
	DH, DW         int // dilation (max pooling only)
	OH, OW         int
}

// MaxPool2dForward writes the window maxima to y and, if idx is not nil,
// the flat index (h*W+w) of each maximum within its input plane, which the
// backward pass scatters to. Padding never wins: it reads as -Inf. A NaN in
// the window wins, as in PyTorch.
func MaxPool2dForward(p *PoolParams, x, y []float32, idx []int32) {
	ohw := p.OH * p.OW
	Parallel(p.N*p.C, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			xc := x[u*p.H*p.W:][:p.H*p.W]
			yc := y[u*ohw:][:ohw]
			for oh := 0; oh < p.OH; oh++ {
				for ow := 0; ow < p.OW; ow++ {
					best := float32(math.Inf(-1))
					bi := int32(-1)
					for kh := 0; kh < p.KH; kh++ {
						ih := oh*p.SH - p.PH + kh*p.DH
						if ih < 0 || ih >= p.H {
							continue
						}
						for kw := 0; kw < p.KW; kw++ {
							iw := ow*p.SW - p.PW + kw*p.DW
							if iw < 0 || iw >= p.W {
								continue
							}
							v := xc[ih*p.W+iw]
							if v > best || v != v || bi < 0 {
								best = v
								bi = int32(ih*p.W + iw)
								if v != v {
									goto done
								}
							}
						}
					}
				done:
					yc[oh*p.OW+ow] = best
					if idx != nil {
						idx[u*ohw+oh*p.OW+ow] = bi
					}
				}
			}
		}
	})
}

// MaxPool2dBackward scatters dy to the recorded argmax positions; dx is
// overwritten.
func MaxPool2dBackward(p *PoolParams, dy []float32, idx []int32, dx []float32) {
	ohw := p.OH * p.OW
	Parallel(p.N*p.C, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			dxc := dx[u*p.H*p.W:][:p.H*p.W]
			clear(dxc)
			ic := idx[u*ohw:][:ohw]
			for i, g := range dy[u*ohw : (u+1)*ohw] {
				if j := ic[i]; j >= 0 {
					dxc[j] += g
				}
			}
		}
	})
}

// avgWindow returns the clipped window [h0,h1) x [w0,w1) and PyTorch's
// divisor for it: with count_include_pad the window is clipped to the padded
// input (H+PH) before counting, without it to the input itself.
func avgWindow(p *PoolParams, oh, ow int, countIncludePad bool) (h0, h1, w0, w1 int, div float32) {
	h0 = oh*p.SH - p.PH
	w0 = ow*p.SW - p.PW
	h1 = min(h0+p.KH, p.H+p.PH)
	w1 = min(w0+p.KW, p.W+p.PW)
	size := (h1 - h0) * (w1 - w0)
	h0, w0 = max(h0, 0), max(w0, 0)
	h1, w1 = min(h1, p.H), min(w1, p.W)
	if countIncludePad {
		div = float32(size)
	} else {
		div = float32((h1 - h0) * (w1 - w0))
	}
	return
}

// AvgPool2dForward follows torch.nn.AvgPool2d (no divisor_override).
func AvgPool2dForward(p *PoolParams, x, y []float32, countIncludePad bool) {
	ohw := p.OH * p.OW
	Parallel(p.N*p.C, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			xc := x[u*p.H*p.W:][:p.H*p.W]
			yc := y[u*ohw:][:ohw]
			for oh := 0; oh < p.OH; oh++ {
				for ow := 0; ow < p.OW; ow++ {
					h0, h1, w0, w1, div := avgWindow(p, oh, ow, countIncludePad)
					var s float32
					for ih := h0; ih < h1; ih++ {
						for _, v := range xc[ih*p.W+w0 : ih*p.W+w1] {
							s += v
						}
					}
					if div > 0 {
						s /= div
					}
					yc[oh*p.OW+ow] = s
				}
			}
		}
	})
}

// AvgPool2dBackward spreads each output gradient evenly over its window;
// dx is overwritten.
func AvgPool2dBackward(p *PoolParams, dy, dx []float32, countIncludePad bool) {
	ohw := p.OH * p.OW
	Parallel(p.N*p.C, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			dxc := dx[u*p.H*p.W:][:p.H*p.W]
			clear(dxc)
			dyc := dy[u*ohw:][:ohw]
			for oh := 0; oh < p.OH; oh++ {
				for ow := 0; ow < p.OW; ow++ {
					h0, h1, w0, w1, div := avgWindow(p, oh, ow, countIncludePad)
					if div == 0 {
						continue
					}
					g := dyc[oh*p.OW+ow] / div
					for ih := h0; ih < h1; ih++ {
						row := dxc[ih*p.W+w0 : ih*p.W+w1]
						for i := range row {
							row[i] += g
						}
					}
				}
			}
		}
	})
}

// adaptiveRange is PyTorch's adaptive pooling window: [floor(i*in/out),
// ceil((i+1)*in/out)).
func adaptiveRange(i, in, out int) (int, int) {
	return (i * in) / out, ((i+1)*in + out - 1) / out
}

// AdaptiveAvgPool2dForward pools each NCHW plane to OH x OW.
func AdaptiveAvgPool2dForward(n, c, h, w, oh, ow int, x, y []float32) {
	Parallel(n*c, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			xc := x[u*h*w:][:h*w]
			yc := y[u*oh*ow:][:oh*ow]
			for i := 0; i < oh; i++ {
				h0, h1 := adaptiveRange(i, h, oh)
				for j := 0; j < ow; j++ {
					w0, w1 := adaptiveRange(j, w, ow)
					var s float32
					for ih := h0; ih < h1; ih++ {
						for _, v := range xc[ih*w+w0 : ih*w+w1] {
							s += v
						}
					}
					yc[i*ow+j] = s / float32((h1-h0)*(w1-w0))
				}
			}
		}
	})
}

// AdaptiveAvgPool2dBackward is the adjoint of AdaptiveAvgPool2dForward; dx
// is overwritten.
func AdaptiveAvgPool2dBackward(n, c, h, w, oh, ow int, dy, dx []float32) {
	Parallel(n*c, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			dxc := dx[u*h*w:][:h*w]
			clear(dxc)
			dyc := dy[u*oh*ow:][:oh*ow]
			for i := 0; i < oh; i++ {
				h0, h1 := adaptiveRange(i, h, oh)
				for j := 0; j < ow; j++ {
					w0, w1 := adaptiveRange(j, w, ow)
					g := dyc[i*ow+j] / float32((h1-h0)*(w1-w0))
					for ih := h0; ih < h1; ih++ {
						row := dxc[ih*w+w0 : ih*w+w1]
						for k := range row {
							row[k] += g
						}
					}
				}
			}
		}
	})
}
