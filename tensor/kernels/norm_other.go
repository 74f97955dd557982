//go:build !amd64 || noasm

package kernels

// Without assembly the BatchNorm rows are the pure-Go ones.
func normAsmKernels() *normKernels { return nil }
