//go:build !amd64 || noasm

package kernels

// Without assembly the packed convolution runs its pure-Go kernels.
func pcAsmKernels() *pcKernels { return nil }
