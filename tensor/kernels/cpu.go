package kernels

import "golang.org/x/sys/cpu"

// CPU features the assembly kernels need, read once at start-up. The
// x/sys/cpu flags already include the OS's consent (XCR0) for the ymm and
// zmm register state.
var (
	// cpuAVX2FMA: 256-bit AVX, AVX2 and FMA3 (Haswell, Zen and later).
	cpuAVX2FMA = cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasFMA
	// cpuAVX512: AVX-512 Foundation on top of the above (Skylake-SP, Ice
	// Lake, Zen 4, Zen 5). The kernels use AVX512F instructions only.
	cpuAVX512 = cpuAVX2FMA && cpu.X86.HasAVX512F
)
