package infer

import (
	"testing"

	"github.com/convnet/convnet/tensor/kernels"
)

// BenchmarkMaxPoolPlane is SqueezeNet's first max pooling (3x3, stride 2,
// ceil mode) over one 111x111 plane.
func BenchmarkMaxPoolPlane(b *testing.B) {
	p := &kernels.PoolParams{N: 1, C: 1, H: 111, W: 111, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, OH: 55, OW: 55}
	x := make([]float32, p.H*p.W)
	for i := range x {
		x[i] = float32(i%97) - 40
	}
	y := make([]float32, p.OH*p.OW)
	vmax := make([]float32, maxPoolRow(p))
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		maxPoolPlane(p, x, y, vmax)
	}
}
