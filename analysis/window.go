package analysis

import (
	"fmt"
	"strings"

	"github.com/convnet/convnet/nn"
)

// win is a sliding window (convolution or pooling) per axis.
type win struct {
	kernel, stride, dilation, padding [2]int
	ceil                              bool
	// formula is false for adaptive pooling, whose window is derived
	// from the sizes rather than given.
	formula bool
}

// window returns the sliding window of a convolution or pooling layer.
func window(m nn.Module, in, out []int) (win, bool) {
	switch l := m.(type) {
	case *nn.Conv2d:
		return win{kernel: l.KernelSize, stride: l.Opts.Stride, dilation: ones(l.Opts.Dilation),
			padding: l.Opts.Padding, formula: true}, true
	case *nn.MaxPool2d:
		return win{kernel: l.Opts.Kernel, stride: l.Opts.Stride, dilation: ones(l.Opts.Dilation),
			padding: l.Opts.Padding, ceil: l.Opts.CeilMode, formula: true}, true
	case *nn.AvgPool2d:
		return win{kernel: l.Opts.Kernel, stride: l.Opts.Stride, dilation: [2]int{1, 1},
			padding: l.Opts.Padding, ceil: l.Opts.CeilMode, formula: true}, true
	case *nn.AdaptiveAvgPool2d:
		if len(in) != 4 || len(out) != 4 {
			return win{}, false
		}
		// PyTorch's adaptive windows start at floor(i*in/out) and end at
		// ceil((i+1)*in/out); with in divisible by out (the global pooling
		// of every model here) that is kernel = stride = in/out.
		w := win{dilation: [2]int{1, 1}}
		for i := 0; i < 2; i++ {
			s := max(in[2+i]/max(out[2+i], 1), 1)
			w.stride[i] = s
			w.kernel[i] = max(in[2+i]-(out[2+i]-1)*s, 1)
		}
		return w, true
	}
	return win{}, false
}

func ones(d [2]int) [2]int {
	for i := range d {
		if d[i] == 0 {
			d[i] = 1
		}
	}
	return d
}

// formula writes the lecture's output size (W-F+2P)/S+1 with the layer's
// numbers, F being the dilated kernel extent; with ceil_mode the division
// rounds up. Both axes are shown when they differ.
func formula(in, out []int, w win) string {
	if len(in) != 4 || len(out) != 4 {
		return ""
	}
	axis := func(i int) string {
		f := w.dilation[i]*(w.kernel[i]-1) + 1
		expr := fmt.Sprintf("(%d-%d+2*%d)/%d+1", in[2+i], f, w.padding[i], w.stride[i])
		if w.ceil {
			expr = fmt.Sprintf("ceil((%d-%d+2*%d)/%d)+1", in[2+i], f, w.padding[i], w.stride[i])
		}
		return fmt.Sprintf("%s = %d", expr, out[2+i])
	}
	h, wd := axis(0), axis(1)
	if h == wd {
		return h
	}
	return strings.Join([]string{"H " + h, "W " + wd}, "; ")
}
