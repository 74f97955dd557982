package kernels

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocHuge over-allocates by a huge page, so that the slice can start on
// a 2 MiB boundary, and advises the whole huge pages of the slice before
// anything touches them (a page faulted in at 4 KiB stays so until
// khugepaged gets to it). The slack before and after is never touched, so
// it costs address space, not memory. The Go heap does not move objects,
// and the advice stays with the pages for the buffer's life.
func allocHuge(n int) []float32 {
	buf := make([]float32, n+hugePage/4)
	addr := uintptr(unsafe.Pointer(&buf[0]))
	off := int((hugePage - addr%hugePage) % hugePage / 4)
	s := buf[off : off+n : off+n]
	if whole := (n * 4) &^ (hugePage - 1); whole > 0 {
		// An error (a kernel without THP) leaves ordinary pages: fine.
		_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), whole), unix.MADV_HUGEPAGE)
	}
	return s
}
