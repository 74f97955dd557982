package nn

import (
	"math"
	"math/rand/v2"

	"github.com/convnet/convnet/tensor"
)

// Weight initialisers with torch.nn.init's semantics. fan_in of a conv
// weight [out, in, kh, kw] is in*kh*kw, fan_out is out*kh*kw.

func fans(s []int) (fanIn, fanOut int) {
	rf := 1
	for _, d := range s[2:] {
		rf *= d
	}
	if len(s) < 2 {
		return s[0], s[0]
	}
	return s[1] * rf, s[0] * rf
}

// KaimingNormal fills t from N(0, gain/sqrt(fan)), gain sqrt(2) (ReLU);
// fanOut selects mode="fan_out".
func KaimingNormal(t *tensor.Tensor, fanOut bool, rng *rand.Rand) {
	fi, fo := fans(t.Shape)
	f := fi
	if fanOut {
		f = fo
	}
	std := math.Sqrt(2 / float64(f))
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * std)
	}
}

// Normal fills t from N(mean, std).
func Normal(t *tensor.Tensor, mean, std float64, rng *rand.Rand) {
	for i := range t.Data {
		t.Data[i] = float32(mean + rng.NormFloat64()*std)
	}
}

// TruncNormal fills t from N(mean, std) truncated to [a, b] (absolute
// bounds, as torch.nn.init.trunc_normal_).
func TruncNormal(t *tensor.Tensor, mean, std, a, b float64, rng *rand.Rand) {
	for i := range t.Data {
		for {
			v := mean + rng.NormFloat64()*std
			if v >= a && v <= b {
				t.Data[i] = float32(v)
				break
			}
		}
	}
}

// UniformInit fills t from U(lo, hi).
func UniformInit(t *tensor.Tensor, lo, hi float64, rng *rand.Rand) {
	for i := range t.Data {
		t.Data[i] = float32(lo + (hi-lo)*rng.Float64())
	}
}

// XavierUniform fills t from U(-a, a), a = sqrt(6/(fan_in+fan_out)).
func XavierUniform(t *tensor.Tensor, rng *rand.Rand) {
	fi, fo := fans(t.Shape)
	a := math.Sqrt(6 / float64(fi+fo))
	UniformInit(t, -a, a, rng)
}

// Fill sets every element to v.
func Fill(t *tensor.Tensor, v float32) {
	for i := range t.Data {
		t.Data[i] = v
	}
}
