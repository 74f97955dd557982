//go:build !amd64 || noasm

package kernels

// Without assembly the row kernels are the pure-Go ones.
func rowAsmKernels() *rowKernels { return nil }
