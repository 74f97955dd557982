// Package kernels holds the compute kernels of convnet: GEMM, convolution
// (im2col, packed implicit-GEMM, Winograd, depthwise), pooling, the
// row kernels of inference plans and the worker pool that runs them in
// parallel. It works on plain []float32 slices and ints and imports nothing
// of convnet's, so that faster kernels can replace these without touching any
// layer above.
//
// Every kernel has a plain reference version; fast versions are tested
// against it on awkward sizes.
package kernels
