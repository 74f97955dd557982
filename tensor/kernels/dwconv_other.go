//go:build !amd64 || noasm

package kernels

// Without assembly the depthwise kernel is the pure-Go one.
func dwAsmKernel() dwPlaneFunc { return nil }

func dwAsmPadCopy() dwPadCopyFunc { return nil }
