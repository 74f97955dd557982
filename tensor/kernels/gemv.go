package kernels

// SgemvSerial sets y[i] = sum_p a[i*lda+p] * x[p] for i < m, p < k, on
// the calling goroutine: a fully connected layer applied to one image.
// The GEMM would pack the whole weight matrix for a single column (for a
// classifier, megabytes copied to be read once); this reads each weight
// once, four rows at a time, and is limited by memory bandwidth. Callers
// split the rows over the workers.
func SgemvSerial(m, k int, a []float32, lda int, x, y []float32) {
	if m <= 0 {
		return
	}
	if k < 0 || lda < k || len(a) < (m-1)*lda+k || len(x) < k || len(y) < m {
		panic("kernels: SgemvSerial: operand too short")
	}
	gemvImpl(m, k, a, lda, x[:k], y[:m])
}

var gemvImpl = selectGemv()

func selectGemv() func(m, k int, a []float32, lda int, x, y []float32) {
	if !forceGenericKernels {
		if f := gemvAsm(); f != nil {
			return f
		}
	}
	return gemvGo
}

func gemvGo(m, k int, a []float32, lda int, x, y []float32) {
	gemvTail(0, m, 0, k, a, lda, x, y, false)
}

// gemvTail sets (or, with add, adds to) y[i] the products over columns
// [p0, p1) for rows [i0, i1), four partial sums per row as the vector
// kernel keeps.
func gemvTail(i0, i1, p0, p1 int, a []float32, lda int, x, y []float32, add bool) {
	x = x[p0:p1]
	for i := i0; i < i1; i++ {
		r := a[i*lda+p0 : i*lda+p1]
		var s0, s1, s2, s3 float32
		p := 0
		for ; p+4 <= len(r); p += 4 {
			s0 += r[p] * x[p]
			s1 += r[p+1] * x[p+1]
			s2 += r[p+2] * x[p+2]
			s3 += r[p+3] * x[p+3]
		}
		for ; p < len(r); p++ {
			s0 += r[p] * x[p]
		}
		s := (s0 + s1) + (s2 + s3)
		if add {
			s += y[i]
		}
		y[i] = s
	}
}
