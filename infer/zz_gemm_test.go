package infer

import (
	"fmt"
	"testing"

	"github.com/convnet/convnet/tensor/kernels"
)

func TestZZGemm(t *testing.T) {
	for _, sh := range [][3]int{{512, 49, 4608}, {256, 49, 4608}, {256, 3136, 64}, {256, 784, 64}, {64, 3136, 576}, {64, 1568, 576}} {
		m, n, k := sh[0], sh[1], sh[2]
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = float32(i % 7)
		}
		for i := range b {
			b[i] = float32(i % 5)
		}
		var t1, t2 float64 = 1e9, 1e9
		for r := 0; r < 5; r++ {
			t1 = min(t1, minTime(3, func() { kernels.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }))
			t2 = min(t2, minTime(3, func() { kernels.SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }))
		}
		f := 2 * float64(m*n*k) / 1e6
		fmt.Printf("%v: Sgemm %.2f ms %.1f GF/s   Serial %.2f ms %.1f GF/s\n", sh, t1, f/t1, t2, f/t2)
	}
}
