package tensor

import "testing"

// TestEmptyReusesRecycled: Empty hands out a recycled buffer of the same
// size, the recycled tensor is emptied, small and sliced buffers are not
// pooled, and the pool stops at PoolMaxBytes.
func TestEmptyReusesRecycled(t *testing.T) {
	a := Empty(3, poolMinFloats)
	p := &a.Data[0]
	Recycle(a)
	if len(a.Data) != 0 {
		t.Fatalf("recycled tensor kept %d values", len(a.Data))
	}
	b := Empty(poolMinFloats, 3)
	if &b.Data[0] != p || len(b.Data) != 3*poolMinFloats || b.Shape[0] != poolMinFloats {
		t.Fatalf("Empty did not reuse the recycled buffer with the new shape")
	}
	small := New(10)
	Recycle(small)
	if len(small.Data) != 10 {
		t.Error("a small tensor was pooled")
	}
	view := &Tensor{Shape: []int{poolMinFloats}, Data: b.Data[:poolMinFloats]}
	Recycle(view)
	if len(view.Data) != poolMinFloats {
		t.Error("a slice of a larger buffer was pooled")
	}
	defer func(m int64) { PoolMaxBytes = m }(PoolMaxBytes)
	PoolMaxBytes = 0
	Recycle(b)
	if c := Empty(poolMinFloats, 3); &c.Data[0] == p {
		t.Error("a buffer was pooled beyond PoolMaxBytes")
	}
}
