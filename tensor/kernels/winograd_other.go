//go:build !amd64 || noasm

package kernels

// Without assembly the Winograd kernels are the pure-Go ones.
func wgAsmKernels() *wgKernels { return nil }
