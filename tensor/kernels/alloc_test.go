package kernels

import (
	"testing"
	"unsafe"
)

func TestAllocLarge(t *testing.T) {
	for _, n := range []int{0, 1, 1000, hugePage / 4, 2*hugePage/4 - 1, 2 * hugePage / 4, 3*hugePage/4 + 5} {
		s := AllocLarge(n)
		if len(s) != n || cap(s) != n && n*4 >= 2*hugePage {
			t.Fatalf("AllocLarge(%d): len %d cap %d", n, len(s), cap(s))
		}
		for i, v := range s {
			if v != 0 {
				t.Fatalf("AllocLarge(%d)[%d] = %g, want 0", n, i, v)
			}
		}
		if n*4 >= 2*hugePage && hugePagesOn && uintptr(unsafe.Pointer(&s[0]))%hugePage != 0 {
			t.Errorf("AllocLarge(%d) not on a 2 MiB boundary", n)
		}
		if n > 0 {
			s[0], s[n-1] = 1, 2 // writable to both ends
		}
	}
}
