package kernels

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n;
// lda, ldb and ldc are the row strides of A, B and C as stored. It follows
// BLAS semantics: when beta is 0, C is not read (NaNs in C do not propagate).
//
// Sgemm parallelises over the worker pool; SgemmSerial does not and is meant
// for callers that already run one GEMM per worker.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true)
}

// SgemmSerial is Sgemm on the calling goroutine only.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false)
}

// SgemmRef is the reference GEMM: three obvious loops, accumulating in
// float64 so that tests can bound the fast kernels' rounding error.
//
//	for i, j: C[i,j] = alpha * sum_p op(A)[i,p]*op(B)[p,j] + beta*C[i,j]
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			r := float32(float64(alpha) * s)
			if beta != 0 {
				r += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = r
		}
	}
}
