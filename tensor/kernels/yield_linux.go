package kernels

import (
	"syscall"
	"unsafe"
)

// osYield gives the CPU to another thread that wants it, if any: a
// spinning thread must not keep the one it waits for off a busy machine's
// cores.
func osYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }

// loadAverage returns the 1-minute load average from /proc/loadavg
// ("0.52 0.58 0.59 1/123 4567"), without allocating: plans check it while
// they run.
func loadAverage() (float64, bool) {
	// syscall.Open would allocate the C string of the path.
	r, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&loadavgPath[0])), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return 0, false
	}
	fd := int(r)
	var buf [64]byte
	n, err := syscall.Read(fd, buf[:])
	syscall.Close(fd)
	if err != nil || n <= 0 {
		return 0, false
	}
	var v, scale float64
	digits := false
	for _, c := range buf[:n] {
		switch {
		case c >= '0' && c <= '9':
			v = v*10 + float64(c-'0')
			if scale > 0 {
				scale *= 10
			}
			digits = true
		case c == '.' && scale == 0:
			scale = 1
		default:
			if scale > 0 {
				v /= scale
			}
			return v, digits
		}
	}
	return 0, false
}

var loadavgPath = []byte("/proc/loadavg\x00")

// atFDCWD is AT_FDCWD (-100): a path relative to the working directory.
var atFDCWD = ^uintptr(99)
