package infer

import (
	"fmt"
	"testing"

	"github.com/convnet/convnet/tensor/kernels"
)

func TestZZFC(t *testing.T) {
	in, out := 25088, 4096
	w := make([]float32, in*out)
	for i := range w {
		w[i] = float32(i%13) * 0.01
	}
	x := make([]float32, in)
	y := make([]float32, out)
	a := cpuTime(3, func() { kernels.Sgemm(false, true, out, 1, in, 1, w, in, x, in, 0, y, 1) })
	b := cpuTime(3, func() { kernels.Sgemm(false, true, 1, out, in, 1, x, in, w, in, 0, y, out) })
	c := cpuTime(3, func() {
		for o := 0; o < out; o++ {
			row := w[o*in : (o+1)*in]
			var s0, s1, s2, s3 float32
			i := 0
			for ; i+4 <= in; i += 4 {
				s0 += row[i] * x[i]
				s1 += row[i+1] * x[i+1]
				s2 += row[i+2] * x[i+2]
				s3 += row[i+3] * x[i+3]
			}
			y[o] = s0 + s1 + s2 + s3
		}
	})
	fmt.Printf("W x^T: %.1f ms, x W^T: %.1f ms, go dot: %.1f ms (%.0f MB)\n", a, b, c, float64(in*out*4)/1e6)
}
