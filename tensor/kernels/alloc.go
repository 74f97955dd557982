package kernels

import (
	"os"
	"strings"
)

// AllocLarge returns a zeroed slice of n floats for a long-lived buffer:
// packed weights, an inference plan's arena. On Linux, a buffer of 4 MiB
// or more is placed on 2 MiB boundaries and advised to the kernel for
// transparent huge pages (madvise(MADV_HUGEPAGE), which hosts set to
// "madvise" honour), so that the weights of a model, streamed through once
// per image at batch 1 (ResNet-50's packed and Winograd-transformed
// weights are over 100 MB), cost a TLB entry per 2 MiB instead of per 4
// KiB. Measured (2 Zen 3 vCPUs, `convnet bench`, median of 8 processes
// each way): resnet18 batch 1 24.5 -> 23.3 ms, mobilenet_v2 9.0 -> 8.2,
// resnet50 level (53.6 / 54.4, the fastest process 50.0 -> 45.0).
// CONVNET_HUGEPAGES=off turns it off; elsewhere it is make.
func AllocLarge(n int) []float32 {
	if n*4 < 2*hugePage || !hugePagesOn {
		return make([]float32, n)
	}
	return allocHuge(n)
}

// hugePage is the size of a transparent huge page on x86-64 and arm64
// Linux with 4 KiB base pages.
const hugePage = 2 << 20

var hugePagesOn = !strings.EqualFold(strings.TrimSpace(os.Getenv("CONVNET_HUGEPAGES")), "off")
