//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// counts are only meaningful without it.

package kernels

import "testing"

// A warm GEMM allocates nothing: the inference plan's steady state depends
// on it.
func TestSgemmAllocsNothing(t *testing.T) {
	for _, sz := range [][3]int{{64, 3136, 64}, {64, 64, 64}, {512, 49, 4608}, {1, 1000, 512}, {300, 300, 300}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		// Pooled scratch can be emptied by a GC mid-measurement; a
		// steady-state allocation shows in every attempt, so take the fewest.
		serial, par := fewest(func() { SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }),
			fewest(func() { Sgemm(false, true, m, n, k, 1, a, k, b, k, 1, c, n) })
		if serial != 0 || par != 0 {
			t.Errorf("m,n,k=%v: %v allocations serial, %v parallel; want 0", sz, serial, par)
		}
	}
}

func fewest(f func()) float64 {
	least := testing.AllocsPerRun(5, f)
	for try := 0; try < 2 && least > 0; try++ {
		least = min(least, testing.AllocsPerRun(5, f))
	}
	return least
}
