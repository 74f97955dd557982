//go:build !amd64 || noasm

package kernels

// Without assembly only the pure-Go GEMM exists.
func asmGemmImpls() []*gemmImpl { return nil }

func fmaPeakLoops() []fmaLoop { return nil }
