//go:build !noasm

package kernels

// gemv4AVX2 sets y[r] = sum_{p<k} w[r*ldw+p]*x[p] for r < 4; k is a
// positive multiple of 16.
//
//go:noescape
func gemv4AVX2(w *float32, ldw int, x *float32, k int, y *float32)

func gemvAsm() func(m, k int, a []float32, lda int, x, y []float32) {
	if !cpuAVX2FMA {
		return nil
	}
	return gemvAVX2
}

func gemvAVX2(m, k int, a []float32, lda int, x, y []float32) {
	kv := k &^ 15
	m4 := m &^ 3
	if kv == 0 {
		gemvTail(0, m, 0, k, a, lda, x, y, false)
		return
	}
	for i := 0; i < m4; i += 4 {
		_ = a[(i+3)*lda+kv-1]
		gemv4AVX2(&a[i*lda], lda, &x[0], kv, &y[i])
	}
	if kv < k {
		gemvTail(0, m4, kv, k, a, lda, x, y, true)
	}
	gemvTail(m4, m, 0, k, a, lda, x, y, false)
}
