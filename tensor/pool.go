package tensor

import "sync"

// Storage reuse for training. A training step allocates the same few
// dozen activation and gradient buffers every step; fresh ones cost a
// page fault per 4 KiB on first touch, Go's zeroing, and garbage
// collections that let the heap grow to twice the live size. Buffers
// handed back with Recycle (autograd does it for a graph it has finished
// with) are given out again by Empty, so steady-state training reuses
// one step's worth of memory.

// poolMinFloats: smaller buffers are cheap to allocate and not pooled.
const poolMinFloats = 1 << 12

// PoolMaxBytes bounds the memory kept for reuse; buffers beyond it are
// left to the garbage collector.
var PoolMaxBytes int64 = 8 << 30

var pool = struct {
	sync.Mutex
	free  map[int][][]float32
	bytes int64
}{free: map[int][][]float32{}}

// Empty returns a tensor of the given shape whose contents are
// unspecified (a recycled buffer when one of exactly that size is free,
// else zeros): for outputs that the caller writes in full.
func Empty(shape ...int) *Tensor {
	n := Numel(shape)
	if n >= poolMinFloats {
		pool.Lock()
		if l := pool.free[n]; len(l) > 0 {
			d := l[len(l)-1]
			l[len(l)-1] = nil
			pool.free[n] = l[:len(l)-1]
			pool.bytes -= int64(4 * n)
			pool.Unlock()
			return &Tensor{Shape: append([]int(nil), shape...), Data: d}
		}
		pool.Unlock()
	}
	return New(shape...)
}

// Recycle hands t's storage to Empty for reuse. The caller must hold the
// only reference to that storage (no view of it may be used afterwards);
// t itself is left with empty Data, so that a stray use fails loudly
// (index out of range) instead of reading another tensor's values.
func Recycle(t *Tensor) {
	if t == nil || len(t.Data) < poolMinFloats || cap(t.Data) != len(t.Data) {
		return
	}
	d := t.Data
	t.Data = d[:0]
	pool.Lock()
	defer pool.Unlock()
	if pool.bytes+int64(4*len(d)) > PoolMaxBytes {
		return
	}
	pool.free[len(d)] = append(pool.free[len(d)], d)
	pool.bytes += int64(4 * len(d))
}
