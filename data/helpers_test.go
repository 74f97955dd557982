package data

import (
	"math"

	"github.com/convnet/convnet/tensor"
)

// pixelDiff compares an Image with a reference HWC (or HW for one
// channel) array of uint8 values; it returns the largest difference in
// levels, or -1 if the shapes differ.
func pixelDiff(m *Image, ref *tensor.Tensor) int {
	want := []int{m.Height, m.Width, m.Channels}
	if m.Channels == 1 {
		want = want[:2]
	}
	if !tensor.SameShape(want, ref.Shape) {
		return -1
	}
	d := 0
	for i, v := range ref.Data {
		d = max(d, int(math.Abs(float64(m.Pix[i])-float64(v))))
	}
	return d
}

func tensorDiff(got, want *tensor.Tensor) float64 {
	if !tensor.SameShape(got.Shape, want.Shape) {
		return math.Inf(1)
	}
	d := 0.0
	for i, v := range want.Data {
		d = math.Max(d, math.Abs(float64(got.Data[i])-float64(v)))
	}
	return d
}
