package models_test

import (
	"encoding/json"
	"math"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// goldenFile holds torchvision's logits for models filled by
// hashUniform, written by scripts/torchvision_golden.py.
const goldenFile = "testdata/torchvision_golden.json"

// goldenInputSeed is INPUT_SEED of scripts/torchvision_golden.py.
const goldenInputSeed = 7777

// hashUniform is the i-th value in [-1, 1) of stream seed, an integer
// hash of (i, seed): hash_uniform of scripts/torchvision_golden.py, bit
// for bit.
func hashUniform(i, seed int) float64 {
	const m32 = 0xFFFFFFFF
	h := (uint64(i) + uint64(seed)*1000003) & m32
	h = (h * 2654435761) & m32
	h ^= h >> 16
	h = (h * 2246822519) & m32
	h ^= h >> 13
	return float64(h)/(1<<31) - 1
}

// hashFill gives m's state_dict entries the values
// scripts/torchvision_golden.py gives torchvision's: convolution and
// linear weights uniform in +-2/sqrt(fan_in), BatchNorm near identity,
// small biases. m may be meta; its tensors get storage.
func hashFill(m nn.Module) {
	for j, e := range nn.StateDict(m) {
		d := make([]float32, e.Tensor.Numel())
		e.Tensor.Data = d
		if strings.HasSuffix(e.Key, "num_batches_tracked") {
			continue
		}
		// v = a*u + b with u the hash value.
		a, b := 1.0, 0.0
		switch {
		case strings.HasSuffix(e.Key, "running_var"):
			a, b = 0.25, 1
		case strings.HasSuffix(e.Key, "running_mean"), strings.HasSuffix(e.Key, "bias"):
			a = 0.1
		case len(e.Tensor.Shape) == 1:
			a, b = 0.1, 1
		case len(e.Tensor.Shape) > 1:
			a = 2 / math.Sqrt(float64(len(d)/e.Tensor.Shape[0]))
		}
		for i := range d {
			d[i] = float32(a*hashUniform(i, j) + b)
		}
	}
}

// TestTorchvisionGolden compares logits with torchvision's for the same
// weights and input: the forward wiring (shortcuts, concatenation order,
// pooling modes) which keys and shapes cannot show.
func TestTorchvisionGolden(t *testing.T) {
	b, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/torchvision_golden.py)", err)
	}
	var golden map[string]struct {
		Side   int
		Output []float32
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatalf("%s: %v", goldenFile, err)
	}
	var names []string
	for name := range golden {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := golden[name]
		t.Run(name, func(t *testing.T) {
			m, err := models.New(name, models.Meta())
			if err != nil {
				t.Fatal(err)
			}
			hashFill(m)
			nn.SetTraining(m, false)
			s := want.Side
			in := make([]float32, 3*s*s)
			for i := range in {
				in[i] = float32(hashUniform(i, goldenInputSeed))
			}
			xt, err := tensor.FromSlice(in, 1, 3, s, s)
			if err != nil {
				t.Fatal(err)
			}
			y, err := nn.Infer(m, autograd.Input(xt, nil, false))
			if err != nil {
				t.Fatal(err)
			}
			if len(y.T.Data) != len(want.Output) {
				t.Fatalf("%d outputs, torchvision has %d", len(y.T.Data), len(want.Output))
			}
			// float32 sums in another order: errors of a few ulps per
			// layer, relative to the logits' scale.
			var scale, worst float64
			at := 0
			for i, w := range want.Output {
				scale = max(scale, math.Abs(float64(w)))
				if d := math.Abs(float64(y.T.Data[i] - w)); d > worst {
					worst, at = d, i
				}
			}
			if worst > 1e-4*max(scale, 1) {
				t.Errorf("logit %d is %g, torchvision's %g (largest difference %.3g, logits up to %.3g)", at, y.T.Data[at], want.Output[at], worst, scale)
			}
		})
	}
}
